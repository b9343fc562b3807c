// Package llmtest runs fake model vendors for tests: an OpenAI-compatible
// server and an Anthropic one, on loopback, speaking each vendor's real
// streaming wire format and error JSON, so that the providers (and the
// conversation engine above them) are tested through the real SDKs over
// real HTTP, with nothing mocked below it.
//
// Each server answers every request with a Reply: the next one queued with
// Enqueue, else what the function given to Handle decides from the
// request, else the default (SetDefault; "Hello!" to begin with). A Reply
// scripts text split into chunks, tool calls with their arguments in
// fragments, usage, delays, and failures: an error status before the
// stream, or a Fault in it (a cut connection, a hang, a malformed event,
// an error event). Every request is recorded, decoded, for assertions.
//
//	srv := llmtest.NewOpenAIServer(t)
//	srv.Enqueue(llmtest.Fail(500), llmtest.Text("Hi there"))
//	p := openai.New(openai.Config{APIKey: "sk-test", BaseURL: srv.URL()})
//	… stream a reply …
//	if got := srv.LastRequest().Messages[0].Content; got != "You are terse." { … }
//
// The servers are safe for concurrent use and stop when the test ends.
package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// Reply scripts one response of a fake server.
type Reply struct {
	// Text is the reply's text, streamed in Chunks pieces (default: one
	// per word, spaces kept) with Delay before each piece after the first.
	Text   string
	Chunks int
	Delay  time.Duration

	// ToolCalls are the calls the model makes, after the text. An empty ID
	// is generated in the vendor's style (call_…, toolu_…); empty
	// Arguments are sent as {}. Each call's arguments are streamed in
	// ArgChunks fragments (default 3).
	ToolCalls []hyponema.ToolCall
	ArgChunks int
	// Interleave sends the argument fragments of parallel calls in turn
	// (call 0, call 1, call 0 …) rather than one call after the other, as
	// some OpenAI-compatible servers do. Anthropic never interleaves, so
	// its server ignores this.
	Interleave bool

	// Usage is the usage reported at the end (default: estimated from
	// the request and the reply with hyponema.EstimateTokens). OpenAI's
	// server reports it only when the request asks (stream_options).
	Usage *hyponema.Usage
	// FinishReason is the vendor's own word: for OpenAI stop, length,
	// tool_calls …; for Anthropic end_turn, max_tokens, tool_use …
	// (default: the one that fits the reply).
	FinishReason string

	// Status, when not 0, makes the server answer this HTTP status with
	// the vendor's error JSON (whose message is ErrorMessage, or a default)
	// instead of a stream.
	Status       int
	ErrorMessage string
	// Header is added to the response, whatever its status: e.g.
	// Retry-After on a 429.
	Header http.Header

	// Fault makes the stream go wrong; the zero Fault is none.
	Fault Fault
}

// Text returns a Reply with text t.
func Text(t string) Reply { return Reply{Text: t} }

// Fail returns a Reply that answers status with the vendor's error JSON.
func Fail(status int) Reply { return Reply{Status: status} }

// RateLimited returns a 429 Reply with a Retry-After header of retryAfter
// (seconds, or an HTTP date).
func RateLimited(retryAfter string) Reply {
	return Reply{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {retryAfter}}}
}

// Fault is a way for a stream to go wrong. Events are counted without the
// stream's preamble (OpenAI's role chunk, Anthropic's message_start and
// block starts): a text piece or a tool-call fragment is one event.
type Fault struct {
	kind   faultKind
	after  int
	status int
}

type faultKind int

const (
	noFault faultKind = iota
	faultCut
	faultHang
	faultHangBeforeHeaders
	faultMalformed
	faultErrorEvent
)

// CutAfter closes the connection abruptly after n events, without ending
// the HTTP response: the client sees an unexpected EOF.
func CutAfter(n int) Fault { return Fault{kind: faultCut, after: n} }

// HangAfter stops after n events (0: right after the headers and the
// preamble) and sends nothing more until the client goes away.
func HangAfter(n int) Fault { return Fault{kind: faultHang, after: n} }

// HangBeforeHeaders sends nothing at all, not even the status line, until
// the client goes away.
func HangBeforeHeaders() Fault { return Fault{kind: faultHangBeforeHeaders} }

// MalformedAfter sends, after n events, an event whose data is not JSON.
func MalformedAfter(n int) Fault { return Fault{kind: faultMalformed, after: n} }

// ErrorEventAfter sends, after n events, the vendor's in-stream error event
// with the error type that status stands for (500: a server error, 529:
// Anthropic's overloaded_error, 429: a rate limit …), then ends the stream.
func ErrorEventAfter(n, status int) Fault {
	return Fault{kind: faultErrorEvent, after: n, status: status}
}

// core is what both fake servers share: the reply queue, the recorded
// requests, and the HTTP server. R is the vendor's decoded request.
type core[R any] struct {
	t    testing.TB
	srv  *httptest.Server
	done chan struct{} // closed when the test ends, to release hanging handlers

	mu     sync.Mutex
	queue  []Reply
	handle func(*R) Reply
	def    Reply
	reqs   []*R
	key    string

	active atomic.Int64
	seq    atomic.Int64
}

func (c *core[R]) start(t testing.TB, h http.HandlerFunc) {
	c.t = t
	c.done = make(chan struct{})
	c.def = Text("Hello!")
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.active.Add(1)
		defer c.active.Add(-1)
		h(w, r)
	}))
	t.Cleanup(func() {
		close(c.done)
		c.srv.Close()
	})
}

