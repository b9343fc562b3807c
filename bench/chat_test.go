// Package bench holds the end-to-end benchmarks of BENCHMARKS.md: a chat
// turn streamed from a fake OpenAI server directly and through Hyponema,
// side by side, and the memory that idle event streams hold.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
	"github.com/hyponema/hyponema/conversation"
	"github.com/hyponema/hyponema/httpapi"
	"github.com/hyponema/hyponema/internal/enginetest"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// turnsPerSession is how long the benchmark's conversations are.
const turnsPerSession = 10

// reply is the fake model's answer: 20 chunks, 1 ms apart.
var reply = llmtest.Reply{Text: strings.TrimSpace(strings.Repeat("token ", 20)), Chunks: 20, Delay: time.Millisecond}

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0}}

// timing is one turn as a client saw it.
type timing struct{ first, total time.Duration }

// readUntil reads an SSE body line by line, noting when firstLine(line)
// first holds, until lastLine(line) does.
func readUntil(body io.Reader, start time.Time, firstLine, lastLine func(string) bool) (timing, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var t timing
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: {\"detail\"") {
			return t, fmt.Errorf("error event: %s", line)
		}
		if t.first == 0 && firstLine(line) {
			t.first = time.Since(start)
		}
		if lastLine(line) {
			t.total = time.Since(start)
			return t, nil
		}
	}
	return t, fmt.Errorf("stream ended early: %v", sc.Err())
}

// direct streams one completion from the fake server, as a client of the
// vendor would.
func direct(url string) (timing, error) {
	body := `{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	req, _ := http.NewRequest("POST", url+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test")
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return timing{}, err
	}
	defer res.Body.Close()
	return readUntil(res.Body, start,
		func(l string) bool {
			return strings.HasPrefix(l, "data: {") && strings.Contains(l, `"content":"`) && !strings.Contains(l, `"content":""`)
		},
		func(l string) bool { return l == "data: [DONE]" })
}

