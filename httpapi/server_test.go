package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
	"github.com/hyponema/hyponema/conversation"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/httpapi"
	"github.com/hyponema/hyponema/internal/enginetest"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/local"
	"github.com/hyponema/hyponema/seal"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/tool"
	"github.com/hyponema/hyponema/tool/httptool"
	"github.com/hyponema/hyponema/webhook"
)

// testServer is the real HTTP API over a real database, served on loopback.
type testServer struct {
	t      testing.TB
	db     *store.DB
	srv    *httpapi.Server
	url    string
	engine *conversation.Engine
	models *llm.Router
	tokens *clienttoken.Keyring
}

// tenant is a workspace and one of its API keys.
type tenant struct {
	ws  string
	key string
}

// newTestServer serves the API over db; configure, if given, changes the
// server before it serves its first request.
func newTestServer(t testing.TB, db *store.DB, configure ...func(*httpapi.Server)) *testServer {
	models := llm.NewRouter()
	models.Register("local", local.New())
	e := enginetest.Start(t, db, models, func(e *conversation.Engine) { e.FlushInterval = 20 * time.Millisecond })
	key, err := clienttoken.DeriveKey("test", []byte(strings.Repeat("s", 32)), "client tokens")
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := clienttoken.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	s := httpapi.NewServer(nil)
	s.Tokens = tokens
	s.Engine = e
	s.Sessions = e.Sessions
	s.Messages = e.Messages
	s.Workspaces = store.NewWorkspaceService(db)
	s.APIKeys = store.NewAPIKeyService(db)
	s.Agents = store.NewAgentService(db)
	s.Personas = store.NewPersonaService(db)
	s.Idempotency = store.NewIdempotencyService(db)
	hooks := store.NewWebhookService(db)
	box, err := seal.New(webhook.SealPurpose, seal.Key{ID: "k1", Secret: []byte(strings.Repeat("w", 32))})
	if err != nil {
		t.Fatal(err)
	}
	allow, err := egress.ParseAllow("127.0.0.1/32") // receivers in tests listen on loopback
	if err != nil {
		t.Fatal(err)
	}
	s.Webhooks = hooks
	s.WebhookAdmin = &webhook.Admin{Store: hooks, Box: box, Egress: allow}
	if s.Sealer, err = seal.New("idempotent responses", seal.Key{ID: "k1", Secret: []byte(strings.Repeat("i", 32))}); err != nil {
		t.Fatal(err)
	}
	s.Events = hooks
	secretBox, err := seal.New("workspace secrets", seal.Key{ID: "k1", Secret: []byte(strings.Repeat("v", 32))})
	if err != nil {
		t.Fatal(err)
	}
	s.Secrets = store.NewSecretService(db, secretBox)
	s.Tools = store.NewToolService(db)
	// The real checker: templates and the egress guard (127.0.0.1 allowed,
	// 127.0.0.2 not). MCP sessions are never opened by a check.
	s.ToolChecker = &tool.Runner{HTTP: &httptool.Runner{Egress: allow}, Egress: allow}
	s.Knowledge = store.NewKnowledgeService(db)
	s.KnowledgeAgents = store.NewAgentService(db)
	s.Ready = db.Ping
	for _, c := range configure {
		c(s)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		_ = s.Close(context.Background()) // ends open event streams
		hs.Close()
	})
	return &testServer{t: t, db: db, srv: s, url: hs.URL, engine: e, models: models, tokens: tokens}
}

// newTenant creates a workspace and a key directly in the store.
func (ts *testServer) newTenant(name string) tenant {
	ts.t.Helper()
	ctx := context.Background()
	w := &hyponema.Workspace{Name: name}
	if err := store.NewWorkspaceService(ts.db).CreateWorkspace(ctx, w); err != nil {
		ts.t.Fatal(err)
	}
	secret, err := store.NewAPIKeyService(ts.db).CreateAPIKey(ctx, &hyponema.APIKey{WorkspaceID: w.ID, Name: "test"})
	if err != nil {
		ts.t.Fatal(err)
	}
	return tenant{ws: w.ID, key: secret}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// str returns a top-level string field of a JSON object response.
func (r *response) str(t testing.TB, field string) string {
	t.Helper()
	s, _ := r.json(t)[field].(string)
	return s
}

// do sends a request with the key (if any) and a raw body (if any).
func (ts *testServer) do(method, path, key, body string, headers ...string) *response {
	ts.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, ts.url+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (ts *testServer) must(want int, method, path, key, body string, headers ...string) *response {
	ts.t.Helper()
	r := ts.do(method, path, key, body, headers...)
	if r.status != want {
		ts.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.body)
	}
	return r
}

// checkError asserts the API's error shape and kind.
// checkFieldError checks that r is a validation error of status whose
// first field error is at loc (its JSON, e.g. ["body","url"]).
func checkFieldError(t testing.TB, r *response, status int, loc string) map[string]any {
	t.Helper()
	m := checkError(t, r, status, "validation_error")
	errs, _ := m["errors"].([]any)
	if len(errs) == 0 {
		t.Fatalf("no field errors: %s", r.body)
	}
	if got, _ := json.Marshal(errs[0].(map[string]any)["loc"]); string(got) != loc {
		t.Fatalf("loc %s, want %s: %s", got, loc, r.body)
	}
	return m
}

// foreignRoute is a request about another workspace's resources: {ws} in
// its path stands for the workspace it is sent to; contentType, if set,
// replaces the JSON one.
type foreignRoute struct{ method, path, body, contentType string }

// checkForeign sends each route with key, in each of workspaces, and checks
// that the answer is the contract's 404; check, if given, looks further
// at each such answer.
func checkForeign(t *testing.T, ts *testServer, key string, workspaces []string, routes []foreignRoute, check func(path string, r *response)) {
	t.Helper()
	for _, ws := range workspaces {
		for _, rt := range routes {
			path := strings.ReplaceAll(rt.path, "{ws}", ws)
			var headers []string
			if rt.contentType != "" {
				headers = []string{"Content-Type", rt.contentType}
			}
			r := ts.do(rt.method, path, key, rt.body, headers...)
			if r.status != 404 {
				t.Errorf("%s %s with another workspace's key: status %d, want 404: %s", rt.method, path, r.status, r.body)
				continue
			}
			checkError(t, r, 404, "not_found")
			if check != nil {
				check(path, r)
			}
		}
	}
}

func checkError(t testing.TB, r *response, status int, kind string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	m := r.json(t)
	if m["error_kind"] != kind {
		t.Errorf("error_kind %v, want %s: %s", m["error_kind"], kind, r.body)
	}
	if d, _ := m["detail"].(string); d == "" {
		t.Errorf("error without detail: %s", r.body)
	}
	// A replayed response keeps the request_id of the request that made it.
	replayed := r.header.Get("Idempotent-Replayed") == "true"
	if id, _ := m["request_id"].(string); id == "" || (!replayed && id != r.header.Get("X-Request-Id")) {
		t.Errorf("request_id %q does not match X-Request-Id %q", id, r.header.Get("X-Request-Id"))
	}
	// Markers of SQL, driver errors and stack traces; specific enough not
	// to occur by chance in the random tail of an ID.
	for _, leak := range []string{"SELECT ", "INSERT ", "UPDATE ", "SQLSTATE", "sqlite3", "SQL logic", "pgconn", "goroutine ", ".go:"} {
		if bytes.Contains(r.body, []byte(leak)) {
			t.Errorf("error body leaks %q: %s", leak, r.body)
		}
	}
	return m
}
