package store_test

import (
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// Run with, for example:
//
//	HYPONEMA_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench . -benchtime=2000x ./store/

func forEachDialectBench(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.MustOpenSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.MustOpenPostgres(b)) })
}

func BenchmarkFindAgent(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		ws := mustWorkspace(b, db)
		a := mustAgent(b, db, ws.ID, hyponema.AgentConfig{Instructions: "Help customers with their orders."})
		s := store.NewAgentService(db)
		for b.Loop() {
			if _, err := s.FindAgent(b.Context(), ws.ID, a.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCreateAgent(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		ws := mustWorkspace(b, db)
		s := store.NewAgentService(db)
		for b.Loop() {
			a := &hyponema.Agent{WorkspaceID: ws.ID, AgentConfig: hyponema.AgentConfig{
				Name: "Support", Instructions: "Help customers with their orders.", MaxOutputTokens: 512}}
			if err := s.CreateAgent(b.Context(), a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAuthenticateAPIKey(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		ws := mustWorkspace(b, db)
		s := store.NewAPIKeyService(db)
		secret, err := s.CreateAPIKey(b.Context(), &hyponema.APIKey{WorkspaceID: ws.ID, Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.AuthenticateAPIKey(b.Context(), secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}
