package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// sseEvent is one parsed server-sent event.
type sseEvent struct {
	ID    int64
	Event string
	Data  map[string]any
}

// readEvents parses a stream until stop says so, the stream ends, or max
// events; it returns what it read and any comments (pings).
func readEvents(t testing.TB, r io.Reader, stop func(sseEvent) bool) (evs []sseEvent, comments []string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	var cur sseEvent
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Event == "" {
				continue
			}
			if err := json.Unmarshal([]byte(data.String()), &cur.Data); err != nil {
				t.Fatalf("event %s data is not JSON: %q", cur.Event, data.String())
			}
			evs = append(evs, cur)
			if stop != nil && stop(cur) {
				return evs, comments
			}
			cur, data = sseEvent{}, strings.Builder{}
		case strings.HasPrefix(line, ":"):
			comments = append(comments, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "id: "):
			cur.ID, _ = strconv.ParseInt(line[4:], 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.Event = line[7:]
		case strings.HasPrefix(line, "data: "):
			data.WriteString(line[6:])
		default:
			t.Fatalf("unexpected SSE line %q", line)
		}
	}
	return evs, comments
}

func eventNames(evs []sseEvent) string {
	var out []string
	for i, ev := range evs {
		if ev.Event == "message.delta" && i > 0 && evs[i-1].Event == "message.delta" {
			continue
		}
		out = append(out, ev.Event)
	}
	return strings.Join(out, " ")
}

// stream opens an SSE request and returns the live response.
func (ts *testServer) stream(ctx context.Context, method, path, key, body string, headers ...string) *http.Response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, ts.url+path, rd)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	return res
}

// chatAgent creates and publishes an agent on the model; it returns its ID.
func (ts *testServer) chatAgent(tn tenant, model, extra string) string {
	ts.t.Helper()
	a := ts.must(201, "POST", "/workspaces/"+tn.ws+"/agents", tn.key, `{"name":"chat","model":"`+model+`"`+extra+`}`).str(ts.t, "id")
	v := ts.must(201, "POST", "/workspaces/"+tn.ws+"/agents/"+a+"/versions", tn.key, `{}`).str(ts.t, "id")
	ts.must(200, "POST", "/workspaces/"+tn.ws+"/agents/"+a+"/publish", tn.key, `{"version_id":"`+v+`"}`)
	return a
}

// withFakeOpenAI registers a fake OpenAI server as the "openai" provider.
func (ts *testServer) withFakeOpenAI() *llmtest.OpenAIServer {
	srv := llmtest.NewOpenAIServer(ts.t)
	ts.models.Register("openai", llm.WithRetry(openai.New(openai.Config{APIKey: "sk-test", BaseURL: srv.URL()}), llm.RetryPolicy{BaseDelay: time.Millisecond}))
	return srv
}

