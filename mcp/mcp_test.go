package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/internal/mcptest"
)

// These tests run the npm package @modelcontextprotocol/server-everything
// (installed in e2e/ by `npm ci`) with node: a real MCP server, over
// streamable HTTP on loopback and over stdio.

// counter counts the JSON-RPC requests that pass, by method: sent, and
// answered with a 2xx status.
type counter struct {
	next http.RoundTripper

	mu       sync.Mutex
	sent     map[string]int
	answered map[string]int
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	var method string
	if req.Method == http.MethodPost && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		var m struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &m)
		method = m.Method
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	c.mu.Lock()
	c.sent[method]++
	c.mu.Unlock()
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.StatusCode/100 == 2 {
		c.mu.Lock()
		c.answered[method]++
		c.mu.Unlock()
	}
	return resp, err
}

func (c *counter) Sent(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[method]
}

func (c *counter) Answered(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered[method]
}

// egressClient is an egress-guarded client that may reach 127.0.0.1 and
// no other loopback address.
func egressClient(t testing.TB) *http.Client {
	t.Helper()
	p, err := egress.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	return p.Client()
}

// guardedClient is an egressClient that counts what it sends.
func guardedClient(t testing.TB) (*http.Client, *counter) {
	t.Helper()
	hc := egressClient(t)
	cnt := &counter{next: hc.Transport, sent: map[string]int{}, answered: map[string]int{}}
	hc.Transport = cnt
	return hc, cnt
}

func mustNew(t testing.TB, s Server) *Client {
	t.Helper()
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func kindIs(t *testing.T, err error, kind string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want an *mcp.Error of kind %s", err, err, kind)
	}
	if e.Kind != kind {
		t.Fatalf("err kind = %s (%v), want %s", e.Kind, err, kind)
	}
	return e
}

func TestListTools(t *testing.T) {
	srv := mcptest.Start(t)
	hc, _ := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})

	tools, err := c.ListTools(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Tool{}
	for _, tl := range tools {
		byName[tl.Name] = tl
	}
	t.Logf("%d tools", len(tools))
	// server-everything calls its adding tool get-sum.
	for name, props := range map[string][]string{"echo": {"message"}, "get-sum": {"a", "b"}} {
		tl, ok := byName[name]
		if !ok {
			t.Fatalf("no tool %s among %d", name, len(tools))
		}
		if tl.Description == "" {
			t.Errorf("%s has no description", name)
		}
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(tl.InputSchema, &schema); err != nil || schema.Type != "object" {
			t.Fatalf("%s input schema %s: %v", name, tl.InputSchema, err)
		}
		for _, p := range props {
			if _, ok := schema.Properties[p]; !ok {
				t.Errorf("%s input schema %s lacks %s", name, tl.InputSchema, p)
			}
		}
	}
}

