package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func TestIdempotency(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a, b := ts.newTenant("A"), ts.newTenant("B")
		agents := "/workspaces/" + a.ws + "/agents"

		t.Run("replay returns the first response", func(t *testing.T) {
			first := ts.must(201, "POST", agents, a.key, `{"name":"once"}`, "Idempotency-Key", "k-replay")
			again := ts.must(201, "POST", agents, a.key, `{"name":"once"}`, "Idempotency-Key", "k-replay")
			if string(first.body) != string(again.body) {
				t.Fatalf("replay differs:\n%s\n%s", first.body, again.body)
			}
			if again.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("replay not marked")
			}
			if first.header.Get("X-Request-Id") == again.header.Get("X-Request-Id") {
				t.Errorf("a replay is a new request and gets its own request id")
			}
			if n := countAgents(t, ts, a, "once"); n != 1 {
				t.Fatalf("%d agents named once, want 1", n)
			}
		})
		t.Run("same key, other body is a conflict", func(t *testing.T) {
			ts.must(201, "POST", agents, a.key, `{"name":"first"}`, "Idempotency-Key", "k-conflict")
			r := ts.do("POST", agents, a.key, `{"name":"second"}`, "Idempotency-Key", "k-conflict")
			checkError(t, r, 409, "idempotency_conflict")
		})
		t.Run("same key, other path is a conflict", func(t *testing.T) {
			ts.must(201, "POST", agents, a.key, `{"name":"p"}`, "Idempotency-Key", "k-path")
			r := ts.do("POST", "/workspaces/"+a.ws+"/personas", a.key, `{"name":"p"}`, "Idempotency-Key", "k-path")
			checkError(t, r, 409, "idempotency_conflict")
		})
		t.Run("errors are replayed too", func(t *testing.T) {
			checkError(t, ts.do("POST", agents, a.key, `{"name":""}`, "Idempotency-Key", "k-err"), 422, "validation_error")
			r := ts.do("POST", agents, a.key, `{"name":""}`, "Idempotency-Key", "k-err")
			checkError(t, r, 422, "validation_error")
			if r.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("422 not replayed")
			}
		})
		t.Run("keys are scoped to the workspace", func(t *testing.T) {
			ts.must(201, "POST", agents, a.key, `{"name":"scoped"}`, "Idempotency-Key", "k-scope")
			r := ts.must(201, "POST", "/workspaces/"+b.ws+"/agents", b.key, `{"name":"scoped"}`, "Idempotency-Key", "k-scope")
			if r.header.Get("Idempotent-Replayed") != "" {
				t.Fatalf("B got A's stored response: %s", r.body)
			}
		})
		t.Run("bad key is refused", func(t *testing.T) {
			checkError(t, ts.do("POST", agents, a.key, `{"name":"x"}`, "Idempotency-Key", strings.Repeat("k", 256)), 422, "validation_error")
		})
		t.Run("20 concurrent POSTs with one key create one object", func(t *testing.T) {
			var wg sync.WaitGroup
			statuses := make([]int, 20)
			ids := make([]string, 20)
			for i := range 20 {
				wg.Go(func() {
					r := ts.do("POST", agents, a.key, `{"name":"concurrent"}`, "Idempotency-Key", "k-concurrent")
					statuses[i] = r.status
					if r.status == 201 {
						var m map[string]any
						_ = json.Unmarshal(r.body, &m)
						ids[i], _ = m["id"].(string)
					} else if r.status != 409 {
						t.Errorf("status %d: %s", r.status, r.body)
					}
				})
			}
			wg.Wait()
			created := map[string]bool{}
			for _, id := range ids {
				if id != "" {
					created[id] = true
				}
			}
			if len(created) != 1 {
				t.Fatalf("responses name %d different agents (%v), want 1; statuses %v", len(created), created, statuses)
			}
			if n := countAgents(t, ts, a, "concurrent"); n != 1 {
				t.Fatalf("%d agents created, want 1", n)
			}
		})
	})
}