func TestSessionsOverHTTP(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		agent := ts.chatAgent(a, "local/hyponema-demo", `,"first_message":"Hi {{name}}!","instructions":"Help {{name}}."`)
		vars := map[string]string{"agent": agent}
		runScenarios(t, ts, vars, []scenario{
			{name: "missing variable", method: "POST", path: "/sessions", key: a.key, body: `{"agent_id":"{agent}"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","variables","name"]`}},
			{name: "unknown agent", method: "POST", path: "/sessions", key: a.key, body: `{"agent_id":"agt_01jc2x5w3n0000000000000000"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","agent_id"]`}},
			{name: "bad channel", method: "POST", path: "/sessions", key: a.key, body: `{"agent_id":"{agent}","channel":"fax"}`, status: 422, kind: "validation_error"},
			{name: "create", method: "POST", path: "/sessions", key: a.key,
				body:   `{"agent_id":"{agent}","user":{"external_id":"cust-42","name":"Ada"},"variables":{"name":"Ada"},"metadata":{"order":"1001"}}`,
				status: 201, contains: []string{`"id":"ses_`, `"status":"active"`, `"channel":"chat"`, `"user_id":"usr_`, `"order":"1001"`}, save: map[string]string{"ses": "id", "user": "user_id"}},
			{name: "same user again", method: "POST", path: "/sessions", key: a.key, body: `{"agent_id":"{agent}","user":{"external_id":"cust-42"},"variables":{"name":"Ada"}}`,
				status: 201, contains: []string{`"user_id":"{user}"`}, save: map[string]string{"ses2": "id"}},
			{name: "get", method: "GET", path: "/sessions/{ses}", key: a.key, status: 200, contains: []string{`"agent_version_id":"agv_`}},
			{name: "list by user", method: "GET", path: "/sessions?user_id={user}", key: a.key, status: 200, contains: []string{`"id":"{ses}"`, `"id":"{ses2}"`}},
			{name: "list by status", method: "GET", path: "/sessions?status=ended", key: a.key, status: 200, absent: []string{`{ses}`}},
			{name: "first message in transcript", method: "GET", path: "/sessions/{ses}/messages", key: a.key, status: 200, contains: []string{`"text":"Hi Ada!"`, `"role":"assistant"`}},
			{name: "send, finished reply", method: "POST", path: "/sessions/{ses}/messages", key: a.key, body: `{"text":"Where is my order?"}`, status: 200,
				contains: []string{`"role":"assistant"`, `"status":"complete"`, `not a language model`, `Where is my order?`, `"latency_ms":`}},
			{name: "empty text", method: "POST", path: "/sessions/{ses}/messages", key: a.key, body: `{"text":""}`, status: 422, kind: "validation_error"},
			{name: "transcript oldest first", method: "GET", path: "/sessions/{ses}/messages", key: a.key, status: 200, contains: []string{`"Hi Ada!"`}},
			{name: "bad Last-Event-ID", method: "GET", path: "/sessions/{ses}/events?last_event_id=abc", key: a.key, status: 422, kind: "validation_error"},
			{name: "end", method: "POST", path: "/sessions/{ses}/end", key: a.key, body: `{}`, status: 200, contains: []string{`"status":"ended"`, `"ended_reason":"api"`}},
			{name: "end again", method: "POST", path: "/sessions/{ses}/end", key: a.key, status: 200, contains: []string{`"ended_reason":"api"`}},
			{name: "send to ended", method: "POST", path: "/sessions/{ses}/messages", key: a.key, body: `{"text":"hello?"}`, status: 409, kind: "session_ended"},
			{name: "missing session", method: "GET", path: "/sessions/ses_01jc2x5w3n0000000000000000", key: a.key, status: 404, kind: "not_found"},
		})
		msgs := ts.must(200, "GET", "/sessions/"+vars["ses"]+"/messages", a.key, "").json(t)["data"].([]any)
		var roles []string
		for _, m := range msgs {
			roles = append(roles, m.(map[string]any)["role"].(string))
		}
		if strings.Join(roles, ",") != "assistant,user,assistant" {
			t.Fatalf("transcript roles %v", roles)
		}
	})
}

