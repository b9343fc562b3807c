package tool_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/conversation"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/internal/enginetest"
	"github.com/hyponema/hyponema/internal/mcptest"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/mcp"
	"github.com/hyponema/hyponema/seal"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
	"github.com/hyponema/hyponema/tool"
	"github.com/hyponema/hyponema/tool/httptool"
)

// env is the engine with the real tool runner: HTTP tools through
// httptool, MCP tools through package mcp, both behind the egress guard
// (which allows 127.0.0.1 only), workspace secrets sealed in the store.
type env struct {
	t       *testing.T
	db      *store.DB
	e       *conversation.Engine
	runner  *tool.Runner
	llm     *llmtest.OpenAIServer
	secrets *store.SecretService
	ws      string
	log     *bytes.Buffer
	logMu   *sync.Mutex
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func newEnv(t *testing.T) *env {
	db := storetest.MustOpenSQLite(t)
	policy, err := egress.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	box, _ := seal.New("workspace secrets", seal.Key{ID: "k1", Secret: bytes.Repeat([]byte("s"), 32)})
	secrets := store.NewSecretService(db, box)
	var buf bytes.Buffer
	mu := &sync.Mutex{}
	logger := slog.New(slog.NewTextHandler(syncWriter{mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pool := &mcp.Pool{}
	t.Cleanup(func() { _ = pool.Close() })
	runner := &tool.Runner{HTTP: &httptool.Runner{Egress: policy, Secrets: secrets, Logger: logger}, MCP: pool, Egress: policy, Secrets: secrets}
	fake := llmtest.NewOpenAIServer(t)
	models := llm.NewRouter()
	models.Register("openai", openai.New(openai.Config{APIKey: "sk-test", BaseURL: fake.URL()}))
	e := enginetest.Start(t, db, models, func(e *conversation.Engine) {
		e.Tools, e.WorkspaceEvents, e.Logger, e.SweepInterval = runner, store.NewWebhookService(db), logger, time.Hour
	})
	w := &hyponema.Workspace{Name: "tools"}
	if err := store.NewWorkspaceService(db).CreateWorkspace(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, e: e, runner: runner, llm: fake, secrets: secrets, ws: w.ID, log: &buf, logMu: mu}
}

func (v *env) logged() string {
	v.logMu.Lock()
	defer v.logMu.Unlock()
	return v.log.String()
}

// agent publishes an agent with the tools attached and starts a session.
func (v *env) session(tools ...*hyponema.Tool) *hyponema.Session {
	v.t.Helper()
	ctx := context.Background()
	agents, ts := store.NewAgentService(v.db), store.NewToolService(v.db)
	a := &hyponema.Agent{WorkspaceID: v.ws, AgentConfig: hyponema.NewAgentConfig()}
	a.Name, a.Model = "agent", "openai/gpt-test"
	if err := agents.CreateAgent(ctx, a); err != nil {
		v.t.Fatal(err)
	}
	for _, tl := range tools {
		tl.WorkspaceID = v.ws
		if err := ts.CreateTool(ctx, tl); err != nil {
			v.t.Fatal(err)
		}
		if err := ts.AttachTool(ctx, v.ws, a.ID, tl.ID); err != nil {
			v.t.Fatal(err)
		}
	}
	ver, err := agents.CreateAgentVersion(ctx, v.ws, a.ID, "")
	if err != nil {
		v.t.Fatal(err)
	}
	if _, err := agents.PublishAgentVersion(ctx, v.ws, a.ID, ver.ID); err != nil {
		v.t.Fatal(err)
	}
	s, err := v.e.CreateSession(ctx, conversation.NewSession{WorkspaceID: v.ws, AgentID: a.ID})
	if err != nil {
		v.t.Fatal(err)
	}
	return s
}

// turn sends text; the fake model makes calls first, then answers with
// the tool results it got, which turn returns by call ID.
func (v *env) turn(s *hyponema.Session, calls ...hyponema.ToolCall) (map[string]string, []llmtest.OpenAITool) {
	v.t.Helper()
	var mu sync.Mutex
	results := map[string]string{}
	var offered []llmtest.OpenAITool
	v.llm.Handle(func(req *llmtest.OpenAIRequest) llmtest.Reply {
		mu.Lock()
		defer mu.Unlock()
		var gotResults bool
		for _, m := range req.Messages {
			if m.Role == "tool" {
				results[m.ToolCallID] = m.Content
				gotResults = true
			}
		}
		if !gotResults {
			offered = req.Tools
			return llmtest.Reply{ToolCalls: calls}
		}
		return llmtest.Text("done")
	})
	t, err := v.e.Send(context.Background(), v.ws, s.ID, "go")
	if err != nil {
		v.t.Fatal(err)
	}
	if _, err := t.Wait(context.Background()); err != nil {
		v.t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return results, offered
}

func mcpTool(url string, names ...string) *hyponema.Tool {
	return &hyponema.Tool{Name: "everything", Type: hyponema.ToolMCP, MCP: &hyponema.MCPToolConfig{URL: url, ToolNames: names}}
}

// TestMCPToolsInChat: the model is offered a real MCP server's tools,
// calls two at once in a turn, and after the server restarts mid-session
// the next call succeeds.
func TestMCPToolsInChat(t *testing.T) {
	srv := mcptest.Start(t)
	v := newEnv(t)
	s := v.session(mcpTool(srv.URL, "echo", "get-sum"))

	results, offered := v.turn(s,
		hyponema.ToolCall{ID: "c1", Name: "echo", Arguments: `{"message":"hello from the model"}`},
		hyponema.ToolCall{ID: "c2", Name: "get-sum", Arguments: `{"a":2,"b":40}`},
		hyponema.ToolCall{ID: "c3", Name: "echo", Arguments: `{"message":5}`}, // fails the server's schema
	)
	var names []string
	for _, o := range offered {
		names = append(names, o.Function.Name)
	}
	if strings.Join(names, ",") != "echo,get-sum" {
		t.Errorf("offered %v, want the two named tools only", names)
	}
	if !strings.Contains(results["c1"], "hello from the model") || !strings.Contains(results["c2"], "42") {
		t.Errorf("results %v", results)
	}
	if !strings.Contains(results["c3"], "invalid arguments") {
		t.Errorf("bad arguments: %q", results["c3"])
	}

	srv.Kill()
	srv.Start()
	results, _ = v.turn(s, hyponema.ToolCall{ID: "c4", Name: "echo", Arguments: `{"message":"after the restart"}`})
	if !strings.Contains(results["c4"], "after the restart") {
		t.Errorf("after a restart: %q", results["c4"])
	}

	// Discover: the server's tools, filtered.
	tl := mcpTool(srv.URL, "echo")
	tl.WorkspaceID = v.ws
	defs, err := v.runner.DiscoverTools(context.Background(), tl)
	if err != nil || len(defs) != 1 || defs[0].Name != "echo" || len(defs[0].Parameters) == 0 {
		t.Errorf("discover %+v %v", defs, err)
	}
	all := mcpTool(srv.URL)
	all.WorkspaceID = v.ws
	if defs, err := v.runner.DiscoverTools(context.Background(), all); err != nil || len(defs) < 5 {
		t.Errorf("discover all: %d tools, %v", len(defs), err)
	}
}

// TestHTTPToolInChat: an HTTP tool with a workspace secret in a header; the
// secret reaches the API and nowhere else.
func TestHTTPToolInChat(t *testing.T) {
	const secret = "sk-live-very-secret-value"
	var gotAuth string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"order":{"id":"`+strings.TrimPrefix(r.URL.Path, "/orders/")+`","status":"shipped"},"internal":"x"}`)
	}))
	defer api.Close()
	v := newEnv(t)
	if _, _, err := v.secrets.SetSecret(context.Background(), v.ws, "CRM_TOKEN", secret); err != nil {
		t.Fatal(err)
	}
	tl := &hyponema.Tool{Name: "lookup_order", Description: "Look up an order", Type: hyponema.ToolHTTP,
		Parameters: json.RawMessage(`{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}`),
		HTTP: &hyponema.HTTPToolConfig{Method: "GET", URL: api.URL + "/orders/{{order_id}}",
			Headers: map[string]string{"Authorization": "Bearer {{secrets.CRM_TOKEN}}"}, ResponseFields: []string{"order.status"}}}
	s := v.session(tl)
	results, _ := v.turn(s, hyponema.ToolCall{ID: "c1", Name: "lookup_order", Arguments: `{"order_id":"1001"}`})
	if gotAuth != "Bearer "+secret {
		t.Errorf("the API got Authorization %q", gotAuth)
	}
	if !strings.Contains(results["c1"], "shipped") || strings.Contains(results["c1"], "internal") {
		t.Errorf("the model got %q", results["c1"])
	}
	if strings.Contains(v.logged(), secret) {
		t.Error("the secret is in the log")
	}
	evs, _ := store.NewEventService(v.db).ListEvents(context.Background(), s.ID, 0, 1000)
	for _, ev := range evs {
		if strings.Contains(string(ev.Data), secret) {
			t.Errorf("the secret is in a %s event", ev.Type)
		}
	}
}

// TestEgressRefusesTools: a tool URL outside the allow list (127.0.0.2) is
// refused when saved and when called; nothing reaches it.
func TestEgressRefusesTools(t *testing.T) {
	hits := 0
	target := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ })}
	ln, err := listen("127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2: %v", err)
	}
	go func() { _ = target.Serve(ln) }()
	defer target.Close()
	url := "http://" + ln.Addr().String()

	v := newEnv(t)
	ctx := context.Background()
	httpT := &hyponema.Tool{WorkspaceID: v.ws, Name: "internal", Type: hyponema.ToolHTTP, Parameters: json.RawMessage(`{"type":"object"}`),
		HTTP: &hyponema.HTTPToolConfig{Method: "GET", URL: url + "/admin"}}
	mcpT := mcpTool(url + "/mcp")
	mcpT.WorkspaceID = v.ws
	for _, tl := range []*hyponema.Tool{httpT, mcpT} {
		tl.Normalize()
		if err := v.runner.CheckTool(ctx, tl); hyponema.ErrorCode(err) != hyponema.EINVALID {
			t.Errorf("CheckTool(%s) = %v, want EINVALID", tl.Type, err)
		}
	}
	// Saved anyway (say, before the allow list changed): refused at the call.
	s := v.session(httpT)
	results, _ := v.turn(s, hyponema.ToolCall{ID: "c1", Name: "internal", Arguments: `{}`})
	if !strings.Contains(results["c1"], "refused") {
		t.Errorf("the model got %q", results["c1"])
	}
	if _, err := v.runner.DiscoverTools(ctx, mcpT); err == nil {
		t.Error("discovering a server at 127.0.0.2 worked")
	}
	if hits != 0 {
		t.Fatalf("%d requests reached 127.0.0.2", hits)
	}
	p, _ := store.NewWebhookService(v.db).ListWorkspaceEvents(ctx, v.ws, hyponema.EventFilter{Type: hyponema.EventToolFailed}, hyponema.PageOptions{})
	if len(p.Data) != 1 {
		t.Errorf("%d tool.failed events, want 1", len(p.Data))
	}
}

// TestStdioServer: a server that the operator runs on the host over stdio,
// named by a workspace's tool; an unknown name is refused when saved.
func TestStdioServer(t *testing.T) {
	js := mcptest.EverythingJS(t)
	v := newEnv(t)
	v.runner.Stdio = map[string]mcp.Command{"everything": {Path: "node", Args: []string{js, "stdio"}}}
	t.Cleanup(func() { _ = v.runner.Close() })
	stdioTool := func(server string) *hyponema.Tool {
		return &hyponema.Tool{WorkspaceID: v.ws, Name: "local_everything", Type: hyponema.ToolMCP,
			MCP: &hyponema.MCPToolConfig{Transport: hyponema.MCPStdio, Server: server, ToolNames: []string{"echo"}}}
	}
	unknown := stdioTool("nope")
	unknown.Normalize()
	if err := v.runner.CheckTool(context.Background(), unknown); hyponema.ErrorCode(err) != hyponema.EINVALID {
		t.Errorf("an unconfigured server: %v", err)
	}
	bad := stdioTool("everything")
	bad.MCP.URL = "https://example.com/mcp"
	if err := bad.Validate(); hyponema.ErrorCode(err) != hyponema.EINVALID {
		t.Errorf("stdio with a URL: %v", err)
	}

	s := v.session(stdioTool("everything"))
	results, offered := v.turn(s, hyponema.ToolCall{ID: "c1", Name: "echo", Arguments: `{"message":"over stdio"}`})
	if len(offered) != 1 || !strings.Contains(results["c1"], "over stdio") {
		t.Errorf("offered %d tools; result %q", len(offered), results["c1"])
	}
}
