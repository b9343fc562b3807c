package httptool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/internal/loopbacktest"
	"github.com/hyponema/hyponema/tool/httptool"
)

// Every test talks only to loopback servers. 127.0.0.1 is allowed, as
// HYPONEMA_EGRESS_ALLOW=127.0.0.1/32 would allow it for local development;
// 127.0.0.2 stands in for every address that must stay out of reach.

// seen is what a test server received.
type seen struct {
	Method  string
	Path    string // escaped, as sent
	Query   url.Values
	RawQ    string
	Header  http.Header
	Body    []byte
	Request int
}

// server is a local API that records each request and answers with h.
type server struct {
	*httptest.Server
	port string
	mu   sync.Mutex
	reqs []seen
	hits atomic.Int64
}

func (s *server) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the server got no request")
	}
	return s.reqs[len(s.reqs)-1]
}

// serve starts h on addr ("127.0.0.1:0", "127.0.0.2:0"), recording the
// requests.
func serve(t testing.TB, addr string, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = loopbacktest.Serve(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, seen{
			Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.Query(), RawQ: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: body, Request: len(s.reqs) + 1,
		})
		s.mu.Unlock()
		s.hits.Add(1)
		h(w, r)
	}))
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

func jsonAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}
}

// secrets is a workspace's secrets, for one workspace.
type secrets map[string]string

func (s secrets) ResolveSecret(_ context.Context, workspaceID, name string) (string, error) {
	if v, ok := s[name]; ok && workspaceID == "ws_1" {
		return v, nil
	}
	return "", hyponema.Errorf(hyponema.ENOTFOUND, "no secret %s", name)
}

// logBuffer is a debug-level slog destination that tests can search.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newRunner(t testing.TB, s secrets) (*httptool.Runner, *logBuffer) {
	t.Helper()
	p, err := egress.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	return &httptool.Runner{
		Egress:  p,
		Secrets: s,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, logs
}

func httpTool(cfg hyponema.HTTPToolConfig) *hyponema.Tool {
	return &hyponema.Tool{ID: "tool_1", WorkspaceID: "ws_1", Name: "t", Type: hyponema.ToolHTTP, HTTP: &cfg}
}

func call(t *testing.T, r *httptool.Runner, tool *hyponema.Tool, args string) hyponema.ToolResult {
	t.Helper()
	res, err := r.Call(context.Background(), "ws_1", tool, json.RawMessage(args))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	return res
}

func wantOK(t *testing.T, res hyponema.ToolResult, content string) {
	t.Helper()
	if res.IsError || res.Content != content {
		t.Errorf("result = %+v, want content %q", res, content)
	}
}

func wantError(t *testing.T, res hyponema.ToolResult, prefix string) {
	t.Helper()
	if !res.IsError || !strings.HasPrefix(res.Content, prefix) {
		t.Errorf("result = %+v, want an error starting %q", res, prefix)
	}
}

func TestCallGETPathAndQuery(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer("{\n  \"status\": \"shipped\",\n  \"n\": 1\n}\n"))
	r, _ := newRunner(t, nil)
	tool := httpTool(hyponema.HTTPToolConfig{
		Method: "GET",
		URL:    s.URL + "/orders/{{order_id}}/lines/{{ line }}?expand={{expand}}&v=2",
	})
	res := call(t, r, tool, `{"order_id":"A 1/2?#","line":7,"expand":"items&x=1 +","limit":5,"tags":["a",2,true],
		"filter":{"k":"v"},"deep":[[1]],"none":null,"empty":""}`)
	wantOK(t, res, `{"status":"shipped","n":1}`)

	got := s.last(t)
	if got.Method != "GET" || got.Path != "/orders/A%201%2F2%3F%23/lines/7" {
		t.Errorf("request %s %s", got.Method, got.Path)
	}
	wantQuery := url.Values{
		"expand": {"items&x=1 +"}, "v": {"2"}, "limit": {"5"}, "tags": {"a", "2", "true"},
		"filter": {`{"k":"v"}`}, "deep": {"[[1]]"}, "empty": {""},
	}
	if !equalValues(got.Query, wantQuery) {
		t.Errorf("query = %v, want %v", got.Query, wantQuery)
	}
	if !strings.HasPrefix(got.RawQ, "expand=items%26x%3D1+%2B&v=2&deep=") {
		t.Errorf("raw query %q: want the template's part first, then the rest sorted", got.RawQ)
	}
	if got.Header.Get("Accept") != "application/json" || got.Header.Get("User-Agent") != httptool.UserAgent ||
		got.Header.Get("Content-Type") != "" || len(got.Body) != 0 {
		t.Errorf("headers %v, body %q", got.Header, got.Body)
	}
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestCallDELETEQuery(t *testing.T) {
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	r, _ := newRunner(t, nil)
	res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "DELETE", URL: s.URL + "/orders/{{id}}"}), `{"id":"o1","reason":"dup"}`)
	wantOK(t, res, "the API answered 204 No Content with no content")
	if got := s.last(t); got.Method != "DELETE" || got.Path != "/orders/o1" || got.RawQ != "reason=dup" {
		t.Errorf("request %s %s?%s", got.Method, got.Path, got.RawQ)
	}
}

