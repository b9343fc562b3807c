package httpapi_test

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// TestAuthorizationMatrix calls every authenticated route of the OpenAPI
// document with workspace B's key against workspace A's objects, both under
// A's workspace path and under B's own, and checks that B can neither read,
// change, list nor learn of anything of A's. Routes are taken from the
// generated document, so a new route joins the matrix by itself (and fails
// here until it has a fixture).
func TestAuthorizationMatrix(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a, b := ts.newTenant("A"), ts.newTenant("B")

		// A's objects.
		persona := ts.must(201, "POST", "/workspaces/"+a.ws+"/personas", a.key, `{"name":"A persona"}`).str(t, "id")
		perv := ts.must(201, "POST", "/workspaces/"+a.ws+"/personas/"+persona+"/versions", a.key, `{}`).str(t, "id")
		ts.must(200, "POST", "/workspaces/"+a.ws+"/personas/"+persona+"/publish", a.key, `{"version_id":"`+perv+`"}`)
		agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"A agent","persona_id":"`+persona+`"}`).str(t, "id")
		agv := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents/"+agent+"/versions", a.key, `{}`).str(t, "id")
		ts.must(200, "POST", "/workspaces/"+a.ws+"/agents/"+agent+"/publish", a.key, `{"version_id":"`+agv+`"}`)
		keyID := ts.must(201, "POST", "/workspaces/"+a.ws+"/api-keys", a.key, `{"name":"A second"}`).str(t, "id")
		session := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`","metadata":{"who":"A session"}}`).str(t, "id")
		ts.must(200, "POST", "/sessions/"+session+"/messages", a.key, `{"text":"A secret question"}`)
		hook := ts.must(201, "POST", "/workspaces/"+a.ws+"/webhooks", a.key, `{"url":"http://127.0.0.1:9/a-hook","description":"A hook"}`)
		webhookID, whsec := hook.str(t, "id"), hook.str(t, "secret")
		event := ts.must(202, "POST", "/workspaces/"+a.ws+"/webhooks/"+webhookID+"/test", a.key, `{}`).str(t, "id")
		delivery := recordDelivery(t, db, a.ws, webhookID, event, hyponema.DeliveryFailed)
		tool := ts.must(201, "POST", "/workspaces/"+a.ws+"/tools", a.key,
			`{"name":"a_tool","description":"A tool","type":"mcp","mcp":{"url":"https://a-tool.example.com/mcp"}}`).str(t, "id")
		ts.must(200, "POST", "/workspaces/"+a.ws+"/agents/"+agent+"/tools", a.key, `{"tool_id":"`+tool+`"}`)
		const secretName, secretValue = "A_SECRET_NAME", "A-secret-value-0123"
		ts.must(201, "PUT", "/workspaces/"+a.ws+"/secrets/"+secretName, a.key, `{"value":"`+secretValue+`"}`)
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"A knowledge base"}`).str(t, "id")
		source := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/sources", a.key,
			`{"type":"text","name":"A source","text":"A passage about jackets."}`).str(t, "id")
		chunk := &hyponema.Chunk{Heading: "A heading", Text: "A passage about jackets."}
		if err := ts.srv.Knowledge.ReplaceChunks(t.Context(), a.ws, source, 0, []*hyponema.Chunk{chunk}, "text/plain", 24); err != nil {
			t.Fatal(err)
		}
		ts.must(200, "POST", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/attach", a.key, `{"agent_id":"`+agent+`"}`)
		secrets := []string{a.ws, persona, perv, agent, agv, keyID, session, webhookID, whsec, event, delivery, tool,
			"A agent", "A persona", "A second", "A session", "A secret question", "A hook", "a-hook", "A tool", "a-tool.example.com",
			secretName, secretValue, kb, source, chunk.ID, "A knowledge base", "A source", "A passage", "A heading"}

		// ids says which of A's objects fill a route's {id} and {version_id}.
		ids := func(path string) (id, version string) {
			switch {
			case strings.HasPrefix(path, "/workspaces/{ws}/agents/{id}"):
				return agent, agv
			case strings.HasPrefix(path, "/workspaces/{ws}/personas/{id}"):
				return persona, perv
			case strings.HasPrefix(path, "/workspaces/{ws}/api-keys/{id}"):
				return keyID, ""
			case strings.HasPrefix(path, "/sessions/{id}"):
				return session, ""
			}
			return "", ""
		}
		bodies := map[string]string{
			"POST /workspaces/{ws}/agents/{id}/publish":            `{"version_id":"` + agv + `"}`,
			"POST /workspaces/{ws}/personas/{id}/publish":          `{"version_id":"` + perv + `"}`,
			"PATCH /workspaces/{ws}/agents/{id}":                   `{"name":"hacked"}`,
			"PATCH /workspaces/{ws}/personas/{id}":                 `{"name":"hacked"}`,
			"POST /workspaces/{ws}/agents":                         `{"name":"B agent","persona_id":"` + persona + `"}`,
			"POST /workspaces/{ws}/personas":                       `{"name":"B persona"}`,
			"POST /workspaces/{ws}/api-keys":                       `{"name":"B key"}`,
			"POST /workspaces/{ws}/webhooks":                       `{"url":"http://127.0.0.1:9/b"}`,
			"PATCH /workspaces/{ws}/webhooks/{webhook_id}":         `{"enabled":false,"description":"hacked"}`,
			"POST /workspaces/{ws}/tools":                          `{"name":"b_tool","type":"http","http":{"url":"https://example.com/b"}}`,
			"PATCH /workspaces/{ws}/tools/{tool_id}":               `{"name":"hacked","description":"hacked"}`,
			"POST /workspaces/{ws}/agents/{id}/tools":              `{"tool_id":"` + tool + `"}`,
			"PUT /workspaces/{ws}/secrets/{name}":                  `{"value":"hacked-by-B"}`,
			"POST /sessions":                                       `{"agent_id":"` + agent + `"}`,
			"POST /sessions/{id}/messages":                         `{"text":"B was here"}`,
			"POST /workspaces/{ws}/knowledge-base":                 `{"name":"B knowledge base"}`,
			"POST /workspaces/{ws}/knowledge-base/{kb_id}/sources": `{"type":"text","name":"B","text":"B was here"}`,
			"POST /workspaces/{ws}/knowledge-base/{kb_id}/query":   `{"query":"jackets"}`,
			"POST /workspaces/{ws}/knowledge-base/{kb_id}/attach":  `{"agent_id":"` + agent + `"}`,
			"POST /workspaces/{ws}/knowledge-base/{kb_id}/detach":  `{"agent_id":"` + agent + `"}`,
		}

		type route struct{ method, path string }
		var routes []route
		for path := range ts.srv.OpenAPI().Paths {
			for _, method := range []string{"GET", "POST", "PATCH", "DELETE", "PUT"} {
				if isRoute(ts, method, path) {
					routes = append(routes, route{method, path})
				}
			}
		}
		sort.Slice(routes, func(i, j int) bool { return routes[i].path+routes[i].method < routes[j].path+routes[j].method })

		tested := 0
		for _, rt := range routes {
			if rt.path == "/healthz" || rt.path == "/readyz" {
				continue
			}
			id, version := ids(rt.path)
			fill := func(ws string) string {
				return strings.NewReplacer("{ws}", ws, "{id}", id, "{version_id}", version,
					"{webhook_id}", webhookID, "{delivery_id}", delivery, "{event_id}", event,
					"{tool_id}", tool, "{name}", secretName,
					"{kb_id}", kb, "{source_id}", source, "{chunk_id}", chunk.ID).Replace(rt.path)
			}
			if (strings.Contains(rt.path, "{id}") && id == "") || strings.Contains(fill("ws"), "{") {
				t.Fatalf("no fixture for %s %s: add it to the matrix", rt.method, rt.path)
			}
			// namesObject: the path holds one of A's IDs besides {ws}.
			namesObject := strings.Contains(strings.ReplaceAll(rt.path, "{ws}", ""), "{")
			body := bodies[rt.method+" "+rt.path]
			if body == "" && (rt.method == "POST" || rt.method == "PATCH" || rt.method == "PUT") {
				body = `{}`
			}
			workspaces := []string{a.ws, b.ws}
			if !strings.Contains(rt.path, "{ws}") {
				workspaces = []string{""} // e.g. GET /workspaces: B's own view
			}
			for _, ws := range workspaces {
				path := fill(ws)
				r := ts.do(rt.method, path, b.key, body)
				tested++
				name := rt.method + " " + path + " with B's key"
				// A secret's name is no ID: under B's own workspace it names
				// B's own secret, which B may set (and then deletes, so that
				// B's lists stay empty of the name).
				ownSecret := rt.method == "PUT" && rt.path == "/workspaces/{ws}/secrets/{name}" && ws == b.ws
				switch {
				case ownSecret:
					if r.status != http.StatusCreated {
						t.Errorf("%s: status %d, want 201: %s", name, r.status, r.body)
					}
					if v, err := ts.srv.Secrets.ResolveSecret(t.Context(), b.ws, secretName); err != nil || v != "hacked-by-B" {
						t.Errorf("B's secret of the same name is %q, %v", v, err)
					}
					ts.must(http.StatusNoContent, "DELETE", path, b.key, "")
				case ws == a.ws || namesObject:
					// Anything naming A's workspace or objects is not found.
					if r.status != http.StatusNotFound {
						t.Errorf("%s: status %d, want 404: %s", name, r.status, r.body)
						continue
					}
					checkError(t, r, 404, "not_found")
				case rt.method == "POST" && (rt.path == "/workspaces/{ws}/agents" || rt.path == "/sessions"):
					// B may not point its agent at A's persona, nor start a
					// session with A's agent.
					checkError(t, r, 422, "validation_error")
				default:
					// B's own lists and creations succeed and show nothing of A's.
					if r.status >= 300 {
						t.Errorf("%s: status %d: %s", name, r.status, r.body)
					}
				}
				for _, s := range secrets {
					if ownSecret && s == secretName {
						continue
					}
					if strings.Contains(string(r.body), s) {
						t.Errorf("%s: response mentions A's %q: %s", name, s, r.body)
					}
				}
			}
		}
		if tested < 40 {
			t.Fatalf("only %d calls made: the route list is wrong", tested)
		}

		// Nothing of A's changed.
		ag := ts.must(200, "GET", "/workspaces/"+a.ws+"/agents/"+agent, a.key, "").json(t)
		if ag["name"] != "A agent" || ag["published_version_id"] != agv {
			t.Errorf("A's agent changed: %v", ag)
		}
		pe := ts.must(200, "GET", "/workspaces/"+a.ws+"/personas/"+persona, a.key, "").json(t)
		if pe["name"] != "A persona" || pe["published_version_id"] != perv {
			t.Errorf("A's persona changed: %v", pe)
		}
		if k := ts.must(200, "GET", "/workspaces/"+a.ws+"/api-keys/"+keyID, a.key, "").json(t); k["revoked_at"] != nil {
			t.Errorf("A's key was revoked by B: %v", k)
		}
		ts.must(200, "GET", "/workspaces/"+a.ws+"/agents/"+agent+"/versions/"+agv, a.key, "")
		if s := ts.must(200, "GET", "/sessions/"+session, a.key, "").json(t); s["status"] != "active" {
			t.Errorf("A's session was ended by B: %v", s)
		}
		if n := len(ts.must(200, "GET", "/sessions/"+session+"/messages", a.key, "").json(t)["data"].([]any)); n != 2 {
			t.Errorf("A's transcript has %d messages, want 2", n)
		}
		if w := ts.must(200, "GET", "/workspaces/"+a.ws+"/webhooks/"+webhookID, a.key, "").json(t); w["enabled"] != true || w["description"] != "A hook" || w["previous_secret_expires_at"] != nil {
			t.Errorf("A's webhook was changed or rotated by B: %v", w)
		}
		ts.must(200, "GET", "/workspaces/"+a.ws+"/webhooks/"+webhookID+"/deliveries/"+delivery, a.key, "")
		ts.must(200, "GET", "/workspaces/"+a.ws+"/events/"+event, a.key, "")
		if evs := ts.must(200, "GET", "/workspaces/"+a.ws+"/events?type=webhook.test", a.key, "").json(t)["data"].([]any); len(evs) != 1 {
			t.Errorf("A has %d webhook.test events, want 1: B's test reached A's endpoint", len(evs))
		}
		if tl := ts.must(200, "GET", "/workspaces/"+a.ws+"/tools/"+tool, a.key, "").json(t); tl["name"] != "a_tool" || tl["description"] != "A tool" {
			t.Errorf("A's tool was changed by B: %v", tl)
		}
		if tools := ts.must(200, "GET", "/workspaces/"+a.ws+"/agents/"+agent+"/tools", a.key, "").json(t)["data"].([]any); len(tools) != 1 {
			t.Errorf("A's agent has %d tools, want 1", len(tools))
		}
		if v, err := ts.srv.Secrets.ResolveSecret(t.Context(), a.ws, secretName); err != nil || v != secretValue {
			t.Errorf("A's secret is %q, %v", v, err)
		}
		if s := ts.must(200, "GET", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/sources/"+source, a.key, "").json(t); s["status"] != "ready" || s["chunk_count"] != float64(1) {
			t.Errorf("A's source was changed by B: %v", s)
		}
		ts.must(200, "GET", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/chunks/"+chunk.ID, a.key, "")
		if ag := ts.must(200, "GET", "/workspaces/"+a.ws+"/agents/"+agent, a.key, ""); !strings.Contains(string(ag.body), `"knowledge_base_ids":["`+kb+`"]`) {
			t.Errorf("A's agent lost its knowledge base: %s", ag.body)
		}
	})
}

// isRoute reports whether the OpenAPI document has the operation.
func isRoute(ts *testServer, method, path string) bool {
	item := ts.srv.OpenAPI().Paths[path]
	switch method {
	case "GET":
		return item.Get != nil
	case "POST":
		return item.Post != nil
	case "PATCH":
		return item.Patch != nil
	case "DELETE":
		return item.Delete != nil
	case "PUT":
		return item.Put != nil
	}
	return false
}