// countAgents counts the workspace's agents with the name, walking all pages.
func countAgents(t testing.TB, ts *testServer, tn tenant, name string) int {
	t.Helper()
	n := 0
	cursor := ""
	for {
		r := ts.must(200, "GET", "/workspaces/"+tn.ws+"/agents?limit=200&cursor="+cursor, tn.key, "")
		var page struct {
			Data []struct {
				Name string `json:"name"`
			} `json:"data"`
			HasMore    bool   `json:"has_more"`
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Data {
			if a.Name == name {
				n++
			}
		}
		if !page.HasMore {
			return n
		}
		cursor = page.NextCursor
	}
}

// TestPaginationWhileInserting walks the agent list in pages of 4, both
// orders, while another client keeps creating agents: every agent that
// existed at the start is seen exactly once, and nothing is seen twice.
func TestPaginationWhileInserting(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		agents := "/workspaces/" + a.ws + "/agents"
		existing := map[string]bool{}
		for i := range 25 {
			existing[ts.must(201, "POST", agents, a.key, fmt.Sprintf(`{"name":"a%d"}`, i)).str(t, "id")] = true
		}
		for _, order := range []string{"desc", "asc"} {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ts.do("POST", agents, a.key, fmt.Sprintf(`{"name":"late%d"}`, i))
				}
			})
			seen := map[string]int{}
			cursor, pages := "", 0
			var last string
			for {
				r := ts.must(200, "GET", agents+"?limit=4&order="+order+"&cursor="+cursor, a.key, "")
				var page struct {
					Data       []struct{ ID string } `json:"data"`
					HasMore    bool                  `json:"has_more"`
					NextCursor string                `json:"next_cursor"`
				}
				if err := json.Unmarshal(r.body, &page); err != nil {
					t.Fatal(err)
				}
				for _, x := range page.Data {
					seen[x.ID]++
					if last != "" && (order == "desc" && x.ID >= last || order == "asc" && x.ID <= last) {
						t.Fatalf("%s: %s after %s is out of order", order, x.ID, last)
					}
					last = x.ID
				}
				pages++
				if !page.HasMore || pages > 200 {
					break
				}
				cursor = page.NextCursor
			}
			close(stop)
			wg.Wait()
			for id, n := range seen {
				if n > 1 {
					t.Errorf("%s: %s seen %d times", order, id, n)
				}
			}
			for id := range existing {
				if seen[id] != 1 {
					t.Errorf("%s: existing agent %s seen %d times", order, id, seen[id])
				}
			}
		}
	})
}

// TestIdempotentSecretsSealed: a response that carries a secret shown once
// (an API key, a webhook signing secret) is replayed whole for its
// Idempotency-Key, but is not kept in the database in the clear.
func TestIdempotentSecretsSealed(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		for _, c := range []struct{ path, body, field, prefix string }{
			{"/workspaces/" + a.ws + "/api-keys", `{"name":"ci"}`, "key", hyponema.APIKeyPrefix},
			{"/workspaces/" + a.ws + "/webhooks", `{"url":"http://127.0.0.1:9/hook"}`, "secret", hyponema.WebhookSecretPrefix},
		} {
			first := ts.must(201, "POST", c.path, a.key, c.body, "Idempotency-Key", "k-"+c.prefix)
			again := ts.must(201, "POST", c.path, a.key, c.body, "Idempotency-Key", "k-"+c.prefix)
			secret, _ := first.json(t)[c.field].(string)
			if !strings.HasPrefix(secret, c.prefix) || again.json(t)[c.field] != secret || again.header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("%s: first %s, replay %s", c.path, first.body, again.body)
			}
			var stored []byte
			if err := db.Writer().QueryRow(`SELECT body FROM idempotency_keys WHERE idempotency_key = 'k-` + c.prefix + `'`).Scan(&stored); err != nil {
				t.Fatal(err)
			}
			if len(stored) == 0 || strings.Contains(string(stored), secret) || strings.Contains(string(stored), c.prefix) {
				t.Errorf("%s: the stored response holds the secret in the clear: %.80s", c.path, stored)
			}
		}
	})
}