func TestCallTool(t *testing.T) {
	srv := mcptest.Start(t)
	hc, _ := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})
	ctx := ctxFor(t)

	res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"hello, world"}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "Echo: hello, world" || res.IsError {
		t.Errorf("echo = %+v", res)
	}

	res, err = c.CallTool(ctx, "get-sum", json.RawMessage(`{"a":2,"b":40}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text, "42") || res.IsError {
		t.Errorf("get-sum = %+v", res)
	}

	// Text, an image and text again: the image is noted, not dumped.
	res, err = c.CallTool(ctx, "get-tiny-image", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Text, "[image image/png, ") || res.IsError {
		t.Errorf("get-tiny-image = %+v", res)
	}
	t.Logf("get-tiny-image: %q", res.Text)
}

func TestCallToolErrors(t *testing.T) {
	srv := mcptest.Start(t)
	hc, cnt := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})
	ctx := ctxFor(t)

	// The tool fails (its arguments do not validate): a result, not an error.
	res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || res.Text == "" {
		t.Errorf("echo with a number = %+v, want IsError with a reason", res)
	}
	t.Logf("tool error: %q", res.Text)

	calls := cnt.Sent("tools/call")
	_, err = c.CallTool(ctx, "no-such-tool", nil)
	e := kindIs(t, err, KindToolNotFound)
	if e.MayHaveRun {
		t.Error("an unknown tool may have run?")
	}
	if n := cnt.Sent("tools/call"); n != calls {
		t.Errorf("an unknown tool was called (%d tools/call)", n-calls)
	}

	_, err = c.CallTool(ctx, "echo", json.RawMessage(`["not", "an", "object"]`))
	kindIs(t, err, KindInvalid)
}

// TestReconnect kills the server under a live session: a call while it is
// down says it did not run; once it is back, the next call connects a new
// session; and calls that find the session gone all at once share one
// reconnect.
func TestReconnect(t *testing.T) {
	srv := mcptest.Start(t)
	hc, cnt := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})
	ctx := ctxFor(t)

	if _, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"one"}`)); err != nil {
		t.Fatal(err)
	}
	if n := cnt.Answered("initialize"); n != 1 {
		t.Fatalf("%d sessions initialised, want 1", n)
	}

	srv.Kill()
	_, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"two"}`))
	e := kindIs(t, err, KindUnreachable)
	if e.MayHaveRun {
		t.Errorf("refused connection: MayHaveRun set (%v)", err)
	}
	t.Logf("while down: %v", err)

	srv.Start()
	res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"three"}`))
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if res.Text != "Echo: three" {
		t.Errorf("echo = %+v", res)
	}
	if n := cnt.Answered("initialize"); n != 2 {
		t.Errorf("%d sessions initialised, want 2", n)
	}

	// The server forgets the session: every caller's first try is refused
	// with "no valid session ID", and they share one new session.
	srv.Kill()
	srv.Start()
	before := cnt.Answered("initialize")
	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			msg := "concurrent " + strconv.Itoa(i)
			res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"`+msg+`"}`))
			if err == nil && res.Text != "Echo: "+msg {
				err = errors.New("echo = " + res.Text)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("caller %d: %v", i, err)
		}
	}
	if n := cnt.Answered("initialize") - before; n != 1 {
		t.Errorf("%d callers whose session was gone initialised %d sessions, want 1", callers, n)
	}
}

// TestInterrupted kills the server while a tool runs and starts it again:
// the call fails saying it may have run, and is not sent again.
func TestInterrupted(t *testing.T) {
	srv := mcptest.Start(t)
	hc, cnt := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})
	ctx := ctxFor(t)
	if _, err := c.ListTools(ctx); err != nil {
		t.Fatal(err)
	}

	done := make(chan error, 1)
	go func() {
		_, err := c.CallTool(ctx, "trigger-long-running-operation", json.RawMessage(`{"duration":30,"steps":30}`))
		done <- err
	}()
	// The server has the call once its answer's headers are back.
	for cnt.Answered("tools/call") == 0 {
		select {
		case err := <-done:
			t.Fatalf("the call ended early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The SDK then tries to resume the call's stream, which the new server
	// knows nothing of (or which it cannot reach, if it tries too soon).
	srv.Kill()
	srv.Start()
	err := <-done
	e := kindIs(t, err, KindInterrupted)
	if !e.MayHaveRun || !strings.Contains(err.Error(), "may or may not have run") {
		t.Errorf("err = %v, MayHaveRun %v", err, e.MayHaveRun)
	}
	if n := cnt.Sent("tools/call"); n != 1 {
		t.Errorf("the call was sent %d times", n)
	}
	t.Logf("interrupted: %v", err)

	// The next call reconnects.
	if _, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"after"}`)); err != nil {
		t.Fatal(err)
	}

	// Out of time while the tool runs: the same doubt.
	short := mustNew(t, Server{URL: srv.URL, HTTPClient: hc, CallTimeout: 300 * time.Millisecond})
	if _, err := short.ListTools(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = short.CallTool(ctx, "trigger-long-running-operation", json.RawMessage(`{"duration":30,"steps":1}`))
	e = kindIs(t, err, KindTimeout)
	if !e.MayHaveRun || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, MayHaveRun %v", err, e.MayHaveRun)
	}
	t.Logf("timeout: %v", err)
}

