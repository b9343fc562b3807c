package store_test

import (
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func TestWorkspaces(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewWorkspaceService(db)

		n, err := s.CountWorkspaces(ctx)
		must(t, err)
		if n != 0 {
			t.Fatalf("CountWorkspaces = %d on a new database", n)
		}

		wantField(t, s.CreateWorkspace(ctx, &hyponema.Workspace{Name: " "}), "missing", "body", "name")

		w := &hyponema.Workspace{Name: "Acme"}
		must(t, s.CreateWorkspace(ctx, w))
		if !hyponema.HasPrefix(w.ID, hyponema.PrefixWorkspace) {
			t.Fatalf("ID = %q", w.ID)
		}
		got, err := s.FindWorkspaceByID(ctx, w.ID)
		must(t, err)
		if *got != *w {
			t.Fatalf("found %+v, created %+v", got, w)
		}
		mustWorkspace(t, db)
		if n, err = s.CountWorkspaces(ctx); err != nil || n != 2 {
			t.Fatalf("CountWorkspaces = %d, %v", n, err)
		}

		_, err = s.FindWorkspaceByID(ctx, hyponema.NewID(hyponema.PrefixWorkspace))
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

// Times come back exactly as they were returned at creation: UTC, to the
// microsecond, on both databases.
func TestTimesRoundTrip(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewWorkspaceService(db)
		for range 20 {
			w := &hyponema.Workspace{Name: "Acme"}
			must(t, s.CreateWorkspace(ctx, w))
			got, err := s.FindWorkspaceByID(ctx, w.ID)
			must(t, err)
			if got.CreatedAt != w.CreatedAt || got.CreatedAt.Location() != time.UTC {
				t.Fatalf("created_at = %#v, want %#v", got.CreatedAt, w.CreatedAt)
			}
			if w.CreatedAt.Nanosecond()%1000 != 0 {
				t.Fatalf("created_at %v has sub-microsecond digits", w.CreatedAt)
			}
		}

		// A time from elsewhere, in another zone and with nanoseconds,
		// comes back as UTC microseconds.
		k := &hyponema.APIKey{WorkspaceID: mustWorkspace(t, db).ID, Name: "ci"}
		ks := store.NewAPIKeyService(db)
		_, err := ks.CreateAPIKey(ctx, k)
		must(t, err)
		used := time.Date(2031, 2, 3, 4, 5, 6, 789_123_456, time.FixedZone("X", -7*3600))
		must(t, ks.TouchAPIKey(ctx, k.ID, used))
		got, err := ks.FindAPIKey(ctx, k.WorkspaceID, k.ID)
		must(t, err)
		want := time.Date(2031, 2, 3, 11, 5, 6, 789_123_000, time.UTC)
		if got.LastUsedAt == nil || *got.LastUsedAt != want {
			t.Fatalf("last_used_at = %v, want %v", got.LastUsedAt, want)
		}
	})
}