// Enqueue adds replies for the next requests, in order; they take
// precedence over Handle and the default.
func (c *core[R]) Enqueue(replies ...Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue = append(c.queue, replies...)
}

// Handle sets the function that decides the reply to a request when the
// queue is empty (nil: the default reply). It may be called concurrently.
func (c *core[R]) Handle(f func(req *R) Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handle = f
}

// SetDefault sets the reply given when the queue is empty and no Handle
// function is set.
func (c *core[R]) SetDefault(r Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.def = r
}

// RequireAPIKey makes the server answer 401, in the vendor's error JSON,
// to any request that does not carry key the way the vendor expects.
func (c *core[R]) RequireAPIKey(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = key
}

// Requests returns the requests received so far, oldest first.
func (c *core[R]) Requests() []*R {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*R(nil), c.reqs...)
}

// LastRequest returns the newest request received, failing the test if
// there was none.
func (c *core[R]) LastRequest() *R {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) == 0 {
		c.t.Fatalf("llmtest: the fake server received no request")
	}
	return c.reqs[len(c.reqs)-1]
}

// Active returns how many requests the server is handling now. A reply
// that hangs stays active until its client goes away, so tests use it to
// check that a client gave up on a request and closed its connection.
func (c *core[R]) Active() int { return int(c.active.Load()) }

// record stores req and picks its reply.
func (c *core[R]) record(req *R) Reply {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	if len(c.queue) > 0 {
		r := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		return r
	}
	h, def := c.handle, c.def
	c.mu.Unlock()
	if h != nil {
		return h(req)
	}
	return def
}

func (c *core[R]) requiredKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key
}

// nextID returns a number unique to the server, for IDs.
func (c *core[R]) nextID() int64 { return c.seq.Add(1) }

// wait sleeps for d, or until the client or the test goes away; false if
// they did.
func (c *core[R]) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-c.done:
	}
	return false
}

// hang blocks until the client or the test goes away.
func (c *core[R]) hang(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-c.done:
	}
}

// sse writes server-sent events and flushes each, noting when the client
// has gone.
type sse struct {
	w   http.ResponseWriter
	f   http.Flusher
	err error
}

func newSSE(w http.ResponseWriter, extra http.Header) *sse {
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	s := &sse{w: w, f: f}
	s.flush()
	return s
}

// event writes one event; name "" writes a data-only event (OpenAI's
// style). data is JSON-encoded unless it is a string (sent as it is).
func (s *sse) event(name string, data any) {
	if s.err != nil {
		return
	}
	var b []byte
	switch d := data.(type) {
	case string:
		b = []byte(d)
	default:
		var err error
		if b, err = json.Marshal(d); err != nil {
			panic(fmt.Sprintf("llmtest: encoding an event: %v", err))
		}
	}
	var sb strings.Builder
	if name != "" {
		sb.WriteString("event: ")
		sb.WriteString(name)
		sb.WriteString("\n")
	}
	sb.WriteString("data: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	if _, err := s.w.Write([]byte(sb.String())); err != nil {
		s.err = err
		return
	}
	s.flush()
}

func (s *sse) flush() {
	if s.f != nil {
		s.f.Flush()
	}
}

// cut ends the connection without ending the response. net/http treats
// this panic value as a deliberate abort and logs nothing.
func cut() { panic(http.ErrAbortHandler) }

// writeJSON answers status with body as JSON.
func writeJSON(w http.ResponseWriter, status int, extra http.Header, body any) {
	for k, v := range extra {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// split cuts s into n pieces of about the same number of runes (fewer if s
// is shorter); n <= 0 cuts it into words, each with the spaces after it.
func split(s string, n int) []string {
	if s == "" {
		return nil
	}
	if n <= 0 {
		var out []string
		start := 0
		for i := 1; i < len(s); i++ {
			if s[i] != ' ' && s[i-1] == ' ' {
				out = append(out, s[start:i])
				start = i
			}
		}
		return append(out, s[start:])
	}
	runes := utf8.RuneCountInString(s)
	n = min(n, runes)
	out := make([]string, 0, n)
	for i := range n {
		// piece i holds runes [i*runes/n, (i+1)*runes/n)
		size := (i+1)*runes/n - i*runes/n
		end := 0
		for range size {
			_, w := utf8.DecodeRuneInString(s[end:])
			end += w
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

// estimateUsage is the default usage: the request's texts in, the reply's
// text and arguments out.
func estimateUsage(r Reply, inputTexts []string) hyponema.Usage {
	var u hyponema.Usage
	for _, t := range inputTexts {
		u.InputTokens += hyponema.EstimateTokens(t)
	}
	u.OutputTokens = hyponema.EstimateTokens(r.Text)
	for _, tc := range r.ToolCalls {
		u.OutputTokens += hyponema.EstimateTokens(tc.Name) + hyponema.EstimateTokens(tc.Arguments)
	}
	return u
}

// errorMessage is the message of an error reply.
func errorMessage(r Reply, status int) string {
	if r.ErrorMessage != "" {
		return r.ErrorMessage
	}
	if status == 529 {
		return "Overloaded" // Anthropic's word; net/http does not know 529
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// textOf reads a text field that a vendor sends either as a string or as
// an array of blocks with a text field (OpenAI content parts, Anthropic
// text blocks), joining the texts.
func textOf(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var sb strings.Builder
		for _, p := range parts {
			sb.WriteString(p.Text)
		}
		return sb.String()
	}
	return string(raw)
}