func TestCallPOSTBodyTemplate(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{"ok":true}`))
	r, _ := newRunner(t, nil)
	tool := httpTool(hyponema.HTTPToolConfig{
		Method: "POST",
		URL:    s.URL + "/orders/{{order_id}}/notes",
		Body: `{"id": {{order_id}}, "qty": {{qty}}, "big": {{big}}, "note": "Order {{order_id}}: {{note}}",
			"meta": {{meta}}, "gone": {{gone}}, "gone_text": "[{{gone}}]", "html": {{html}}, "obj_text": "{{meta}}"}`,
	})
	res := call(t, r, tool, `{"order_id":"A\"1","qty":3,"big":12345678901234567890,"note":"line\nbreak \\ \"q\"",
		"meta":{"a":[1, 2]},"html":"<b>&</b>"}`)
	wantOK(t, res, `{"ok":true}`)

	got := s.last(t)
	if got.Path != "/orders/A%221/notes" || got.Header.Get("Content-Type") != "application/json" {
		t.Errorf("path %s, content type %q", got.Path, got.Header.Get("Content-Type"))
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("body %s: %v", got.Body, err)
	}
	want := map[string]string{
		"id":        `"A\"1"`,
		"qty":       `3`,
		"big":       `12345678901234567890`,
		"note":      `"Order A\"1: line\nbreak \\ \"q\""`,
		"meta":      `{"a":[1,2]}`,
		"gone":      `null`,
		"gone_text": `"[]"`,
		"html":      `"<b>&</b>"`,
		"obj_text":  `"{\"a\":[1,2]}"`,
	}
	for k, w := range want {
		if string(body[k]) != w {
			t.Errorf("body %s = %s, want %s", k, body[k], w)
		}
	}
}

// Without a body template the arguments are the body, less those in the
// URL.
func TestCallPOSTArgumentsBody(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{"ok":true}`))
	r, _ := newRunner(t, nil)
	for _, method := range []string{"", "POST", "PUT", "PATCH", "patch"} {
		res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: method, URL: s.URL + "/orders/{{id}}"}),
			`{"id":"o1","status":"paid","html":"<&>","n":1.50,"items":[{"sku":"A"}]}`)
		wantOK(t, res, `{"ok":true}`)
		got := s.last(t)
		wantMethod := strings.ToUpper(method)
		if method == "" {
			wantMethod = "POST"
		}
		if got.Method != wantMethod || got.Path != "/orders/o1" ||
			string(got.Body) != `{"html":"<&>","items":[{"sku":"A"}],"n":1.50,"status":"paid"}` {
			t.Errorf("%s: %s %s %s", method, got.Method, got.Path, got.Body)
		}
	}
	// No arguments left: an empty object.
	call(t, r, httpTool(hyponema.HTTPToolConfig{URL: s.URL + "/orders/{{id}}"}), `{"id":"o1"}`)
	if got := s.last(t); string(got.Body) != `{}` {
		t.Errorf("body %s, want {}", got.Body)
	}
}

