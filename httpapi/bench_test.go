package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// BenchmarkAPI measures what auth, routing and JSON add to the store: each
// dialect runs the bare store calls that a request makes, then the same
// request through the whole handler (in process, no network).
//
//	go test ./httpapi -run '^$' -bench BenchmarkAPI -benchmem
func BenchmarkAPI(b *testing.B) {
	dbs := map[string]func(testing.TB) *store.DB{
		"sqlite":   storetest.MustOpenSQLite,
		"postgres": storetest.MustOpenPostgres,
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			db := dbs[name](b)
			ts := newTestServer(b, db)
			a := ts.newTenant("bench")
			agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"bench","instructions":"Help with orders."}`).str(b, "id")
			h := ts.srv.Handler()
			keys, agents := store.NewAPIKeyService(db), store.NewAgentService(db)
			ctx := context.Background()

			b.Run("store/find-agent", func(b *testing.B) {
				for b.Loop() {
					if _, err := agents.FindAgent(ctx, a.ws, agent); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("store/auth+find-agent", func(b *testing.B) {
				for b.Loop() {
					if _, err := keys.AuthenticateAPIKey(ctx, a.key); err != nil {
						b.Fatal(err)
					}
					if _, err := agents.FindAgent(ctx, a.ws, agent); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("http/get-agent", func(b *testing.B) {
				path := "/workspaces/" + a.ws + "/agents/" + agent
				for b.Loop() {
					req := httptest.NewRequest("GET", path, nil)
					req.Header.Set("Authorization", "Bearer "+a.key)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
			b.Run("store/create-agent", func(b *testing.B) {
				for b.Loop() {
					ag := &hyponema.Agent{WorkspaceID: a.ws, AgentConfig: hyponema.NewAgentConfig()}
					ag.Name = "bench"
					if err := agents.CreateAgent(ctx, ag); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("http/create-agent", func(b *testing.B) {
				path := "/workspaces/" + a.ws + "/agents"
				for b.Loop() {
					req := httptest.NewRequest("POST", path, strings.NewReader(`{"name":"bench","instructions":"Help with orders."}`))
					req.Header.Set("Authorization", "Bearer "+a.key)
					req.Header.Set("Content-Type", "application/json")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusCreated {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
			b.Run("http/get-agent-parallel", func(b *testing.B) {
				path := "/workspaces/" + a.ws + "/agents/" + agent
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req := httptest.NewRequest("GET", path, nil)
						req.Header.Set("Authorization", "Bearer "+a.key)
						w := httptest.NewRecorder()
						h.ServeHTTP(w, req)
						if w.Code != http.StatusOK {
							b.Errorf("%d %s", w.Code, w.Body)
							return
						}
					}
				})
			})
		})
	}
}