// clock is a test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestToolsCache(t *testing.T) {
	srv := mcptest.Start(t)
	hc, cnt := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	c.now = clk.Now
	ctx := ctxFor(t)

	first, err := c.ListTools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := cnt.Sent("tools/list"); n != 1 {
		t.Fatalf("%d tools/list, want 1", n)
	}
	clk.Add(DefaultToolsTTL - time.Second)
	second, err := c.ListTools(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := cnt.Sent("tools/list"); n != 1 {
		t.Errorf("within the TTL: %d tools/list, want 1", n)
	}
	if len(second) != len(first) {
		t.Errorf("cached %d tools, first %d", len(second), len(first))
	}
	// Concurrent callers share the cached list; CallTool of a listed tool
	// does not list.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.ListTools(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if n := cnt.Sent("tools/list"); n != 1 {
		t.Errorf("within the TTL: %d tools/list, want 1", n)
	}

	// Past the TTL, callers all at once share one tools/list.
	clk.Add(2 * time.Second)
	for range 8 {
		wg.Go(func() {
			if _, err := c.ListTools(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := cnt.Sent("tools/list"); n != 2 {
		t.Errorf("after the TTL: %d tools/list, want 2", n)
	}
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if n := cnt.Sent("tools/list"); n != 3 {
		t.Errorf("after Refresh: %d tools/list, want 3", n)
	}
}

func TestEgress(t *testing.T) {
	srv := mcptest.Start(t)
	hc, cnt := guardedClient(t)
	ctx := ctxFor(t)

	// 127.0.0.1 is allowed, so the server answers there.
	if _, err := mustNew(t, Server{URL: srv.URL, HTTPClient: hc}).ListTools(ctx); err != nil {
		t.Fatal(err)
	}
	sent := cnt.Sent("initialize")

	// 127.0.0.2 is loopback too, and not allowed: refused before connecting.
	other := strings.Replace(srv.URL, "127.0.0.1", "127.0.0.2", 1)
	c := mustNew(t, Server{URL: other, HTTPClient: hc, Header: http.Header{"Authorization": {"Bearer s3cret-token-value"}}})
	_, err := c.ListTools(ctx)
	kindIs(t, err, KindForbidden)
	if egress.ReasonOf(err) != egress.ReasonForbiddenAddress {
		t.Errorf("egress reason %q, want %q (%v)", egress.ReasonOf(err), egress.ReasonForbiddenAddress, err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the header: %v", err)
	}
	if n := cnt.Answered("initialize"); n != sent {
		t.Errorf("an initialize got through")
	}
	t.Logf("refused: %v", err)

	// With no client, the default egress policy refuses loopback itself.
	_, err = mustNew(t, Server{URL: srv.URL}).CallTool(ctx, "echo", nil)
	kindIs(t, err, KindForbidden)
}

// TestHeaders checks, against a server that answers every request with an
// error echoing its credentials, that the headers reach the server's
// origin only and that no error shows them.
func TestHeaders(t *testing.T) {
	var mu sync.Mutex
	var gotAuth []string
	record := func(r *http.Request) {
		mu.Lock()
		gotAuth = append(gotAuth, r.Header.Get("Authorization"))
		mu.Unlock()
	}
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Error(w, "nothing here", http.StatusNotFound)
	}))
	defer elsewhere.Close()
	echoing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		if r.URL.Query().Get("go") == "away" {
			http.Redirect(w, r, elsewhere.URL+"/mcp", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		msg, _ := json.Marshal("invalid credentials " + r.Header.Get("Authorization") + " for " + r.URL.Path + "?" + r.URL.RawQuery)
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":`+string(msg)+`}}`)
	}))
	defer echoing.Close()

	hc, _ := guardedClient(t)
	header := http.Header{"Authorization": {"Bearer tok-0123456789abcdef"}}
	c := mustNew(t, Server{URL: echoing.URL + "/k/path-secret-0123456789/mcp?key=query-secret-42", HTTPClient: hc, Header: header})
	_, err := c.ListTools(ctxFor(t))
	e := kindIs(t, err, KindProtocol)
	if e.Status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", e.Status)
	}
	for _, secret := range []string{"0123456789abcdef", "query-secret-42", "path-secret-0123456789"} {
		if strings.Contains(err.Error(), secret) || strings.Contains(e.Msg, secret) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
	t.Logf("401: %v", err)
	mu.Lock()
	if len(gotAuth) == 0 || gotAuth[0] != header.Get("Authorization") {
		t.Errorf("the server got Authorization %q", gotAuth)
	}
	gotAuth = nil
	mu.Unlock()

	// A redirect to another origin does not take the credentials along.
	c = mustNew(t, Server{URL: echoing.URL + "/mcp?go=away", HTTPClient: hc, Header: header})
	_, err = c.ListTools(ctxFor(t))
	kindIs(t, err, KindProtocol)
	mu.Lock()
	defer mu.Unlock()
	if len(gotAuth) < 2 || gotAuth[0] == "" || gotAuth[1] != "" {
		t.Errorf("Authorization along the redirect: %q, want it at the first hop only", gotAuth)
	}
}