// through streams one turn through Hyponema.
func through(url, key, session string) (timing, error) {
	req, _ := http.NewRequest("POST", url+"/sessions/"+session+"/messages", strings.NewReader(`{"text":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+key)
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return timing{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		return timing{}, fmt.Errorf("status %d: %s", res.StatusCode, b)
	}
	var failed bool
	t, err := readUntil(res.Body, start,
		func(l string) bool { return l == "event: message.delta" },
		func(l string) bool {
			if failed {
				return true // the error's data line
			}
			failed = l == "event: error"
			return l == "event: done"
		})
	if failed {
		return t, fmt.Errorf("the turn failed")
	}
	return t, err
}

// server is Hyponema over db with the fake server as its "openai".
type server struct {
	url, key string
	agent    string
}

func newServer(b testing.TB, db *store.DB, fakeURL string) *server {
	models := llm.NewRouter()
	models.Register("openai", llm.WithRetry(openai.New(openai.Config{APIKey: "sk-test", BaseURL: fakeURL}), llm.RetryPolicy{}))
	e := enginetest.Start(b, db, models, func(e *conversation.Engine) {
		e.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	tokenKey, err := clienttoken.DeriveKey("bench", []byte(strings.Repeat("s", 32)), "client tokens")
	if err != nil {
		b.Fatal(err)
	}
	s := httpapi.NewServer(nil)
	if s.Tokens, err = clienttoken.NewKeyring(tokenKey); err != nil {
		b.Fatal(err)
	}
	s.Workspaces, s.APIKeys, s.Agents, s.Personas = store.NewWorkspaceService(db), store.NewAPIKeyService(db), e.Agents, e.Personas
	s.Idempotency, s.Sessions, s.Messages, s.Engine = store.NewIdempotencyService(db), e.Sessions, e.Messages, e
	hs := httptest.NewServer(s.Handler())
	b.Cleanup(hs.Close) // before the engine closes
	ctx := context.Background()
	w := &hyponema.Workspace{Name: "bench"}
	if err := s.Workspaces.CreateWorkspace(ctx, w); err != nil {
		b.Fatal(err)
	}
	key, err := s.APIKeys.CreateAPIKey(ctx, &hyponema.APIKey{WorkspaceID: w.ID, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	a := &hyponema.Agent{WorkspaceID: w.ID, AgentConfig: hyponema.NewAgentConfig()}
	a.Name, a.Model = "bench", "openai/gpt-test"
	if err := e.Agents.CreateAgent(ctx, a); err != nil {
		b.Fatal(err)
	}
	v, err := e.Agents.CreateAgentVersion(ctx, w.ID, a.ID, "")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.Agents.PublishAgentVersion(ctx, w.ID, a.ID, v.ID); err != nil {
		b.Fatal(err)
	}
	return &server{url: hs.URL, key: key, agent: a.ID}
}

func (s *server) newSession() (string, error) {
	req, _ := http.NewRequest("POST", s.url+"/sessions", strings.NewReader(`{"agent_id":"`+s.agent+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.key)
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	i := strings.Index(string(b), `"id":"`)
	if res.StatusCode != 201 || i < 0 {
		return "", fmt.Errorf("create session: %d %s", res.StatusCode, b)
	}
	return string(b[i+6 : i+6+len("ses_")+26]), nil
}

// run makes b.N turns with c workers and reports percentiles and rate.
func run(b *testing.B, c int, turn func(worker int) (timing, error)) {
	var mu sync.Mutex
	var times []timing
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t, err := turn(w)
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				times = append(times, t)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(times) == 0 {
		return
	}
	pct := func(get func(timing) time.Duration, p float64) float64 {
		v := make([]time.Duration, len(times))
		for i, t := range times {
			v[i] = get(t)
		}
		slices.Sort(v)
		return float64(v[min(len(v)-1, int(p*float64(len(v))))].Microseconds()) / 1000
	}
	first := func(t timing) time.Duration { return t.first }
	total := func(t timing) time.Duration { return t.total }
	b.ReportMetric(pct(first, 0.50), "first-p50-ms")
	b.ReportMetric(pct(first, 0.99), "first-p99-ms")
	b.ReportMetric(pct(total, 0.50), "total-p50-ms")
	b.ReportMetric(pct(total, 0.99), "total-p99-ms")
	b.ReportMetric(float64(len(times))/elapsed.Seconds(), "turns/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkChat streams turns from the fake upstream directly and through
// Hyponema (storage included), at concurrency 1, 16 and 200, on SQLite and
// PostgreSQL:
//
//	HYPONEMA_TEST_POSTGRES_URL=… go test ./bench -run '^$' -bench BenchmarkChat -benchtime 2000x
func BenchmarkChat(b *testing.B) {
	dbs := map[string]func(testing.TB) *store.DB{"sqlite": storetest.MustOpenSQLite, "postgres": storetest.MustOpenPostgres}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			fake := llmtest.NewOpenAIServer(b)
			fake.SetDefault(reply)
			srv := newServer(b, dbs[name](b), fake.URL())
			for _, c := range []int{1, 16, 200} {
				b.Run(fmt.Sprintf("direct/c%d", c), func(b *testing.B) {
					run(b, c, func(int) (timing, error) { return direct(fake.URL()) })
				})
				b.Run(fmt.Sprintf("hyponema/c%d", c), func(b *testing.B) {
					// Each worker talks in sessions of turnsPerSession turns,
					// like a real chat; a new session's creation is not timed.
					type worker struct {
						session string
						turns   int
					}
					workers := make([]worker, c)
					run(b, c, func(w int) (timing, error) {
						if workers[w].turns%turnsPerSession == 0 {
							var err error
							if workers[w].session, err = srv.newSession(); err != nil {
								return timing{}, err
							}
						}
						workers[w].turns++
						return through(srv.url, srv.key, workers[w].session)
					})
				})
			}
		})
	}
}