func TestCallResponseFields(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{"order":{"status":"shipped","total":1e2,"items":[{"sku":"A1","qty":2},{"sku":"B2"},{"qty":5}],
		"carrier":null,"note":"<ok>"},"secretish":"not asked for"}`))
	r, _ := newRunner(t, nil)
	tool := httpTool(hyponema.HTTPToolConfig{
		Method: "GET", URL: s.URL + "/orders/1",
		ResponseFields: []string{"order.status", "order.items.*.sku", "order.items.0.qty", "order.total",
			"order.carrier", "order.note", "order.missing", "order.items.9", "order.status.x"},
	})
	res := call(t, r, tool, `{}`)
	wantOK(t, res, `{"order.status":"shipped","order.items.*.sku":["A1","B2"],"order.items.0.qty":2,"order.total":1e2,"order.carrier":null,"order.note":"<ok>"}`)

	// Nothing found is an empty object; a body that is not JSON is given as is.
	tool.HTTP.ResponseFields = []string{"nope"}
	wantOK(t, call(t, r, tool, `{}`), `{}`)
	s2 := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "plain words") })
	tool.HTTP.URL = s2.URL
	wantOK(t, call(t, r, tool, `{}`), "plain words")
}

func TestCallErrorStatus(t *testing.T) {
	long := strings.Repeat("x", 3000)
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/404":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "{\n  \"error\": \"no such order\"\n}")
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "<html>\n  <body>down\n for maintenance "+long+"</body>")
		case "/500-empty":
			w.WriteHeader(http.StatusInternalServerError)
		case "/418-binary":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte{0xff, 0xfe, 0x00})
		}
	})
	r, _ := newRunner(t, nil)
	get := func(path string) hyponema.ToolResult {
		return call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + path}), `{}`)
	}
	if res := get("/404"); !res.IsError || res.Content != `the API answered 404 Not Found: {"error":"no such order"}` {
		t.Errorf("404: %+v", res)
	}
	res := get("/503")
	wantError(t, res, "the API answered 503 Service Unavailable: <html> <body>down for maintenance xxx")
	if max := len("the API answered 503 Service Unavailable: ") + httptool.MaxErrorExcerptBytes + len("…"); len(res.Content) > max {
		t.Errorf("503 content is %d bytes, want at most %d", len(res.Content), max)
	}
	if res := get("/500-empty"); !res.IsError || res.Content != "the API answered 500 Internal Server Error" {
		t.Errorf("500: %+v", res)
	}
	if res := get("/418-binary"); !res.IsError || res.Content != "the API answered 418 I'm a teapot with 3 bytes of application/octet-stream" {
		t.Errorf("418: %+v", res)
	}
}

func TestCallTimeout(t *testing.T) {
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	r, logs := newRunner(t, nil)
	res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + "/slow", TimeoutMS: 200}), `{}`)
	if !res.IsError || res.Content != "timed out after 200ms" {
		t.Errorf("result %+v", res)
	}
	if !strings.Contains(logs.String(), "outcome=timeout") {
		t.Errorf("log %q lacks the outcome", logs)
	}
	// The body may be what is slow.
	s2 := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"partial":`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	res = call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s2.URL, TimeoutMS: 200}), `{}`)
	if !res.IsError || res.Content != "timed out after 200ms" {
		t.Errorf("slow body: result %+v", res)
	}
}

func TestCallTooLarge(t *testing.T) {
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		n := 4096
		if r.URL.Path == "/huge" {
			n = 2 << 20
		}
		io.WriteString(w, `"`+strings.Repeat("a", n)+`"`)
	})
	r, _ := newRunner(t, nil)
	for _, tt := range []struct {
		path string
		max  int
		want string
	}{
		{"/big", 1024, "the answer is larger than 1024 bytes"},
		{"/huge", 0, "the answer is larger than 65536 bytes"},
		{"/huge", httptool.MaxResponseBytes, "the answer is larger than 1048576 bytes"}, // the guard's own cap
	} {
		res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + tt.path, MaxResponseBytes: tt.max}), `{}`)
		wantError(t, res, tt.want)
	}
	// Just under the cap is fine.
	res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + "/big", MaxResponseBytes: 4098}), `{}`)
	if res.IsError || len(res.Content) != 4098 {
		t.Errorf("4098 bytes under a 4098 cap: IsError %v, %d bytes", res.IsError, len(res.Content))
	}
}

func TestCallNonJSON(t *testing.T) {
	big := strings.Repeat("é", 20<<10) // 40 KiB of two-byte runes
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/text":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<p>Hello\n  world</p>\n")
		case "/big":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, big)
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte{0x89, 'P', 'N', 'G', 0xff, 0x00})
		}
	})
	r, _ := newRunner(t, nil)
	get := func(path string) hyponema.ToolResult {
		return call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + path}), `{}`)
	}
	wantOK(t, get("/text"), "<p>Hello\n  world</p>\n")
	res := get("/big")
	head, note, ok := strings.Cut(res.Content, "\n[cut: ")
	if res.IsError || !ok || len(head) > httptool.MaxContentBytes || !strings.HasPrefix(big, head) ||
		note != "the answer has 40960 bytes; only the first 16384 are shown]" {
		t.Errorf("big text: IsError %v, %d bytes, note %q", res.IsError, len(head), note)
	}
	wantOK(t, get("/png"), "the API answered 200 OK with 6 bytes of image/png, which is not text")
}