// TestStreamedTurn checks the SSE stream of a turn: headers, event names,
// increasing ids, and that deltas add up to the stored reply.
func TestStreamedTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		fake := ts.withFakeOpenAI()
		agent := ts.chatAgent(a, "openai/gpt-test", "")
		ses := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "id")

		fake.Enqueue(llmtest.Reply{Text: "Your order ships today.", Chunks: 5})
		res := ts.stream(context.Background(), "POST", "/sessions/"+ses+"/messages", a.key, `{"text":"Where is it?"}`)
		defer res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("X-Accel-Buffering") != "no" {
			t.Fatalf("status %d headers %v", res.StatusCode, res.Header)
		}
		evs, _ := readEvents(t, res.Body, nil) // the server ends the stream after done
		if got := eventNames(evs); got != "message.created message.delta message.completed done" {
			t.Fatalf("events %s", got)
		}
		var text strings.Builder
		for i, ev := range evs {
			if i > 0 && ev.ID != evs[i-1].ID+1 {
				t.Fatalf("ids not consecutive: %d after %d", ev.ID, evs[i-1].ID)
			}
			if ev.Event == "message.delta" {
				text.WriteString(ev.Data["delta"].(string))
			}
		}
		done := evs[len(evs)-2].Data
		if done["text"] != text.String() || done["status"] != "complete" || done["usage"] == nil {
			t.Fatalf("completed %v, deltas %q", done, text.String())
		}

		// Upstream failure mid-stream: an error event ends the stream.
		fake.Enqueue(llmtest.Reply{Text: "a b c d", Chunks: 4, Fault: llmtest.CutAfter(2)})
		res2 := ts.stream(context.Background(), "POST", "/sessions/"+ses+"/messages", a.key, `{"text":"again"}`)
		defer res2.Body.Close()
		evs, _ = readEvents(t, res2.Body, nil)
		if last := evs[len(evs)-1]; last.Event != "error" || last.Data["error_kind"] != "provider_error" {
			t.Fatalf("events %s, last %v", eventNames(evs), last.Data)
		}

		// Without the stream header the answer is the finished message,
		// or the error in the API's shape.
		fake.Enqueue(llmtest.Fail(400))
		checkError(t, ts.do("POST", "/sessions/"+ses+"/messages", a.key, `{"text":"bad"}`), 502, "provider_error")
	})
}

// TestDisconnectAndResume cuts a client off mid-reply; the reply still
// completes and is stored, and the client resumes with Last-Event-ID both
// mid-turn and afterwards, missing nothing and getting nothing twice.
func TestDisconnectAndResume(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		fake := ts.withFakeOpenAI()
		agent := ts.chatAgent(a, "openai/gpt-test", "")
		ses := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "id")
		full := strings.TrimSpace(strings.Repeat("token ", 30))
		fake.Enqueue(llmtest.Reply{Text: full, Chunks: 30, Delay: 15 * time.Millisecond})

		ctx, cancel := context.WithCancel(context.Background())
		res := ts.stream(ctx, "POST", "/sessions/"+ses+"/messages", a.key, `{"text":"talk"}`)
		first, _ := readEvents(t, res.Body, func(ev sseEvent) bool { return ev.Event == "message.delta" && ev.Data["delta"] != "" && ev.ID >= 5 })
		cancel() // the client drops mid-reply
		res.Body.Close()
		lastID := first[len(first)-1].ID

		// Resume mid-turn.
		res2 := ts.stream(context.Background(), "GET", "/sessions/"+ses+"/events", a.key, "", "Last-Event-ID", strconv.FormatInt(lastID, 10))
		rest, _ := readEvents(t, res2.Body, func(ev sseEvent) bool { return ev.Event == "done" })
		res2.Body.Close()
		all := append(first, rest...)
		var text strings.Builder
		for i, ev := range all {
			if i > 0 && ev.ID != all[i-1].ID+1 {
				t.Fatalf("gap or repeat: %d after %d", ev.ID, all[i-1].ID)
			}
			if ev.Event == "message.delta" {
				text.WriteString(ev.Data["delta"].(string))
			}
		}
		if text.String() != full {
			t.Fatalf("resumed text %q, want %q", text.String(), full)
		}
		// Resume afterwards, from the start: the whole session replays.
		res3 := ts.stream(context.Background(), "GET", "/sessions/"+ses+"/events?last_event_id=0", a.key, "")
		replay, _ := readEvents(t, res3.Body, func(ev sseEvent) bool { return ev.Event == "done" })
		res3.Body.Close()
		if eventNames(replay) != "session.created message.created message.delta message.completed done" || replay[0].ID != 1 {
			t.Fatalf("replay %s", eventNames(replay))
		}
		msgs := ts.must(200, "GET", "/sessions/"+ses+"/messages", a.key, "").json(t)["data"].([]any)
		if last := msgs[len(msgs)-1].(map[string]any); last["text"] != full || last["status"] != "complete" {
			t.Fatalf("stored reply %v", last)
		}
	})
}

