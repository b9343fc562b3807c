package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/httpapi"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

const (
	lookupOrder = `{"name":"lookup_order","description":"Look up an order","type":"http",
		"parameters":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]},
		"http":{"method":"GET","url":"https://api.example.com/orders/{{order_id}}","headers":{"Authorization":"Bearer {{secrets.CRM_TOKEN}}"}}}`
	everything = `{"name":"everything","description":"The everything server","type":"mcp",
		"mcp":{"url":"https://mcp.example.com/mcp","tool_names":["echo","now"]}}`
)

// fakeDiscoverer stands in for the MCP client: it offers two tools, and
// fails for servers whose URL says "down".
type fakeDiscoverer struct {
	mu    sync.Mutex
	asked []string // tool IDs
}

func (f *fakeDiscoverer) DiscoverTools(_ context.Context, t *hyponema.Tool) ([]hyponema.ToolDefinition, error) {
	f.mu.Lock()
	f.asked = append(f.asked, t.ID)
	f.mu.Unlock()
	if t.MCP == nil {
		return nil, fmt.Errorf("asked to discover an %s tool", t.Type)
	}
	if strings.Contains(t.MCP.URL, "down") {
		return nil, hyponema.Errorf(hyponema.EUNAVAILABLE, "The MCP server did not answer.")
	}
	return []hyponema.ToolDefinition{
		{Name: "echo", Description: "Repeats its input", Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}`)},
		{Name: "now", Description: "The current time"},
	}, nil
}

func (f *fakeDiscoverer) askedAbout() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

// TestToolLifecycle creates, lists, changes and deletes http and mcp tools.
func TestToolLifecycle(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		vars := map[string]string{"ws": a.ws, "key": a.key}
		runScenarios(t, ts, vars, []scenario{
			{name: "create http", method: "POST", path: "/workspaces/{ws}/tools", body: lookupOrder, status: 201, save: map[string]string{"http": "id"},
				contains: []string{`"id":"tool_`, `"type":"http"`, `"workspace_id":"{ws}"`, `"method":"GET"`, `"timeout_ms":10000`, `"max_response_bytes":65536`,
					`"parameters":{"type":"object","properties":{"order_id":{"type":"string"}},"required":["order_id"]}`,
					`"Authorization":"Bearer {{secrets.CRM_TOKEN}}"`}, absent: []string{`"mcp"`}},
			{name: "create mcp", method: "POST", path: "/workspaces/{ws}/tools", body: everything, status: 201, save: map[string]string{"mcp": "id"},
				contains: []string{`"type":"mcp"`, `"transport":"streamable_http"`, `"tool_names":["echo","now"]`, `"parameters":{"type":"object","properties":{}}`}, absent: []string{`"http"`}},
			{name: "name taken", method: "POST", path: "/workspaces/{ws}/tools", body: lookupOrder, status: 409, kind: "conflict", contains: []string{`"loc":["body","name"]`}},
			{name: "get", method: "GET", path: "/workspaces/{ws}/tools/{http}", status: 200, contains: []string{`"id":"{http}"`, `"name":"lookup_order"`}},
			{name: "list newest first", method: "GET", path: "/workspaces/{ws}/tools", status: 200, contains: []string{`"data":[{"id":"{mcp}"`, `"id":"{http}"`, `"has_more":false`}},
			{name: "list a page", method: "GET", path: "/workspaces/{ws}/tools?limit=1&order=asc", status: 200, contains: []string{`"id":"{http}"`, `"has_more":true`}, absent: []string{`{mcp}`}},

			{name: "rename", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"name":"find_order","description":"Find an order"}`, status: 200,
				contains: []string{`"name":"find_order"`, `"description":"Find an order"`, `"url":"https://api.example.com/orders/{{order_id}}"`}},
			{name: "same type", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"type":"http","http":{"url":"https://api.example.com/v2/orders/{{order_id}}"}}`, status: 200,
				contains: []string{`"url":"https://api.example.com/v2/orders/{{order_id}}"`, `"method":"POST"`, `"headers":{}`, `"name":"find_order"`}},
			{name: "parameters that drop an argument the URL uses", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"parameters":{"type":"object","properties":{"id":{"type":"integer"}}}}`, status: 422,
				contains: []string{`"loc":["body","http","url"]`, `order_id`}},
			{name: "new parameters", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"parameters":{"type":"object","properties":{"id":{"type":"integer"}}},"http":{"url":"https://api.example.com/v2/orders/{{id}}"}}`, status: 200,
				contains: []string{`"parameters":{"type":"object","properties":{"id":{"type":"integer"}}}`}},
			{name: "null leaves the field", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"parameters":null,"http":null,"description":"Orders"}`, status: 200,
				contains: []string{`"parameters":{"type":"object","properties":{"id":{"type":"integer"}}}`, `"url":"https://api.example.com/v2/orders/{{id}}"`, `"description":"Orders"`}},
			{name: "patch nothing", method: "PATCH", path: "/workspaces/{ws}/tools/{mcp}", body: `{}`, status: 200, contains: []string{`"name":"everything"`}},
			{name: "mcp config", method: "PATCH", path: "/workspaces/{ws}/tools/{mcp}", body: `{"mcp":{"url":"https://mcp.example.com/v2","headers":{"X-Key":"{{secrets.MCP_KEY}}"}}}`, status: 200,
				contains: []string{`"url":"https://mcp.example.com/v2"`, `"tool_names":[]`, `"X-Key":"{{secrets.MCP_KEY}}"`}},

			{name: "type cannot change", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"type":"mcp","mcp":{"url":"https://mcp.example.com/mcp"}}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","type"]`}},
			{name: "mcp config on an http tool", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"mcp":{"url":"https://mcp.example.com/mcp"}}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","mcp"]`}},
			{name: "http config on an mcp tool", method: "PATCH", path: "/workspaces/{ws}/tools/{mcp}", body: `{"http":{"url":"https://api.example.com/"}}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","http"]`}},
			{name: "rename to a taken name", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"name":"everything"}`, status: 409, kind: "conflict"},
			{name: "bad name", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"name":"find order"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","name"]`}},
			{name: "bad parameters", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"parameters":{"type":"array"}}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","parameters"]`}},
			{name: "unknown field", method: "PATCH", path: "/workspaces/{ws}/tools/{http}", body: `{"id":"tool_x"}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","id"]`}},
			{name: "refused patches changed nothing", method: "GET", path: "/workspaces/{ws}/tools/{http}", status: 200,
				contains: []string{`"name":"find_order"`, `"type":"http"`, `"parameters":{"type":"object","properties":{"id":{"type":"integer"}}}`}, absent: []string{`"mcp"`}},
			{name: "patch missing", method: "PATCH", path: "/workspaces/{ws}/tools/tool_01jc2x5w3n0000000000000000", body: `{"name":"x"}`, status: 404, kind: "not_found"},
			{name: "type on a missing tool", method: "PATCH", path: "/workspaces/{ws}/tools/tool_01jc2x5w3n0000000000000000", body: `{"type":"mcp"}`, status: 404, kind: "not_found"},

			{name: "delete", method: "DELETE", path: "/workspaces/{ws}/tools/{http}", status: 204},
			{name: "deleted is gone", method: "GET", path: "/workspaces/{ws}/tools/{http}", status: 404, kind: "not_found"},
			{name: "deleted is not listed", method: "GET", path: "/workspaces/{ws}/tools", status: 200, contains: []string{`"id":"{mcp}"`}, absent: []string{`{http}`}},
			{name: "delete twice", method: "DELETE", path: "/workspaces/{ws}/tools/{http}", status: 404, kind: "not_found"},
			{name: "the name is free again", method: "POST", path: "/workspaces/{ws}/tools", body: `{"name":"find_order","type":"http","http":{"url":"https://example.com/"}}`, status: 201},
			{name: "tool ID of another kind", method: "GET", path: "/workspaces/{ws}/tools/agt_01jc2x5w3n0000000000000000", status: 404, kind: "not_found"},
		})
	})
}