func TestCallSecretHeader(t *testing.T) {
	const token = "sk_live_9f8e7d6c5b4a"
	const odd = `p"w<d>`
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/echo" {
			// An API that quotes the request in its error.
			w.WriteHeader(http.StatusUnauthorized)
			b, _ := json.Marshal(map[string]string{"error": "bad token", "got": r.Header.Get("Authorization"), "key": r.Header.Get("X-Api-Key")})
			w.Write(b)
			return
		}
		jsonAnswer(`{"ok":true}`)(w, r)
	})
	r, logs := newRunner(t, secrets{"CRM_TOKEN": token, "ODD": odd})
	tool := httpTool(hyponema.HTTPToolConfig{
		Method:  "GET",
		URL:     s.URL + "/orders?q={{q}}",
		Headers: map[string]string{"Authorization": "Bearer {{ secrets.CRM_TOKEN }}", "x-api-key": "{{secrets.ODD}}", "X-Plain": "v1", "Accept": "application/vnd.api+json"},
	})
	wantOK(t, call(t, r, tool, `{"q":"findme-arg"}`), `{"ok":true}`)
	got := s.last(t)
	if got.Header.Get("Authorization") != "Bearer "+token || got.Header.Get("X-Api-Key") != odd ||
		got.Header.Get("X-Plain") != "v1" || got.Header.Get("Accept") != "application/vnd.api+json" {
		t.Errorf("headers %v", got.Header)
	}

	tool.HTTP.URL = s.URL + "/echo"
	res := call(t, r, tool, `{}`)
	wantError(t, res, "the API answered 401 Unauthorized: ")
	if strings.Contains(res.Content, token) || strings.Contains(res.Content, `p\"w`) || strings.Contains(res.Content, `\u003cd`) ||
		strings.Count(res.Content, "[redacted]") != 2 {
		t.Errorf("error content %q: want the secrets redacted", res.Content)
	}

	l := logs.String()
	for _, leak := range []string{token, "sk_live", "p\\\"w", "findme-arg", "/orders", "/echo"} {
		if strings.Contains(l, leak) {
			t.Errorf("log holds %q:\n%s", leak, l)
		}
	}
	host := strings.TrimPrefix(s.URL, "http://")
	for _, want := range []string{"level=DEBUG", "tool_id=tool_1", "method=GET", "host=" + host, "status=200", "status=401", "latency="} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
}

func TestCallSecretProblems(t *testing.T) {
	const injected = "abc\r\nX-Injected: 1"
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{}`))
	r, logs := newRunner(t, secrets{"CRLF": injected, "LF": "tok\n", "NUL": "a\x00b"})
	for _, tt := range []struct {
		header string
		want   string
	}{
		{"Bearer {{secrets.NOPE}}", "the workspace secret NOPE is not set"},
		{"{{secrets.CRLF}}", "the workspace secret CRLF holds a line break or another control character"},
		{"{{secrets.LF}}", "the workspace secret LF holds a line break"},
		{"{{secrets.NUL}}", "the workspace secret NUL holds a line break or another control character"},
	} {
		res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL, Headers: map[string]string{"Authorization": tt.header}}), `{}`)
		wantError(t, res, tt.want)
		if strings.Contains(res.Content, "abc") || strings.Contains(res.Content, "tok") {
			t.Errorf("content %q holds a secret", res.Content)
		}
	}
	// Another workspace's secrets are not this one's.
	res, err := r.Call(context.Background(), "ws_2", &hyponema.Tool{ID: "tool_2", WorkspaceID: "ws_2", Type: hyponema.ToolHTTP,
		HTTP: &hyponema.HTTPToolConfig{URL: s.URL, Headers: map[string]string{"X-Key": "{{secrets.CRLF}}"}}}, nil)
	if err != nil || !res.IsError || res.Content != "the workspace secret CRLF is not set" {
		t.Errorf("other workspace: %+v, %v", res, err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
	if l := logs.String(); strings.Contains(l, "abc") || strings.Contains(l, "X-Injected") {
		t.Errorf("log holds a secret:\n%s", l)
	}
}

func TestCallArgumentProblems(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{}`))
	r, _ := newRunner(t, nil)
	for _, tt := range []struct {
		url, args, want string
	}{
		{"/orders/{{order_id}}", `{}`, "missing argument order_id"},
		{"/orders/{{order_id}}", `{"order_id":null}`, "missing argument order_id"},
		{"/orders?id={{order_id}}", `{"other":1}`, "missing argument order_id"},
		{"/orders/{{order_id}}", `{"order_id":""}`, "argument order_id is empty"},
		{"/files/{{name}}", `{"name":".."}`, `the arguments would make a "." or ".." segment`},
		{"/files/{{name}}", `{"name":"."}`, `the arguments would make a "." or ".." segment`},
		{"/files/{{name}}/raw", `{"name":"../../admin"}`, `the arguments would make a "." or ".." segment`},
	} {
		res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + tt.url}), tt.args)
		wantError(t, res, tt.want)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
	// Dots inside a segment are just dots.
	wantOK(t, call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + "/files/{{name}}"}), `{"name":"..a.json"}`), `{}`)
	if got := s.last(t); got.Path != "/files/..a.json" {
		t.Errorf("path %s", got.Path)
	}
}

