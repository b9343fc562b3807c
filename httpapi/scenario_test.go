package httpapi_test

import (
	"strings"
	"testing"

	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// scenario is one call of a table-driven API story. Later rows may use
// values that earlier rows saved, written {name} in path and body.
type scenario struct {
	name     string
	method   string
	path     string
	body     string
	key      string // "" uses tenant A's key; "-" sends none
	status   int
	kind     string            // error_kind, for errors
	contains []string          // substrings of the body
	absent   []string          // substrings the body must not have
	save     map[string]string // var name → top-level field of the response
}

func runScenarios(t *testing.T, ts *testServer, vars map[string]string, rows []scenario) {
	t.Helper()
	expand := func(s string) string {
		for k, v := range vars {
			s = strings.ReplaceAll(s, "{"+k+"}", v)
		}
		return s
	}
	for _, sc := range rows {
		key := vars["key"]
		switch sc.key {
		case "-":
			key = ""
		case "":
		default:
			key = expand(sc.key)
		}
		path, body := expand(sc.path), expand(sc.body)
		r := ts.do(sc.method, path, key, body)
		if r.status != sc.status {
			t.Fatalf("%s: %s %s: status %d, want %d: %s", sc.name, sc.method, path, r.status, sc.status, r.body)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", sc.name)
		}
		if sc.kind != "" {
			checkError(t, r, sc.status, sc.kind)
		}
		for _, c := range sc.contains {
			if !strings.Contains(string(r.body), expand(c)) {
				t.Errorf("%s: body lacks %q: %s", sc.name, expand(c), r.body)
			}
		}
		for _, c := range sc.absent {
			if strings.Contains(string(r.body), expand(c)) {
				t.Errorf("%s: body has %q: %s", sc.name, expand(c), r.body)
			}
		}
		for name, field := range sc.save {
			v := r.str(t, field)
			if v == "" {
				t.Fatalf("%s: no %q in %s", sc.name, field, r.body)
			}
			vars[name] = v
		}
	}
}

// TestAPIScenarios walks every route through a newcomer's story and the
// errors around it, on SQLite and PostgreSQL.
func TestAPIScenarios(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("Acme")
		vars := map[string]string{"ws": a.ws, "key": a.key}
		runScenarios(t, ts, vars, []scenario{
			{name: "health", method: "GET", path: "/healthz", key: "-", status: 200, contains: []string{`"status":"ok"`}},
			{name: "ready", method: "GET", path: "/readyz", key: "-", status: 200},
			{name: "openapi", method: "GET", path: "/openapi.json", key: "-", status: 200, contains: []string{`"openapi":"3.1.0"`, `/agents/{id}/publish`}},
			{name: "no credential", method: "GET", path: "/workspaces", key: "-", status: 401, kind: "authentication_required"},
			{name: "unknown key", method: "GET", path: "/workspaces", key: "hyp_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", status: 401, kind: "authentication_required"},
			{name: "list workspaces", method: "GET", path: "/workspaces", status: 200, contains: []string{`"id":"{ws}"`, `"has_more":false`}},
			{name: "get workspace", method: "GET", path: "/workspaces/{ws}", status: 200, contains: []string{`"name":"Acme"`}},
			{name: "unknown route", method: "GET", path: "/nope", status: 404, kind: "not_found"},

			// Personas.
			{name: "create persona", method: "POST", path: "/workspaces/{ws}/personas", body: `{"name":"Calm","instructions":"Speak calmly.","description":"default voice"}`,
				status: 201, contains: []string{`"id":"per_`, `"published_version_id":""`}, save: map[string]string{"persona": "id"}},
			{name: "persona missing name", method: "POST", path: "/workspaces/{ws}/personas", body: `{}`, status: 422, kind: "validation_error"},
			{name: "get persona", method: "GET", path: "/workspaces/{ws}/personas/{persona}", status: 200, contains: []string{`"instructions":"Speak calmly."`}},
			{name: "list personas", method: "GET", path: "/workspaces/{ws}/personas", status: 200, contains: []string{`"id":"{persona}"`}},
			{name: "patch persona", method: "PATCH", path: "/workspaces/{ws}/personas/{persona}", body: `{"instructions":"Speak warmly."}`, status: 200, contains: []string{`"instructions":"Speak warmly."`, `"name":"Calm"`}},
			{name: "persona version 1", method: "POST", path: "/workspaces/{ws}/personas/{persona}/versions", body: `{"note":"first"}`, status: 201,
				contains: []string{`"number":1`, `"note":"first"`, `"instructions":"Speak warmly."`}, save: map[string]string{"perv1": "id"}},
			{name: "persona version 2, no body", method: "POST", path: "/workspaces/{ws}/personas/{persona}/versions", status: 201, contains: []string{`"number":2`}, save: map[string]string{"perv2": "id"}},
			{name: "list persona versions", method: "GET", path: "/workspaces/{ws}/personas/{persona}/versions?order=asc", status: 200, contains: []string{`"id":"{perv1}"`, `"id":"{perv2}"`}},
			{name: "get persona version", method: "GET", path: "/workspaces/{ws}/personas/{persona}/versions/{perv1}", status: 200, contains: []string{`"persona_id":"{persona}"`}},
			{name: "publish persona v1", method: "POST", path: "/workspaces/{ws}/personas/{persona}/publish", body: `{"version_id":"{perv1}"}`, status: 200, contains: []string{`"published_version_id":"{perv1}"`}},
			{name: "publish persona v2", method: "POST", path: "/workspaces/{ws}/personas/{persona}/publish", body: `{"version_id":"{perv2}"}`, status: 200, contains: []string{`"published_version_id":"{perv2}"`}},
			{name: "rollback persona", method: "POST", path: "/workspaces/{ws}/personas/{persona}/rollback", body: `{}`, status: 200, contains: []string{`"published_version_id":"{perv1}"`}},
			{name: "rollback persona past the start", method: "POST", path: "/workspaces/{ws}/personas/{persona}/rollback", status: 409, kind: "conflict"},

			// Agents.
			{name: "create agent", method: "POST", path: "/workspaces/{ws}/agents",
				body:   `{"name":"Support","instructions":"Help with orders.","first_message":"Hi!","persona_id":"{persona}","allowed_origins":["https://Shop.example.com/"],"metadata":{"team":"cx"}}`,
				status: 201, contains: []string{`"id":"agt_`, `"model":"local/hyponema-demo"`, `"temperature":0.7`, `"allowed_origins":["https://shop.example.com"]`, `"team":"cx"`},
				save: map[string]string{"agent": "id"}},
			{name: "create agent with defaults", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"Bare"}`, status: 201,
				contains: []string{`"language":"en"`, `"max_output_tokens":1024`, `"metadata":{}`, `"allowed_origins":[]`}, save: map[string]string{"agent2": "id"}},
			{name: "agent unknown field", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","color":"red"}`, status: 422, kind: "validation_error", contains: []string{`"extra_forbidden"`, `"color"`}},
			{name: "agent missing name", method: "POST", path: "/workspaces/{ws}/agents", body: `{"model":"openai/gpt-4o-mini"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","name"]`, `"type":"missing"`, `name: is required`}},
			{name: "agent blank name", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"   "}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","name"]`}},
			{name: "agent bad model", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","model":"gpt4"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","model"]`}},
			{name: "agent unknown provider", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","model":"acme/big"}`, status: 422, kind: "validation_error", contains: []string{`unknown provider`}},
			{name: "agent bad temperature", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","temperature":3}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","temperature"]`}},
			{name: "agent wrong type", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":42}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","name"]`}},
			{name: "agent bad origin", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","allowed_origins":["https://a.example/path"]}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","allowed_origins","0"]`}},
			{name: "agent bad language", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","language":"not a tag"}`, status: 422, kind: "validation_error"},
			{name: "agent unknown persona", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"x","persona_id":"per_01jc2x5w3n0000000000000000"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","persona_id"]`}},
			{name: "malformed JSON", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":`, status: 400, kind: "malformed_json"},
			{name: "JSON not an object", method: "POST", path: "/workspaces/{ws}/agents", body: `[1,2]`, status: 422, kind: "validation_error"},
			{name: "get agent", method: "GET", path: "/workspaces/{ws}/agents/{agent}", status: 200, contains: []string{`"name":"Support"`, `"persona_id":"{persona}"`}},
			{name: "get missing agent", method: "GET", path: "/workspaces/{ws}/agents/agt_01jc2x5w3n0000000000000000", status: 404, kind: "not_found"},
			{name: "list agents", method: "GET", path: "/workspaces/{ws}/agents?limit=1", status: 200, contains: []string{`"has_more":true`, `"next_cursor":"`, `"id":"{agent2}"`}},
			{name: "list agents bad limit", method: "GET", path: "/workspaces/{ws}/agents?limit=500", status: 422, kind: "validation_error", contains: []string{`"loc":["query","limit"]`}},
			{name: "list agents bad cursor", method: "GET", path: "/workspaces/{ws}/agents?cursor=%21%21", status: 422, kind: "validation_error"},
			{name: "patch agent", method: "PATCH", path: "/workspaces/{ws}/agents/{agent}", body: `{"temperature":0.2,"model":"openai/gpt-4o-mini"}`, status: 200,
				contains: []string{`"temperature":0.2`, `"model":"openai/gpt-4o-mini"`, `"name":"Support"`}},
			{name: "patch agent null leaves the field", method: "PATCH", path: "/workspaces/{ws}/agents/{agent}", body: `{"name":null}`, status: 200, contains: []string{`"name":"Support"`}},
			{name: "field names are case-sensitive", method: "PATCH", path: "/workspaces/{ws}/agents/{agent}", body: `{"NAME":"x"}`, status: 422, kind: "validation_error", contains: []string{`"extra_forbidden"`}},
			{name: "patch agent unknown field", method: "PATCH", path: "/workspaces/{ws}/agents/{agent}", body: `{"id":"agt_x"}`, status: 422, kind: "validation_error"},
			{name: "publish before any version", method: "POST", path: "/workspaces/{ws}/agents/{agent}/publish", body: `{"version_id":"agv_01jc2x5w3n0000000000000000"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","version_id"]`}},
			{name: "rollback with nothing published", method: "POST", path: "/workspaces/{ws}/agents/{agent}/rollback", status: 409, kind: "conflict"},
			{name: "agent version 1", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{}`, status: 201,
				contains: []string{`"number":1`, `"agent_id":"{agent}"`, `"persona_version_id":"{perv1}"`, `"temperature":0.2`}, save: map[string]string{"agv1": "id"}},
			{name: "patch after snapshot", method: "PATCH", path: "/workspaces/{ws}/agents/{agent}", body: `{"instructions":"Help with returns."}`, status: 200},
			{name: "agent version 2", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{"note":"returns"}`, status: 201, contains: []string{`"number":2`, `"instructions":"Help with returns."`}, save: map[string]string{"agv2": "id"}},
			{name: "version 1 is immutable", method: "GET", path: "/workspaces/{ws}/agents/{agent}/versions/{agv1}", status: 200, contains: []string{`"instructions":"Help with orders."`}},
			{name: "list agent versions", method: "GET", path: "/workspaces/{ws}/agents/{agent}/versions", status: 200, contains: []string{`"id":"{agv2}"`, `"id":"{agv1}"`}},
			{name: "version of another agent", method: "GET", path: "/workspaces/{ws}/agents/{agent2}/versions/{agv1}", status: 404, kind: "not_found"},
			{name: "publish v1", method: "POST", path: "/workspaces/{ws}/agents/{agent}/publish", body: `{"version_id":"{agv1}"}`, status: 200, contains: []string{`"published_version_id":"{agv1}"`}},
			{name: "publish v2", method: "POST", path: "/workspaces/{ws}/agents/{agent}/publish", body: `{"version_id":"{agv2}"}`, status: 200, contains: []string{`"published_version_id":"{agv2}"`}},
			{name: "publish another agent's version", method: "POST", path: "/workspaces/{ws}/agents/{agent2}/publish", body: `{"version_id":"{agv1}"}`, status: 422, kind: "validation_error"},
			{name: "publish without version", method: "POST", path: "/workspaces/{ws}/agents/{agent}/publish", body: `{}`, status: 422, kind: "validation_error", contains: []string{`"type":"missing"`}},
			{name: "rollback agent", method: "POST", path: "/workspaces/{ws}/agents/{agent}/rollback", body: `{}`, status: 200, contains: []string{`"published_version_id":"{agv1}"`}},
			{name: "rollback agent past the start", method: "POST", path: "/workspaces/{ws}/agents/{agent}/rollback", body: `{}`, status: 409, kind: "conflict"},
			{name: "persona in use", method: "DELETE", path: "/workspaces/{ws}/personas/{persona}", status: 409, kind: "conflict"},
			{name: "detach persona", method: "PATCH", path: "/workspaces/{ws}/agents/{agent}", body: `{"persona_id":""}`, status: 200, contains: []string{`"persona_id":""`}},
			{name: "delete persona", method: "DELETE", path: "/workspaces/{ws}/personas/{persona}", status: 204},
			{name: "deleted persona is gone", method: "GET", path: "/workspaces/{ws}/personas/{persona}", status: 404, kind: "not_found"},
			{name: "pinned persona version survives", method: "GET", path: "/workspaces/{ws}/agents/{agent}/versions/{agv1}", status: 200, contains: []string{`"persona_version_id":"{perv1}"`}},
			{name: "delete agent", method: "DELETE", path: "/workspaces/{ws}/agents/{agent2}", status: 204},
			{name: "deleted agent is gone", method: "GET", path: "/workspaces/{ws}/agents/{agent2}", status: 404, kind: "not_found"},
			{name: "delete agent twice", method: "DELETE", path: "/workspaces/{ws}/agents/{agent2}", status: 404, kind: "not_found"},

			// API keys.
			{name: "create key", method: "POST", path: "/workspaces/{ws}/api-keys", body: `{"name":"backend"}`, status: 201,
				contains: []string{`"key":"hyp_`, `"prefix":"hyp_`}, save: map[string]string{"key2id": "id", "key2": "key"}},
			{name: "new key works", method: "GET", path: "/workspaces", key: "{key2}", status: 200},
			{name: "list keys hides secrets", method: "GET", path: "/workspaces/{ws}/api-keys", status: 200, contains: []string{`"id":"{key2id}"`}, absent: []string{"{key2}", `"key":`}},
			{name: "get key hides secret", method: "GET", path: "/workspaces/{ws}/api-keys/{key2id}", status: 200, absent: []string{"{key2}"}},
			{name: "key missing name", method: "POST", path: "/workspaces/{ws}/api-keys", body: `{}`, status: 422, kind: "validation_error"},
			{name: "revoke key", method: "DELETE", path: "/workspaces/{ws}/api-keys/{key2id}", status: 200, contains: []string{`"revoked_at":"`}},
			{name: "revoked key fails at once", method: "GET", path: "/workspaces", key: "{key2}", status: 401, kind: "authentication_required"},
			{name: "revoke twice", method: "DELETE", path: "/workspaces/{ws}/api-keys/{key2id}", status: 200},
		})
	})
}

