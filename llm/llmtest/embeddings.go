package llmtest

import (
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode"
)

// EmbeddingsServer speaks the OpenAI embeddings API (POST /embeddings, or
// /v1/embeddings) with a simple deterministic model: each word, lower-cased
// and with a plural s dropped, is hashed to one of Dims dimensions, and the
// counts are normalized. Texts that share words are close; it is no
// language model, but it is a real HTTP server with the real API's shape.
type EmbeddingsServer struct {
	Dims int

	srv     *httptest.Server
	mu      sync.Mutex
	batches []int
}

// NewEmbeddingsServer starts one with dims dimensions, closed when the test
// ends.
func NewEmbeddingsServer(t testing.TB, dims int) *EmbeddingsServer {
	s := &EmbeddingsServer{Dims: dims}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the API root to configure as the base URL.
func (s *EmbeddingsServer) URL() string { return s.srv.URL + "/v1" }

// Batches returns how many texts each request carried.
func (s *EmbeddingsServer) Batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.batches...)
}

func (s *EmbeddingsServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/embeddings") {
		http.Error(w, `{"error":{"message":"unknown URL","type":"invalid_request_error"}}`, http.StatusNotFound)
		return
	}
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, `{"error":{"message":"bad JSON","type":"invalid_request_error"}}`, http.StatusBadRequest)
		return
	}
	var inputs []string
	if err := json.Unmarshal(req.Input, &inputs); err != nil {
		var one string
		if err := json.Unmarshal(req.Input, &one); err != nil {
			http.Error(w, `{"error":{"message":"input must be a string or strings","type":"invalid_request_error"}}`, http.StatusBadRequest)
			return
		}
		inputs = []string{one}
	}
	s.mu.Lock()
	s.batches = append(s.batches, len(inputs))
	s.mu.Unlock()
	type item struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float64 `json:"embedding"`
	}
	data := make([]item, len(inputs))
	tokens := 0
	for i, in := range inputs {
		data[i] = item{Object: "embedding", Index: i, Embedding: Embed(in, s.Dims)}
		tokens += len(strings.Fields(in))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// Embed is the server's model, for tests that need a query's vector: the
// words of text, lower-cased, without common English function words and
// with a crude suffix stemming (shipping, shipped, ships → ship), each
// hashed to one of dims dimensions, counted (1 + ln count) and normalized. Texts that
// share meaningful words are close.
func Embed(text string, dims int) []float64 {
	v := make([]float64, dims)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) < 3 || functionWords[w] {
			continue
		}
		w = stem(w)
		h := fnv.New32a()
		h.Write([]byte(w))
		v[int(h.Sum32()%uint32(dims))]++
	}
	var n float64
	for i, x := range v {
		if x > 0 {
			v[i] = 1 + math.Log(x) // a word said often counts, but less than often
		}
		n += v[i] * v[i]
	}
	if n > 0 {
		n = math.Sqrt(n)
		for i := range v {
			v[i] /= n
		}
	}
	return v
}

// functionWords say little of what a text is about.
var functionWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`the and for are but not you your yours all any can had has have her was one our out
		his how its who what when where which why will with this that these those them they their there then than
		from into onto over under about also been being does did doing done each just more most much must only other
		same should some such very would could may might shall here off own too yet get got let use via per
		i'm you're it's don't isn't aren't can't won't`) {
		m[w] = true
	}
	return m
}()

// stem drops a common English suffix from a word of more than four
// letters, and a doubled final consonant it leaves (shipping → ship).
func stem(w string) string {
	for _, suf := range []string{"ing", "ed", "es", "s"} {
		if r, ok := strings.CutSuffix(w, suf); ok && len(r) >= 3 && len(w) > 4 {
			if n := len(r); n >= 2 && r[n-1] == r[n-2] && !strings.ContainsRune("aeiousl", rune(r[n-1])) {
				r = r[:n-1]
			}
			return r
		}
	}
	return w
}
