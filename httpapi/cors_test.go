package httpapi_test

import (
	"testing"

	"github.com/hyponema/hyponema/store/storetest"
)

// TestCORS: client endpoints answer browsers from the agent's allowed
// origins only; nothing ever allows credentials; the operator surface
// never answers cross-origin.
func TestCORS(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	agent := ts.chatAgent(a, "local/hyponema-demo", `,"allowed_origins":["https://shop.example"]`)
	created := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).json(t)
	ses, tok := created["id"].(string), created["client_token"].(string)

	preflight := func(path, origin, method string) *response {
		return ts.do("OPTIONS", path, "", "", "Origin", origin, "Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "authorization, content-type, last-event-id")
	}
	noCredentials := func(r *response) {
		t.Helper()
		if r.header.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("credentials allowed: %v", r.header)
		}
	}

	r := preflight("/sessions/"+ses+"/messages", "https://shop.example", "POST")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" ||
		r.header.Get("Access-Control-Allow-Methods") == "" || r.header.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("allowed preflight: %d %v", r.status, r.header)
	}
	noCredentials(r)
	for _, c := range []struct{ path, origin, method string }{
		{"/sessions/" + ses + "/messages", "https://evil.example", "POST"},
		{"/sessions/" + ses + "/messages", "http://shop.example", "POST"}, // another scheme is another origin
		{"/sessions/" + ses + "/client-tokens", "https://shop.example", "POST"},
		{"/sessions", "https://shop.example", "POST"},
		{"/workspaces", "https://shop.example", "GET"},
		{"/sessions/ses_01jc2x5w3n0000000000000000", "https://shop.example", "GET"},
		{"/sessions/" + ses, "null", "GET"},
	} {
		r := preflight(c.path, c.origin, c.method)
		checkError(t, r, 403, "permission_denied")
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("%+v allowed: %v", c, r.header)
		}
	}

	// Actual requests: the allowed origin may read the answer, others not.
	r = ts.must(200, "GET", "/sessions/"+ses, tok, "", "Origin", "https://shop.example")
	if r.header.Get("Access-Control-Allow-Origin") != "https://shop.example" || r.header.Get("Vary") != "Origin" {
		t.Fatalf("allowed origin: %v", r.header)
	}
	noCredentials(r)
	if r = ts.must(200, "GET", "/sessions/"+ses, tok, "", "Origin", "https://evil.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin allowed: %v", r.header)
	}
	// The operator surface never answers cross-origin, even to an allowed origin.
	if r = ts.must(200, "GET", "/workspaces", a.key, "", "Origin", "https://shop.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("operator surface answered cross-origin: %v", r.header)
	}
}