// A tool saved before ValidateConfig, or edited in the database, fails
// its calls with a message rather than sending something odd.
func TestCallMisconfigured(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{}`))
	r, _ := newRunner(t, secrets{"K": "v"})
	for _, tt := range []struct {
		cfg  hyponema.HTTPToolConfig
		want string
	}{
		{hyponema.HTTPToolConfig{Method: "TRACE", URL: s.URL}, `the tool is misconfigured: its method "TRACE"`},
		{hyponema.HTTPToolConfig{URL: "http://{{host}}/x"}, "the tool is misconfigured: its URL template: {{host}}: arguments may only be used in the URL's path and query"},
		{hyponema.HTTPToolConfig{URL: s.URL + "{{path}}"}, "the tool is misconfigured: its URL template: {{path}}: arguments may only be used in the URL's path and query"},
		{hyponema.HTTPToolConfig{URL: s.URL + "/?k={{secrets.K}}"}, "the tool is misconfigured: its URL template: {{secrets.K}}: secrets may only be used in headers"},
		{hyponema.HTTPToolConfig{URL: s.URL + "/{{a b}}"}, "the tool is misconfigured: its URL template: {{a b}} is not a placeholder"},
		{hyponema.HTTPToolConfig{URL: "/relative"}, "the tool is misconfigured: its URL must be an absolute http or https URL"},
		{hyponema.HTTPToolConfig{URL: s.URL, Body: `{"a": {{a}`}, "the tool is misconfigured: its body template: a {{ is not closed"},
		{hyponema.HTTPToolConfig{URL: s.URL, Body: `{"a": {{a}}`}, "the tool is misconfigured: its body template: it does not make valid JSON"},
		{hyponema.HTTPToolConfig{URL: s.URL, Body: `{"a": "\{{a}}"}`}, "the tool is misconfigured: its body template: {{a}} follows a backslash"},
		{hyponema.HTTPToolConfig{Method: "GET", URL: s.URL, Body: `{}`}, "the tool is misconfigured: it has a body template"},
		{hyponema.HTTPToolConfig{URL: s.URL, Headers: map[string]string{"X-Id": "{{a}}"}}, "the tool is misconfigured: header X-Id: {{a}}: arguments are not put in headers"},
		{hyponema.HTTPToolConfig{URL: s.URL, Headers: map[string]string{"Host": "evil"}}, "the tool is misconfigured: header Host: is set by the HTTP client"},
		{hyponema.HTTPToolConfig{URL: s.URL, Headers: map[string]string{"X-A": "1\r\nX-B: 2"}}, "the tool is misconfigured: header X-A holds a line break"},
	} {
		res := call(t, r, httpTool(tt.cfg), `{"a":"\"},\"admin\":true,\"x\":{\"","host":"127.0.0.2","path":"@127.0.0.2"}`)
		wantError(t, res, tt.want)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
}

func TestCallRefusedByEgress(t *testing.T) {
	target := serve(t, "127.0.0.2:0", jsonAnswer(`{"reached":true}`))
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.2:"+target.port+"/", http.StatusFound)
	})
	r, _ := newRunner(t, nil)
	res := call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "GET", URL: s.URL + "/go"}), `{}`)
	wantError(t, res, "refused: ")
	if !strings.Contains(res.Content, "loopback address") {
		t.Errorf("content %q does not say why", res.Content)
	}
	res = call(t, r, httpTool(hyponema.HTTPToolConfig{Method: "POST", URL: "http://127.0.0.2:" + target.port + "/orders/{{id}}"}), `{"id":"1"}`)
	wantError(t, res, "refused: ")
	if n := target.hits.Load(); n != 0 {
		t.Errorf("the forbidden server got %d requests", n)
	}
	if s.hits.Load() != 1 {
		t.Errorf("the allowed server got %d requests, want 1", s.hits.Load())
	}
}

// Headers that carry secrets go to the tool's origin only: a redirect to
// another origin (here, another port) drops them; one within it keeps
// them.
func TestCallRedirectDropsSecretHeaders(t *testing.T) {
	other := serve(t, "127.0.0.1:0", jsonAnswer(`{"at":"other"}`))
	var s *server
	s = serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/landing", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/landing", http.StatusTemporaryRedirect)
		default:
			jsonAnswer(`{"at":"home"}`)(w, r)
		}
	})
	r, _ := newRunner(t, secrets{"KEY": "k-123456", "TOK": "t-123456"})
	tool := httpTool(hyponema.HTTPToolConfig{
		URL:     s.URL + "/away",
		Headers: map[string]string{"X-Api-Key": "{{secrets.KEY}}", "Authorization": "Bearer {{secrets.TOK}}", "X-Plain": "p"},
	})
	wantOK(t, call(t, r, tool, `{"n":1}`), `{"at":"other"}`)
	got := other.last(t)
	if got.Header.Get("X-Api-Key") != "" || got.Header.Get("Authorization") != "" {
		t.Errorf("the other origin got the secrets: %v", got.Header)
	}
	if got.Method != "POST" || string(got.Body) != `{"n":1}` || got.Header.Get("X-Plain") != "p" {
		t.Errorf("the 307 lost the request: %s %s %v", got.Method, got.Body, got.Header)
	}

	tool.HTTP.URL = s.URL + "/here"
	wantOK(t, call(t, r, tool, `{}`), `{"at":"home"}`)
	if got := s.last(t); got.Path != "/landing" || got.Header.Get("X-Api-Key") != "k-123456" || got.Header.Get("Authorization") != "Bearer t-123456" {
		t.Errorf("same origin: %s %v", got.Path, got.Header)
	}
}

func TestCallCallerMistakes(t *testing.T) {
	s := serve(t, "127.0.0.1:0", jsonAnswer(`{}`))
	r, _ := newRunner(t, nil)
	good := httpTool(hyponema.HTTPToolConfig{URL: s.URL})
	ctx := context.Background()
	for name, fn := range map[string]func() (hyponema.ToolResult, error){
		"nil tool": func() (hyponema.ToolResult, error) { return r.Call(ctx, "ws_1", nil, nil) },
		"mcp tool": func() (hyponema.ToolResult, error) {
			return r.Call(ctx, "ws_1", &hyponema.Tool{ID: "tool_m", Type: hyponema.ToolMCP}, nil)
		},
		"no http config": func() (hyponema.ToolResult, error) {
			return r.Call(ctx, "ws_1", &hyponema.Tool{ID: "tool_h", Type: hyponema.ToolHTTP}, nil)
		},
		"other workspace": func() (hyponema.ToolResult, error) { return r.Call(ctx, "ws_2", good, nil) },
		"array args":      func() (hyponema.ToolResult, error) { return r.Call(ctx, "ws_1", good, json.RawMessage(`[1]`)) },
		"bad json args":   func() (hyponema.ToolResult, error) { return r.Call(ctx, "ws_1", good, json.RawMessage(`{"a":`)) },
		"no resolver": func() (hyponema.ToolResult, error) {
			r, _ := newRunner(t, nil)
			r.Secrets = nil
			return r.Call(ctx, "ws_1", httpTool(hyponema.HTTPToolConfig{URL: s.URL, Headers: map[string]string{"X-K": "{{secrets.K}}"}}), nil)
		},
	} {
		if res, err := fn(); err == nil || res != (hyponema.ToolResult{}) {
			t.Errorf("%s: %+v, %v; want an error", name, res, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if res, err := r.Call(cancelled, "ws_1", good, nil); !errors.Is(err, context.Canceled) || res != (hyponema.ToolResult{}) {
		t.Errorf("cancelled: %+v, %v", res, err)
	}
	if n := s.hits.Load(); n != 0 {
		t.Errorf("server got %d requests", n)
	}
	// Empty and null arguments are no arguments.
	for _, a := range []string{"", "null", " {} "} {
		wantOK(t, call(t, r, good, a), `{}`)
		if got := s.last(t); string(got.Body) != "{}" {
			t.Errorf("args %q: body %s", a, got.Body)
		}
	}
}

func TestValidateConfig(t *testing.T) {
	params := json.RawMessage(`{"type":"object","properties":{"order_id":{"type":"string"},"qty":{"type":"integer"},"q":{"type":"string"}}}`)
	ok := func(c hyponema.HTTPToolConfig) hyponema.HTTPToolConfig { return c }
	tests := []struct {
		name string
		cfg  hyponema.HTTPToolConfig
		loc  []string // nil: valid
		msg  string   // part of the message
	}{
		{"minimal", ok(hyponema.HTTPToolConfig{URL: "https://api.example.com/orders"}), nil, ""},
		{"full", hyponema.HTTPToolConfig{
			Method: "PATCH", URL: "https://api.example.com:8443/orders/{{order_id}}?v=2&q={{ q }}",
			Headers:   map[string]string{"Authorization": "Bearer {{secrets.CRM_TOKEN}}", "X-Tenant": "acme", "Accept": "application/json"},
			Body:      `{"qty": {{qty}}, "note": "for {{order_id}}", "list": [{{qty}}, 1], "whole": {"x": {{order_id}}}}`,
			TimeoutMS: 60000, MaxResponseBytes: 1 << 20, ResponseFields: []string{"order.status", "items.*.sku", "items.0"},
		}, nil, ""},
		{"GET with query args", hyponema.HTTPToolConfig{Method: "GET", URL: "http://api.example.com/search"}, nil, ""},
		{"literal fragment", hyponema.HTTPToolConfig{URL: "http://api.example.com/x#top"}, nil, ""},

		{"lower-case method", hyponema.HTTPToolConfig{Method: "get", URL: "https://a.example/"}, nil, ""},
		{"lower-case GET with body", hyponema.HTTPToolConfig{Method: "get", URL: "https://a.example/", Body: "{}"}, []string{"body", "http", "body"}, "only sent with POST"},
		{"too many headers", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: manyHeaders(hyponema.MaxToolHeaders + 1)}, []string{"body", "http", "headers"}, "at most 20"},
		{"TRACE", hyponema.HTTPToolConfig{Method: "TRACE", URL: "https://a.example/"}, []string{"body", "http", "method"}, "must be one of"},
		{"no URL", hyponema.HTTPToolConfig{}, []string{"body", "http", "url"}, "is required"},
		{"relative URL", hyponema.HTTPToolConfig{URL: "/orders/{{order_id}}"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"no scheme", hyponema.HTTPToolConfig{URL: "api.example.com/orders"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"ftp", hyponema.HTTPToolConfig{URL: "ftp://api.example.com/x"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"user info", hyponema.HTTPToolConfig{URL: "https://u:p@api.example.com/"}, []string{"body", "http", "url"}, "user name or password"},
		{"bad port", hyponema.HTTPToolConfig{URL: "https://api.example.com:0/"}, []string{"body", "http", "url"}, "port"},
		{"arg in host", hyponema.HTTPToolConfig{URL: "https://{{order_id}}.example.com/"}, []string{"body", "http", "url"}, "not its scheme, host or port"},
		{"arg after host", hyponema.HTTPToolConfig{URL: "https://api.example.com{{order_id}}"}, []string{"body", "http", "url"}, "not its scheme, host or port"},
		{"arg as scheme", hyponema.HTTPToolConfig{URL: "http{{order_id}}://api.example.com/"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"arg as https scheme", hyponema.HTTPToolConfig{URL: "http{{order_id}}://api.example.com/"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"arg as whole URL", hyponema.HTTPToolConfig{URL: "{{order_id}}"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"arg before scheme", hyponema.HTTPToolConfig{URL: "{{order_id}}https://api.example.com/"}, []string{"body", "http", "url"}, "absolute http or https"},
		{"arg in port", hyponema.HTTPToolConfig{URL: "https://api.example.com:8{{qty}}/"}, []string{"body", "http", "url"}, "port"},
		{"arg in fragment", hyponema.HTTPToolConfig{URL: "https://a.example/x#{{order_id}}"}, []string{"body", "http", "url"}, "fragment"},
		{"secret in URL", hyponema.HTTPToolConfig{URL: "https://a.example/x?key={{secrets.KEY}}"}, []string{"body", "http", "url"}, "only be used in headers"},
		{"undeclared arg in URL", hyponema.HTTPToolConfig{URL: "https://a.example/{{customer}}"}, []string{"body", "http", "url"}, `no property "customer"`},
		{"bad placeholder", hyponema.HTTPToolConfig{URL: "https://a.example/{{order id}}"}, []string{"body", "http", "url"}, "is not a placeholder"},
		{"unclosed", hyponema.HTTPToolConfig{URL: "https://a.example/{{order_id"}, []string{"body", "http", "url"}, "not closed"},
		{"dot segment", hyponema.HTTPToolConfig{URL: "https://a.example/a/../admin"}, []string{"body", "http", "url"}, `".."`},
		{"long URL", hyponema.HTTPToolConfig{URL: "https://a.example/" + strings.Repeat("a", hyponema.MaxWebhookURLLen)}, []string{"body", "http", "url"}, "at most"},

		{"body on GET", hyponema.HTTPToolConfig{Method: "GET", URL: "https://a.example/", Body: `{}`}, []string{"body", "http", "body"}, "only sent with POST"},
		{"body on DELETE", hyponema.HTTPToolConfig{Method: "DELETE", URL: "https://a.example/", Body: `{}`}, []string{"body", "http", "body"}, "only sent with POST"},
		{"body not JSON", hyponema.HTTPToolConfig{URL: "https://a.example/", Body: `{"id": {{order_id}}`}, []string{"body", "http", "body"}, "valid JSON"},
		{"body key placeholder", hyponema.HTTPToolConfig{URL: "https://a.example/", Body: `{ {{order_id}}: 1}`}, []string{"body", "http", "body"}, "valid JSON"},
		{"body undeclared", hyponema.HTTPToolConfig{URL: "https://a.example/", Body: `{"c": {{customer}}}`}, []string{"body", "http", "body"}, `no property "customer"`},
		{"body secret", hyponema.HTTPToolConfig{URL: "https://a.example/", Body: `{"k": "{{secrets.KEY}}"}`}, []string{"body", "http", "body"}, "only be used in headers"},
		{"body after backslash", hyponema.HTTPToolConfig{URL: "https://a.example/", Body: `{"k": "\{{q}}"}`}, []string{"body", "http", "body"}, "backslash"},

		{"header name", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X Bad": "v"}}, []string{"body", "http", "headers", "X Bad"}, "not a valid header name"},
		{"header name colon", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X-A:": "v"}}, []string{"body", "http", "headers", "X-A:"}, "not a valid header name"},
		{"Host header", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"host": "v"}}, []string{"body", "http", "headers", "host"}, "set by the HTTP client"},
		{"Content-Length", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"Content-Length": "1"}}, []string{"body", "http", "headers", "Content-Length"}, "set by the HTTP client"},
		{"header arg", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X-Order": "{{order_id}}"}}, []string{"body", "http", "headers", "X-Order"}, "arguments are not put in headers"},
		{"header CRLF", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X-A": "a\r\nX-B: b"}}, []string{"body", "http", "headers", "X-A"}, "line breaks"},
		{"secret name", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X-K": "{{secrets.MY-TOKEN}}"}}, []string{"body", "http", "headers", "X-K"}, "letters, digits and _"},
		{"secret name empty", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X-K": "{{secrets.}}"}}, []string{"body", "http", "headers", "X-K"}, "letters, digits and _"},
		{"header twice", hyponema.HTTPToolConfig{URL: "https://a.example/", Headers: map[string]string{"X-K": "a", "x-k": "b"}}, []string{"body", "http", "headers", "x-k"}, "set twice"},

		{"negative timeout", hyponema.HTTPToolConfig{URL: "https://a.example/", TimeoutMS: -1}, []string{"body", "http", "timeout_ms"}, "between 1 and 60000"},
		{"long timeout", hyponema.HTTPToolConfig{URL: "https://a.example/", TimeoutMS: 60001}, []string{"body", "http", "timeout_ms"}, "between 1 and 60000"},
		{"negative max", hyponema.HTTPToolConfig{URL: "https://a.example/", MaxResponseBytes: -5}, []string{"body", "http", "max_response_bytes"}, "between 1 and 1048576"},
		{"big max", hyponema.HTTPToolConfig{URL: "https://a.example/", MaxResponseBytes: 1<<20 + 1}, []string{"body", "http", "max_response_bytes"}, "between 1 and 1048576"},
		{"empty field", hyponema.HTTPToolConfig{URL: "https://a.example/", ResponseFields: []string{"a", ""}}, []string{"body", "http", "response_fields", "1"}, "must not be empty"},
		{"double dot field", hyponema.HTTPToolConfig{URL: "https://a.example/", ResponseFields: []string{"a..b"}}, []string{"body", "http", "response_fields", "0"}, "single dots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			err := httptool.ValidateConfig(&cfg, params)
			if tt.loc == nil {
				if err != nil {
					t.Fatalf("ValidateConfig = %v, want nil", err)
				}
				return
			}
			var e *hyponema.Error
			if !errors.As(err, &e) || e.Code != hyponema.EINVALID {
				t.Fatalf("ValidateConfig = %v, want EINVALID", err)
			}
			if len(e.Fields) != 1 {
				t.Errorf("fields %+v, want one", e.Fields)
			}
			f := e.Fields[0]
			if !slices.Equal(f.Loc, tt.loc) || !strings.Contains(f.Msg, tt.msg) {
				t.Errorf("field %+v, want loc %v and a message with %q", f, tt.loc, tt.msg)
			}
		})
	}

	if err := httptool.ValidateConfig(nil, params); hyponema.ErrorCode(err) != hyponema.EINVALID {
		t.Errorf("nil config: %v", err)
	}
	// Every problem is reported, not just the first.
	err := httptool.ValidateConfig(&hyponema.HTTPToolConfig{Method: "X", URL: "nope", TimeoutMS: -1, MaxResponseBytes: -1}, params)
	var e *hyponema.Error
	if !errors.As(err, &e) || len(e.Fields) != 4 {
		t.Errorf("several problems: %v", err)
	}
	// Without a schema no argument may be named.
	if err := httptool.ValidateConfig(&hyponema.HTTPToolConfig{URL: "https://a.example/{{order_id}}"}, nil); hyponema.ErrorCode(err) != hyponema.EINVALID {
		t.Errorf("no schema: %v", err)
	}
}

func manyHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h[fmt.Sprintf("X-H%d", i)] = "v"
	}
	return h
}

// BenchmarkCall shows the runner's cost per call over a plain GET of the
// same local URL: the templates, the query, the guard's dial check (once
// per connection), the reading and compacting of the answer.
func BenchmarkCall(b *testing.B) {
	s := serve(b, "127.0.0.1:0", jsonAnswer(`{"order":{"id":"o_123","status":"shipped","items":[{"sku":"A1","qty":2},{"sku":"B2","qty":1}]}}`))
	target := s.URL + "/orders/o_123?expand=items"
	b.Run("runner", func(b *testing.B) {
		r, _ := newRunner(b, secrets{"TOKEN": "t_abcdef"})
		r.Logger = slog.New(slog.DiscardHandler)
		tool := httpTool(hyponema.HTTPToolConfig{
			Method: "GET", URL: s.URL + "/orders/{{order_id}}",
			Headers: map[string]string{"Authorization": "Bearer {{secrets.TOKEN}}"},
		})
		args := json.RawMessage(`{"order_id":"o_123","expand":"items"}`)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			res, err := r.Call(ctx, "ws_1", tool, args)
			if err != nil || res.IsError {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.Run("plain", func(b *testing.B) {
		c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(target)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadAll(resp.Body); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}