// TestToolValidation covers the fields of create, each with the loc of
// its error.
func TestToolValidation(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ts := newTestServer(t, db)
	a := ts.newTenant("A")
	base := "/workspaces/" + a.ws + "/tools"

	tool := func(fields string) string {
		return `{"name":"t","type":"http","http":{"url":"https://api.example.com/x"}` + fields + `}`
	}
	httpTool := func(cfg string) string { return `{"name":"t","type":"http","http":{` + cfg + `}}` }
	mcpTool := func(cfg string) string { return `{"name":"t","type":"mcp","mcp":{` + cfg + `}}` }
	headers := make([]string, hyponema.MaxToolHeaders+1)
	for i := range headers {
		headers[i] = fmt.Sprintf(`"X-H%d":"v"`, i)
	}
	tests := []struct {
		name   string
		body   string
		status int
		loc    string // the first error's loc, as JSON
	}{
		{name: "missing name", body: `{"type":"http","http":{"url":"https://api.example.com/"}}`, status: 422, loc: `["body","name"]`},
		{name: "bad name", body: `{"name":"bad name!","type":"http","http":{"url":"https://api.example.com/"}}`, status: 422, loc: `["body","name"]`},
		{name: "name too long", body: `{"name":"` + strings.Repeat("n", 65) + `","type":"http","http":{"url":"https://api.example.com/"}}`, status: 422, loc: `["body","name"]`},
		{name: "missing type", body: `{"name":"t","http":{"url":"https://api.example.com/"}}`, status: 422, loc: `["body","type"]`},
		{name: "unknown type", body: `{"name":"t","type":"grpc","http":{"url":"https://api.example.com/"}}`, status: 422, loc: `["body","type"]`},
		{name: "parameters a string", body: tool(`,"parameters":"{\"type\":\"object\"}"`), status: 422, loc: `["body","parameters"]`},
		{name: "parameters a list", body: tool(`,"parameters":[]`), status: 422, loc: `["body","parameters"]`},
		{name: "parameters of a string", body: tool(`,"parameters":{"type":"string"}`), status: 422, loc: `["body","parameters"]`},
		{name: "parameters without a type", body: tool(`,"parameters":{"properties":{}}`), status: 422, loc: `["body","parameters"]`},
		{name: "$ref to a URL", body: tool(`,"parameters":{"type":"object","properties":{"x":{"$ref":"https://example.com/schema.json"}}}`), status: 422, loc: `["body","parameters"]`},
		{name: "http url at a forbidden address", body: httpTool(`"url":"http://127.0.0.2:8080/x"`), status: 422, loc: `["body","http","url"]`},
		{name: "http url in decimal form", body: httpTool(`"url":"http://2130706434/x"`), status: 422, loc: `["body","http","url"]`},
		{name: "mcp url at a forbidden address", body: mcpTool(`"url":"http://[::ffff:127.0.0.2]/mcp"`), status: 422, loc: `["body","mcp","url"]`},
		{name: "url template naming an undeclared argument", body: httpTool(`"url":"https://api.example.com/orders/{{order_id}}"`), status: 422, loc: `["body","http","url"]`},
		{name: "argument in a header", body: httpTool(`"url":"https://api.example.com/x","headers":{"X-Id":"{{order_id}}"}`), status: 422, loc: `["body","http","headers","X-Id"]`},
		{name: "mcp header with a line break", body: mcpTool(`"url":"https://mcp.example.com/mcp","headers":{"X-A":"a\nb"}`), status: 422, loc: `["body","mcp","headers","X-A"]`},
		{name: "$ref to a file", body: tool(`,"parameters":{"type":"object","properties":{"x":{"$ref":"file:///etc/passwd"}}}`), status: 422, loc: `["body","parameters"]`},
		{name: "schema that does not compile", body: tool(`,"parameters":{"type":"object","properties":{"x":{"type":"text"}}}`), status: 422, loc: `["body","parameters"]`},
		{name: "description too long", body: tool(`,"description":"` + strings.Repeat("d", hyponema.MaxDescriptionLen+1) + `"`), status: 422, loc: `["body","description"]`},
		{name: "unknown field", body: tool(`,"secret":"x"`), status: 422, loc: `["body","secret"]`},
		{name: "http missing", body: `{"name":"t","type":"http"}`, status: 422, loc: `["body","http"]`},
		{name: "mcp on an http tool", body: tool(`,"mcp":{"url":"https://mcp.example.com/"}`), status: 422, loc: `["body","mcp"]`},
		{name: "http url missing", body: httpTool(``), status: 422, loc: `["body","http","url"]`},
		{name: "http url empty", body: httpTool(`"url":""`), status: 422, loc: `["body","http","url"]`},
		{name: "http url ftp", body: httpTool(`"url":"ftp://example.com/x"`), status: 422, loc: `["body","http","url"]`},
		{name: "http url relative", body: httpTool(`"url":"/orders/{{id}}"`), status: 422, loc: `["body","http","url"]`},
		{name: "http url with a password", body: httpTool(`"url":"https://u:p@example.com/"`), status: 422, loc: `["body","http","url"]`},
		{name: "http url template host", body: httpTool(`"url":"{{base}}/orders"`), status: 422, loc: `["body","http","url"]`},
		{name: "http method", body: httpTool(`"url":"https://example.com/","method":"FETCH"`), status: 422, loc: `["body","http","method"]`},
		{name: "http timeout too long", body: httpTool(`"url":"https://example.com/","timeout_ms":60001`), status: 422, loc: `["body","http","timeout_ms"]`},
		{name: "http timeout negative", body: httpTool(`"url":"https://example.com/","timeout_ms":-1`), status: 422, loc: `["body","http","timeout_ms"]`},
		{name: "http too many headers", body: httpTool(`"url":"https://example.com/","headers":{` + strings.Join(headers, ",") + `}`), status: 422, loc: `["body","http","headers"]`},
		{name: "http unknown field", body: httpTool(`"url":"https://example.com/","retries":3`), status: 422, loc: `["body","http","retries"]`},
		{name: "mcp missing", body: `{"name":"t","type":"mcp"}`, status: 422, loc: `["body","mcp"]`},
		{name: "mcp url", body: mcpTool(`"url":"ws://mcp.example.com/"`), status: 422, loc: `["body","mcp","url"]`},
		{name: "mcp stdio with a url and no server", body: mcpTool(`"url":"https://mcp.example.com/","transport":"stdio"`), status: 422, loc: `["body","mcp","server"]`},
		{name: "mcp stdio server not configured", body: mcpTool(`"transport":"stdio","server":"files"`), status: 422, loc: `["body","mcp","server"]`},
		{name: "mcp unknown transport", body: mcpTool(`"url":"https://mcp.example.com/","transport":"websocket"`), status: 422, loc: `["body","mcp","transport"]`},
		{name: "mcp tool name", body: mcpTool(`"url":"https://mcp.example.com/","tool_names":["echo","rm -rf"]`), status: 422, loc: `["body","mcp","tool_names","1"]`},

		{name: "internal $ref", body: `{"name":"with_defs","type":"http","http":{"url":"https://example.com/"},"parameters":{"type":"object","$defs":{"id":{"type":"string"}},"properties":{"id":{"$ref":"#/$defs/id"}}}}`, status: 201},
		{name: "$schema of draft 2020-12", body: `{"name":"with_schema","type":"http","http":{"url":"https://example.com/"},"parameters":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{}}}`, status: 201},
		{name: "lower-case method", body: `{"name":"lower","type":"http","http":{"url":"https://example.com/","method":"get"}}`, status: 201},
		{name: "no parameters", body: `{"name":"no_args","type":"http","http":{"url":"https://example.com/x"}}`, status: 201},
		{name: "no parameters but a template", body: `{"name":"no_args2","type":"http","http":{"url":"https://example.com/{{x}}"}}`, status: 422, loc: `["body","http","url"]`},
		{name: "loopback URL outside the allow list", body: `{"name":"local","type":"http","http":{"url":"http://127.0.0.2:9/"}}`, status: 422, loc: `["body","http","url"]`},
		{name: "loopback URL in the allow list", body: `{"name":"local_ok","type":"http","http":{"url":"http://127.0.0.1:9/"}}`, status: 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ts.do("POST", base, a.key, tt.body)
			if tt.status < 400 {
				if r.status != tt.status {
					t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
				}
				return
			}
			checkFieldError(t, r, tt.status, tt.loc)
		})
	}
	if n := len(ts.must(200, "GET", base, a.key, "").json(t)["data"].([]any)); n != 5 {
		t.Fatalf("%d tools stored, want the 5 valid ones", n)
	}
	// The schema is kept as given, key order included; a method is upper-cased.
	r := ts.must(200, "GET", base, a.key, "")
	if !strings.Contains(string(r.body), `"parameters":{"type":"object","$defs":{"id":{"type":"string"}},"properties":{"id":{"$ref":"#/$defs/id"}}}`) {
		t.Fatalf("schema not kept as given: %s", r.body)
	}
	for _, tl := range r.json(t)["data"].([]any) {
		if tl := tl.(map[string]any); tl["name"] == "lower" && tl["http"].(map[string]any)["method"] != "GET" {
			t.Fatalf("lower-case method stored as %v", tl["http"])
		}
	}
}