// TestAPIRequestHygiene covers what every request shares: request IDs, body
// limits, content types and methods.
func TestAPIRequestHygiene(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ts := newTestServer(t, db)
	a := ts.newTenant("Acme")
	path := "/workspaces/" + a.ws + "/agents"

	t.Run("client request id is echoed", func(t *testing.T) {
		r := ts.must(200, "GET", "/workspaces", a.key, "", "X-Request-Id", "trace-123")
		if got := r.header.Get("X-Request-Id"); got != "trace-123" {
			t.Fatalf("X-Request-Id %q", got)
		}
	})
	t.Run("unsafe request id is replaced", func(t *testing.T) {
		r := ts.must(200, "GET", "/workspaces", a.key, "", "X-Request-Id", "bad id\twith spaces")
		if got := r.header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
			t.Fatalf("X-Request-Id %q", got)
		}
	})
	t.Run("over 1 MiB is 413", func(t *testing.T) {
		big := `{"name":"x","instructions":"` + strings.Repeat("a", 1<<20) + `"}`
		checkError(t, ts.do("POST", path, a.key, big), 413, "payload_too_large")
	})
	t.Run("over 1 MiB with idempotency key is 413", func(t *testing.T) {
		big := `{"name":"x","instructions":"` + strings.Repeat("a", 1<<20) + `"}`
		checkError(t, ts.do("POST", path, a.key, big, "Idempotency-Key", "big"), 413, "payload_too_large")
	})
	t.Run("instructions over the limit are 422", func(t *testing.T) {
		long := `{"name":"x","instructions":"` + strings.Repeat("a", 100_001) + `"}`
		checkError(t, ts.do("POST", path, a.key, long), 422, "validation_error")
	})
	t.Run("wrong content type is 415", func(t *testing.T) {
		checkError(t, ts.do("POST", path, a.key, `{"name":"x"}`, "Content-Type", "text/plain"), 415, "unsupported_media_type")
	})
	t.Run("missing body is an error", func(t *testing.T) {
		r := ts.do("POST", path, a.key, "")
		if r.status != 400 && r.status != 422 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		checkError(t, r, r.status, map[int]string{400: "malformed_json", 422: "validation_error"}[r.status])
	})
	t.Run("invalid UTF-8 does not crash", func(t *testing.T) {
		r := ts.do("POST", path, a.key, "{\"name\":\"\xff\xfe\"}")
		if r.status >= 500 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("unknown method on a known path", func(t *testing.T) {
		r := ts.do("PUT", path, a.key, `{}`)
		if r.status != 404 && r.status != 405 {
			t.Fatalf("status %d", r.status)
		}
	})
	t.Run("bearer with lower-case scheme", func(t *testing.T) {
		ts.must(200, "GET", "/workspaces", "", "", "Authorization", "bearer "+a.key)
	})
	t.Run("basic auth is refused", func(t *testing.T) {
		checkError(t, ts.do("GET", "/workspaces", "", "", "Authorization", "Basic Zm9vOmJhcg=="), 401, "authentication_required")
	})
}