func TestEventStreamPingsAndEnds(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	ts.srv.PingInterval = 30 * time.Millisecond
	a := ts.newTenant("A")
	agent := ts.chatAgent(a, "local/hyponema-demo", "")
	ses := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "id")
	res := ts.stream(context.Background(), "GET", "/sessions/"+ses+"/events", a.key, "")
	defer res.Body.Close()
	go func() {
		time.Sleep(200 * time.Millisecond)
		ts.do("POST", "/sessions/"+ses+"/end", a.key, "")
	}()
	evs, comments := readEvents(t, res.Body, nil) // ends when the session does
	if eventNames(evs) != "session.created session.ended" {
		t.Fatalf("events %s", eventNames(evs))
	}
	if len(comments) < 2 || comments[0] != "ping" {
		t.Fatalf("pings %v", comments)
	}
}

func TestConcurrentSendsConflict(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	fake := ts.withFakeOpenAI()
	fake.SetDefault(llmtest.Reply{Text: "slow one", Chunks: 2, Delay: 100 * time.Millisecond})
	agent := ts.chatAgent(a, "openai/gpt-test", "")
	ses := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "id")
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = ts.do("POST", "/sessions/"+ses+"/messages", a.key, fmt.Sprintf(`{"text":"m%d"}`, i)).status
		})
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case 200:
			ok++
		case 409:
		default:
			t.Fatalf("status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("statuses %v: want exactly one turn", statuses)
	}
}

// TestIdempotentStreamedSend retries a streamed send with its
// Idempotency-Key: a stream that reached the client whole is replayed as
// it was; one that was cut answers 409 with where to look; neither sends
// the message twice.
func TestIdempotentStreamedSend(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	fake := ts.withFakeOpenAI()
	agent := ts.chatAgent(a, "openai/gpt-test", "")
	ses := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "id")
	path := "/sessions/" + ses + "/messages"

	fake.Enqueue(llmtest.Reply{Text: "only once", Chunks: 2})
	res := ts.stream(context.Background(), "POST", path, a.key, `{"text":"hello"}`, "Idempotency-Key", "send-1")
	first, _ := io.ReadAll(res.Body)
	res.Body.Close()
	res = ts.stream(context.Background(), "POST", path, a.key, `{"text":"hello"}`, "Idempotency-Key", "send-1")
	again, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.Header.Get("Idempotent-Replayed") != "true" || string(first) != string(again) || !strings.Contains(string(again), "event: done") {
		t.Fatalf("replay %v:\n%s\nfirst:\n%s", res.Header, again, first)
	}

	// Cut the stream mid-reply, then retry.
	fake.Enqueue(llmtest.Reply{Text: strings.Repeat("slow ", 20), Chunks: 20, Delay: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	res = ts.stream(ctx, "POST", path, a.key, `{"text":"again"}`, "Idempotency-Key", "send-2")
	readEvents(t, res.Body, func(ev sseEvent) bool { return ev.Event == "message.delta" })
	cancel()
	res.Body.Close()
	var r *response
	for range 100 { // the first request is still streaming to nobody for a moment
		if r = ts.do("POST", path, a.key, `{"text":"again"}`, "Idempotency-Key", "send-2"); r.header.Get("Idempotent-Replayed") == "true" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkError(t, r, 409, "conflict")
	if !strings.Contains(string(r.body), "Last-Event-ID") {
		t.Fatalf("the 409 does not say where to look: %s", r.body)
	}
	var msgs []any
	for range 250 { // the second reply runs on without its client
		msgs = ts.must(200, "GET", path, a.key, "").json(t)["data"].([]any)
		if len(msgs) == 4 && msgs[3].(map[string]any)["status"] == "complete" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(msgs) != 4 || msgs[3].(map[string]any)["status"] != "complete" {
		t.Fatalf("%d messages (%v), want two questions and two complete replies", len(msgs), msgs)
	}
}