// TestAgentTools attaches, lists and detaches tools, and checks that a
// version captures the tools as they were.
func TestAgentTools(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		vars := map[string]string{"ws": a.ws, "key": a.key}
		runScenarios(t, ts, vars, []scenario{
			{name: "agent", method: "POST", path: "/workspaces/{ws}/agents", body: `{"name":"Support"}`, status: 201, save: map[string]string{"agent": "id"}},
			{name: "http tool", method: "POST", path: "/workspaces/{ws}/tools", body: lookupOrder, status: 201, save: map[string]string{"lookup": "id"}},
			{name: "mcp tool", method: "POST", path: "/workspaces/{ws}/tools", body: everything, status: 201, save: map[string]string{"mcp": "id"}},
			{name: "no tools yet", method: "GET", path: "/workspaces/{ws}/agents/{agent}/tools", status: 200, contains: []string{`{"data":[],"has_more":false}`}},
			{name: "attach", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{"tool_id":"{lookup}"}`, status: 200,
				contains: []string{`"data":[{"id":"{lookup}"`, `"has_more":false`}, absent: []string{`{mcp}`}},
			{name: "attach again changes nothing", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{"tool_id":"{lookup}"}`, status: 200,
				contains: []string{`"data":[{"id":"{lookup}"`}, absent: []string{`{mcp}`}},
			{name: "attach the mcp tool", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{"tool_id":"{mcp}"}`, status: 200,
				contains: []string{`"data":[{"id":"{lookup}"`, `},{"id":"{mcp}"`}},
			{name: "list in attach order", method: "GET", path: "/workspaces/{ws}/agents/{agent}/tools", status: 200, contains: []string{`"data":[{"id":"{lookup}"`, `},{"id":"{mcp}"`}},
			{name: "attach a missing tool", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{"tool_id":"tool_01jc2x5w3n0000000000000000"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","tool_id"]`}},
			{name: "attach without tool_id", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","tool_id"]`}},
			{name: "attach to a missing agent", method: "POST", path: "/workspaces/{ws}/agents/agt_01jc2x5w3n0000000000000000/tools", body: `{"tool_id":"{lookup}"}`, status: 404, kind: "not_found"},
			{name: "list of a missing agent", method: "GET", path: "/workspaces/{ws}/agents/agt_01jc2x5w3n0000000000000000/tools", status: 404, kind: "not_found"},

			{name: "version captures the tools", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{}`, status: 201, save: map[string]string{"v1": "id"},
				contains: []string{`"tools":[{"id":"{lookup}"`, `"name":"lookup_order"`, `"name":"everything"`, `"url":"https://api.example.com/orders/{{order_id}}"`}},
			{name: "publish", method: "POST", path: "/workspaces/{ws}/agents/{agent}/publish", body: `{"version_id":"{v1}"}`, status: 200, contains: []string{`"published_version_id":"{v1}"`}},
			{name: "rename the tool", method: "PATCH", path: "/workspaces/{ws}/tools/{lookup}", body: `{"name":"find_order","http":{"url":"https://api.example.com/v2/{{order_id}}"}}`, status: 200},
			{name: "delete the mcp tool", method: "DELETE", path: "/workspaces/{ws}/tools/{mcp}", status: 204},
			{name: "the draft follows", method: "GET", path: "/workspaces/{ws}/agents/{agent}/tools", status: 200,
				contains: []string{`"data":[{"id":"{lookup}"`, `"name":"find_order"`}, absent: []string{`{mcp}`, `lookup_order`}},
			{name: "the version keeps what it captured", method: "GET", path: "/workspaces/{ws}/agents/{agent}/versions/{v1}", status: 200,
				contains: []string{`"name":"lookup_order"`, `"id":"{mcp}"`, `"name":"everything"`, `"url":"https://api.example.com/orders/{{order_id}}"`}, absent: []string{`find_order`}},

			{name: "detach", method: "DELETE", path: "/workspaces/{ws}/agents/{agent}/tools/{lookup}", status: 204},
			{name: "detach twice", method: "DELETE", path: "/workspaces/{ws}/agents/{agent}/tools/{lookup}", status: 404, kind: "not_found"},
			{name: "detach from a missing agent", method: "DELETE", path: "/workspaces/{ws}/agents/agt_01jc2x5w3n0000000000000000/tools/{lookup}", status: 404, kind: "not_found",
				contains: []string{"agent not found"}},
			{name: "none left", method: "GET", path: "/workspaces/{ws}/agents/{agent}/tools", status: 200, contains: []string{`{"data":[],"has_more":false}`}},
			{name: "the tool itself stays", method: "GET", path: "/workspaces/{ws}/tools/{lookup}", status: 200},
			{name: "v2 has no tools", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{}`, status: 201, contains: []string{`"tools":[]`}},

			{name: "attach before deleting the agent", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{"tool_id":"{lookup}"}`, status: 200},
			{name: "delete the agent", method: "DELETE", path: "/workspaces/{ws}/agents/{agent}", status: 204},
			{name: "a deleted agent has no tools", method: "GET", path: "/workspaces/{ws}/agents/{agent}/tools", status: 404, kind: "not_found"},
			{name: "nor can it attach", method: "POST", path: "/workspaces/{ws}/agents/{agent}/tools", body: `{"tool_id":"{lookup}"}`, status: 404, kind: "not_found"},
			{name: "nor detach", method: "DELETE", path: "/workspaces/{ws}/agents/{agent}/tools/{lookup}", status: 404, kind: "not_found"},
		})
	})
}

// TestAgentToolLimit: an agent takes at most MaxToolsPerAgent tools.
func TestAgentToolLimit(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"Busy"}`).str(t, "id")
	path := "/workspaces/" + a.ws + "/agents/" + agent + "/tools"
	for i := range hyponema.MaxToolsPerAgent + 1 {
		id := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key,
			fmt.Sprintf(`{"name":"tool_%d","type":"http","http":{"url":"https://example.com/%d"}}`, i, i)).str(t, "id")
		r := ts.do("POST", path, a.key, `{"tool_id":"`+id+`"}`)
		if i < hyponema.MaxToolsPerAgent {
			if r.status != 200 {
				t.Fatalf("tool %d: status %d: %s", i, r.status, r.body)
			}
			continue
		}
		m := checkError(t, r, 422, "validation_error")
		if e := m["errors"].([]any)[0].(map[string]any); e["type"] != "too_long" {
			t.Fatalf("error %s", r.body)
		}
	}
	if n := len(ts.must(200, "GET", path, a.key, "").json(t)["data"].([]any)); n != hyponema.MaxToolsPerAgent {
		t.Fatalf("%d tools attached", n)
	}
}

// TestToolDiscover asks a fake MCP client for an mcp tool's tools.
func TestToolDiscover(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		fake := &fakeDiscoverer{}
		ts := newTestServer(t, db, func(s *httpapi.Server) { s.ToolDiscoverer = fake })
		a, b := ts.newTenant("A"), ts.newTenant("B")
		base := "/workspaces/" + a.ws + "/tools/"
		mcp := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key, everything).str(t, "id")
		down := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key, `{"name":"down","type":"mcp","mcp":{"url":"https://down.example.com/mcp"}}`).str(t, "id")
		http := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key, lookupOrder).str(t, "id")

		r := ts.must(200, "POST", base+mcp+"/discover", a.key, "")
		var got struct {
			Data []struct {
				Name        string          `json:"name"`
				Description string          `json:"description"`
				Parameters  json.RawMessage `json:"parameters"`
			} `json:"data"`
		}
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.Data) != 2 || got.Data[0].Name != "echo" || got.Data[0].Description != "Repeats its input" ||
			string(got.Data[0].Parameters) != `{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}` ||
			got.Data[1].Name != "now" || string(got.Data[1].Parameters) != `{"type":"object","properties":{}}` {
			t.Fatalf("discovered %s", r.body)
		}
		ts.must(200, "POST", base+mcp+"/discover", a.key, `{}`)
		checkError(t, ts.do("POST", base+mcp+"/discover", a.key, `{"refresh":true}`), 422, "validation_error")

		checkError(t, ts.do("POST", base+down+"/discover", a.key, ""), 503, "unavailable")
		checkFieldError(t, ts.do("POST", base+http+"/discover", a.key, ""), 422, `["path","tool_id"]`)
		checkError(t, ts.do("POST", base+"tool_01jc2x5w3n0000000000000000/discover", a.key, ""), 404, "not_found")
		// Another workspace's tool is not found, under either workspace.
		checkError(t, ts.do("POST", base+mcp+"/discover", b.key, ""), 404, "not_found")
		checkError(t, ts.do("POST", "/workspaces/"+b.ws+"/tools/"+mcp+"/discover", b.key, ""), 404, "not_found")

		asked := fake.askedAbout()
		if len(asked) != 3 || asked[0] != mcp || asked[1] != mcp || asked[2] != down {
			t.Fatalf("the discoverer was asked about %v", asked)
		}
	})
}

// TestToolDiscoverUnavailable: without a discoverer, discovery is 503,
// after the 404 and 422 that the request itself earns.
func TestToolDiscoverUnavailable(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	base := "/workspaces/" + a.ws + "/tools/"
	mcp := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key, everything).str(t, "id")
	http := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key, lookupOrder).str(t, "id")
	checkError(t, ts.do("POST", base+mcp+"/discover", a.key, ""), 503, "unavailable")
	checkError(t, ts.do("POST", base+http+"/discover", a.key, ""), 422, "validation_error")
	checkError(t, ts.do("POST", base+"tool_01jc2x5w3n0000000000000000/discover", a.key, ""), 404, "not_found")
}

// TestToolsOfAnotherWorkspace: B's key finds none of A's tools or agents
// through any tool route, under A's workspace or its own; B cannot attach
// A's tool to its own agent, nor its own tool to A's agent.
func TestToolsOfAnotherWorkspace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db, func(s *httpapi.Server) { s.ToolDiscoverer = &fakeDiscoverer{} })
		a, b := ts.newTenant("A"), ts.newTenant("B")
		tool := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key, everything).str(t, "id")
		agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"A agent"}`).str(t, "id")
		ts.must(200, "POST", "/workspaces/"+a.ws+"/agents/"+agent+"/tools", a.key, `{"tool_id":"`+tool+`"}`)
		bTool := ts.must(201, "POST", "/workspaces/"+b.ws+"/tools", b.key, lookupOrder).str(t, "id")
		bAgent := ts.must(201, "POST", "/workspaces/"+b.ws+"/agents", b.key, `{"name":"B agent"}`).str(t, "id")

		routes := []foreignRoute{
			{"GET", "/workspaces/{ws}/tools/" + tool, "", ""},
			{"PATCH", "/workspaces/{ws}/tools/" + tool, `{"name":"hacked"}`, ""},
			{"PATCH", "/workspaces/{ws}/tools/" + tool, `{"type":"http"}`, ""},
			{"DELETE", "/workspaces/{ws}/tools/" + tool, "", ""},
			{"POST", "/workspaces/{ws}/tools/" + tool + "/discover", "", ""},
			{"GET", "/workspaces/{ws}/agents/" + agent + "/tools", "", ""},
			{"POST", "/workspaces/{ws}/agents/" + agent + "/tools", `{"tool_id":"` + tool + `"}`, ""},
			{"POST", "/workspaces/{ws}/agents/" + agent + "/tools", `{"tool_id":"` + bTool + `"}`, ""},
			{"DELETE", "/workspaces/{ws}/agents/" + agent + "/tools/" + tool, "", ""},
			{"DELETE", "/workspaces/{ws}/agents/" + bAgent + "/tools/" + tool, "", ""},
		}
		checkForeign(t, ts, b.key, []string{a.ws, b.ws}, routes, nil)
		// A's tool named in the body of B's own attach is no tool of B's.
		checkFieldError(t, ts.do("POST", "/workspaces/"+b.ws+"/agents/"+bAgent+"/tools", b.key, `{"tool_id":"`+tool+`"}`), 422, `["body","tool_id"]`)
		// B's own lists show nothing of A's.
		for _, path := range []string{"/workspaces/" + b.ws + "/tools", "/workspaces/" + b.ws + "/agents/" + bAgent + "/tools"} {
			r := ts.must(200, "GET", path, b.key, "")
			for _, s := range []string{a.ws, tool, agent, "everything"} {
				if strings.Contains(string(r.body), s) {
					t.Errorf("GET %s with B's key mentions A's %s: %s", path, s, r.body)
				}
			}
		}
		// Nothing of A's changed.
		if got := ts.must(200, "GET", "/workspaces/"+a.ws+"/tools/"+tool, a.key, "").json(t); got["name"] != "everything" {
			t.Fatalf("A's tool changed: %v", got)
		}
		list := ts.must(200, "GET", "/workspaces/"+a.ws+"/agents/"+agent+"/tools", a.key, "").json(t)["data"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != tool {
			t.Fatalf("A's agent's tools changed: %v", list)
		}
	})
}
