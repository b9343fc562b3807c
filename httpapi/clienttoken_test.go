package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema/clienttoken"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// TestClientTokens: a session's client token calls that session's client
// endpoints and nothing else, and dies with the session.
func TestClientTokens(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		agent := ts.chatAgent(a, "local/hyponema-demo", "")
		created := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).json(t)
		ses, tok := created["id"].(string), created["client_token"].(string)
		exp, _ := time.Parse(time.RFC3339Nano, created["client_token_expires_at"].(string))
		if !strings.HasPrefix(tok, "hct_") || time.Until(exp) < 14*time.Minute || time.Until(exp) > 16*time.Minute {
			t.Fatalf("token %q expires %v", tok, exp)
		}
		other := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "id")

		// Its own session's client endpoints.
		ts.must(200, "GET", "/sessions/"+ses, tok, "")
		ts.must(200, "POST", "/sessions/"+ses+"/messages", tok, `{"text":"hello from a browser"}`)
		if n := len(ts.must(200, "GET", "/sessions/"+ses+"/messages", tok, "").json(t)["data"].([]any)); n != 2 {
			t.Fatalf("%d messages", n)
		}
		res := ts.stream(context.Background(), "POST", "/sessions/"+ses+"/messages", tok, `{"text":"stream it"}`)
		evs, _ := readEvents(t, res.Body, nil)
		res.Body.Close()
		if eventNames(evs) != "message.created message.delta message.completed done" {
			t.Fatalf("streamed %s", eventNames(evs))
		}

		// Nothing else.
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/sessions", ""},
			{"POST", "/sessions", `{"agent_id":"` + agent + `"}`},
			{"POST", "/sessions/" + ses + "/client-tokens", `{}`},
			{"GET", "/workspaces", ""},
			{"GET", "/workspaces/" + a.ws + "/agents", ""},
			{"GET", "/workspaces/" + a.ws + "/api-keys", ""},
			{"GET", "/sessions/" + other, ""},
			{"POST", "/sessions/" + other + "/messages", `{"text":"hi"}`},
			{"POST", "/sessions/" + other + "/end", `{}`},
		} {
			checkError(t, ts.do(c.method, c.path, tok, c.body), 403, "permission_denied")
		}
		// Tampered, foreign and expired tokens.
		tampered := tok[:len(tok)-3] + map[bool]string{true: "AAA", false: "BBB"}[!strings.HasSuffix(tok, "AAA")]
		checkError(t, ts.do("GET", "/sessions/"+ses, tampered, ""), 401, "authentication_required")
		checkError(t, ts.do("GET", "/sessions/"+ses, "hct_not.a.token", ""), 401, "authentication_required")
		old, _, err := ts.tokens.Mint(clienttoken.Claims{SessionID: ses, WorkspaceID: a.ws, AgentID: agent, Audience: clienttoken.AudienceClient},
			time.Minute, time.Now().Add(-10*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		checkError(t, ts.do("GET", "/sessions/"+ses, string(old), ""), 401, "authentication_required")
		b := ts.newTenant("B")
		bAgent := ts.chatAgent(b, "local/hyponema-demo", "")
		bTok := ts.must(201, "POST", "/sessions", b.key, `{"agent_id":"`+bAgent+`"}`).str(t, "client_token")
		checkError(t, ts.do("GET", "/sessions/"+ses, bTok, ""), 403, "permission_denied")

		// A fresh token from the backend, with a TTL of its own.
		fresh := ts.must(201, "POST", "/sessions/"+ses+"/client-tokens", a.key, `{"ttl_seconds":3600}`).json(t)
		exp, _ = time.Parse(time.RFC3339Nano, fresh["client_token_expires_at"].(string))
		if fresh["session_id"] != ses || time.Until(exp) < 59*time.Minute {
			t.Fatalf("fresh token %v", fresh)
		}
		checkError(t, ts.do("POST", "/sessions/"+ses+"/client-tokens", a.key, `{"ttl_seconds":30}`), 422, "validation_error")
		checkError(t, ts.do("POST", "/sessions", a.key, `{"agent_id":"`+agent+`","client_token_ttl_seconds":999999}`), 422, "validation_error")

		// The client ends the session; its tokens die with it.
		if s := ts.must(200, "POST", "/sessions/"+ses+"/end", tok, `{}`).json(t); s["ended_reason"] != "client" {
			t.Fatalf("ended %v", s)
		}
		checkError(t, ts.do("GET", "/sessions/"+ses, tok, ""), 401, "authentication_required")
		checkError(t, ts.do("GET", "/sessions/"+ses, fresh["client_token"].(string), ""), 401, "authentication_required")
		checkError(t, ts.do("POST", "/sessions/"+ses+"/client-tokens", a.key, `{}`), 409, "session_ended")
	})
}