func TestNewInvalid(t *testing.T) {
	for _, s := range []Server{
		{URL: "ftp://example.com/mcp"},
		{URL: "/mcp"},
		{URL: "https://example.com/mcp", Header: http.Header{"Mcp-Session-Id": {"x"}}},
		{URL: "https://user:password@example.com/mcp"},
	} {
		if _, err := New(s); KindOf(err) != KindInvalid {
			t.Errorf("New(%+v) = %v, want %s", s, err, KindInvalid)
		}
	}
	if _, err := NewCommand(Command{}); KindOf(err) != KindInvalid {
		t.Errorf("NewCommand without a path = %v", err)
	}
	c, err := NewCommand(Command{Path: filepath.Join(t.TempDir(), "no-such-server")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ListTools(ctxFor(t))
	kindIs(t, err, KindUnreachable)
}

func TestClosed(t *testing.T) {
	srv := mcptest.Start(t)
	hc, _ := guardedClient(t)
	c := mustNew(t, Server{URL: srv.URL, HTTPClient: hc})
	if _, err := c.ListTools(ctxFor(t)); err != nil {
		t.Fatal(err)
	}

	// Close ends a call in progress.
	done := make(chan error, 1)
	go func() {
		_, err := c.CallTool(ctxFor(t), "trigger-long-running-operation", json.RawMessage(`{"duration":30,"steps":1}`))
		done <- err
	}()
	c.Close()
	kindIs(t, <-done, KindClosed)
	_, err := c.CallTool(ctxFor(t), "echo", nil)
	kindIs(t, err, KindClosed)
}

func TestPool(t *testing.T) {
	var p Pool
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	p.now = clk.Now
	s := Server{URL: "https://mcp.example.com/mcp", Header: http.Header{"Authorization": {"Bearer a"}}}
	a, err := p.Client(s)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := p.Client(Server{URL: s.URL, Header: http.Header{"authorization": {"Bearer a"}}}); b != a {
		t.Error("the same configuration gave another Client")
	}
	if b, _ := p.Client(Server{URL: s.URL, Header: http.Header{"Authorization": {"Bearer b"}}}); b == a {
		t.Error("another header gave the same Client")
	}
	clk.Add(DefaultIdleTimeout)
	if b, _ := p.Client(s); b == a {
		t.Error("an idle Client was kept")
	}
	p.Close()
	if _, err := p.Client(s); KindOf(err) != KindClosed {
		t.Errorf("after Close: %v", err)
	}
}

// TestStdio runs server-everything as a subprocess: tools are listed and
// called the same way, the subprocess does not see Hyponema's environment,
// and a subprocess that dies is started again.
func TestStdio(t *testing.T) {
	js := mcptest.EverythingJS(t)
	t.Setenv("HYPONEMA_TEST_SECRET", "do-not-leak-this")
	var stderr mcptest.LockedBuffer
	c, err := NewCommand(Command{Path: "node", Args: []string{js, "stdio"}, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t)

	tools, err := c.ListTools(ctx)
	if err != nil {
		t.Fatalf("%v; stderr: %s", err, stderr.String())
	}
	if !hasTool(tools, "echo") {
		t.Fatalf("no echo among %d tools", len(tools))
	}
	res, err := c.CallTool(ctx, "echo", json.RawMessage(`{"message":"over stdio"}`))
	if err != nil || res.Text != "Echo: over stdio" {
		t.Fatalf("echo = %+v, %v", res, err)
	}
	res, err = c.CallTool(ctx, "get-env", nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Text, "do-not-leak-this") || !strings.Contains(res.Text, "PATH") {
		t.Errorf("the subprocess's environment: %s", res.Text)
	}

	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.ended
	res, err = c.CallTool(ctx, "echo", json.RawMessage(`{"message":"again"}`))
	if err != nil || res.Text != "Echo: again" {
		t.Fatalf("after the subprocess died: %+v, %v", res, err)
	}
	c.mu.Lock()
	if c.sess == s || c.sess.cmd.Process.Pid == s.cmd.Process.Pid {
		t.Error("the same subprocess?")
	}
	c.mu.Unlock()
}

func hasTool(tools []Tool, name string) bool {
	for _, t := range tools {
		if t.Name == name {
			return true
		}
	}
	return false
}

func TestText(t *testing.T) {
	// Rendering of content types that server-everything does not return
	// from a plain call.
	for _, tt := range []struct {
		json string
		want string
	}{
		{`{"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`, "a\nb"},
		{`{"content":[{"type":"audio","mimeType":"audio/wav","data":"AAAA"}]}`, "[audio audio/wav, 3 bytes]"},
		{`{"content":[{"type":"resource_link","uri":"file:///x.txt","name":"x","mimeType":"text/plain"}]}`, `[resource link file:///x.txt ("x", text/plain)]`},
		{`{"content":[{"type":"resource","resource":{"uri":"file:///y","mimeType":"text/plain","text":"hi"}}]}`, "[resource file:///y (text/plain)]\nhi"},
		{`{"content":[{"type":"resource","resource":{"uri":"file:///z","blob":"AAAA"}}]}`, "[resource file:///z, 3 bytes]"},
		{`{"content":[],"structuredContent":{"n":1}}`, `{"n":1}`},
	} {
		var res sdk.CallToolResult
		if err := json.Unmarshal([]byte(tt.json), &res); err != nil {
			t.Fatalf("%s: %v", tt.json, err)
		}
		if got := text(&res); got != tt.want {
			t.Errorf("text(%s) = %q, want %q", tt.json, got, tt.want)
		}
	}
}

// goCPU reports the CPU time that this process (the client side, not node)
// spent per operation of b's loop, as go-cpu-ns/op: wall time per call is
// mostly the node server's.
func goCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "go-cpu-ns/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCallTool calls echo over loopback streamable HTTP through the
// Client (with a plain http.Client, and with an egress-guarded one), and,
// for comparison, through the SDK alone and with a hand-made JSON-RPC POST
// of the same tools/call on a plain http.Client: the differences are the
// wrapper's cost and the SDK's.
func BenchmarkCallTool(b *testing.B) {
	srv := mcptest.Start(b)
	args := json.RawMessage(`{"message":"bench"}`)
	// Warm node up first, or whichever sub-benchmark runs first pays
	// (it still pays somewhat: compare runs of -count 6).
	warm := mustNew(b, Server{URL: srv.URL, HTTPClient: &http.Client{}})
	for range 500 {
		if _, err := warm.CallTool(context.Background(), "echo", args); err != nil {
			b.Fatal(err)
		}
	}
	warm.Close()

	b.Run("raw", func(b *testing.B) {
		hc := &http.Client{}
		post := func(sessionID, body string) (*http.Response, []byte) {
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if sessionID != "" {
				req.Header.Set("Mcp-Session-Id", sessionID)
				req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
			}
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode/100 != 2 {
				b.Fatalf("%s: %d %s %v", body, resp.StatusCode, data, err)
			}
			return resp, data
		}
		resp, _ := post("", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`)
		sid := resp.Header.Get("Mcp-Session-Id")
		post(sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		id := 0
		defer goCPU(b)()
		for b.Loop() {
			id++
			_, data := post(sid, `{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"method":"tools/call","params":{"name":"echo","arguments":{"message":"bench"}}}`)
			if !bytes.Contains(data, []byte("Echo: bench")) {
				b.Fatalf("answer %s", data)
			}
		}
	})

	// The SDK alone, without this package's wrapper.
	b.Run("sdk", func(b *testing.B) {
		ctx := context.Background()
		mc := sdk.NewClient(&sdk.Implementation{Name: "bench", Version: "0"}, &sdk.ClientOptions{Capabilities: &sdk.ClientCapabilities{}})
		cs, err := mc.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: &http.Client{}, DisableStandaloneSSE: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer cs.Close()
		params := &sdk.CallToolParams{Name: "echo", Arguments: args}
		defer goCPU(b)()
		for b.Loop() {
			res, err := cs.CallTool(ctx, params)
			if err != nil || res.IsError {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})

	for _, bc := range []struct {
		name string
		hc   func() *http.Client
	}{
		{"client", func() *http.Client { return &http.Client{} }},
		{"client_egress", func() *http.Client { return egressClient(b) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := mustNew(b, Server{URL: srv.URL, HTTPClient: bc.hc()})
			ctx := context.Background()
			if _, err := c.CallTool(ctx, "echo", args); err != nil {
				b.Fatal(err)
			}
			defer goCPU(b)()
			for b.Loop() {
				res, err := c.CallTool(ctx, "echo", args)
				if err != nil || res.Text != "Echo: bench" {
					b.Fatalf("%+v, %v", res, err)
				}
			}
		})
	}
}
