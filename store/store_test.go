package store_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// forEachDSN runs fn for an empty SQLite file and an empty PostgreSQL
// schema, for tests that open (and migrate) databases themselves.
func forEachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.PostgresDSN(t)) })
}

// wantCode fails the test unless err carries the domain code want.
func wantCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := hyponema.ErrorCode(err); got != want {
		t.Fatalf("error code = %q (%v), want %q", got, err, want)
	}
}

// wantField fails the test unless err is EINVALID naming the field at loc
// with the given type.
func wantField(t testing.TB, err error, typ string, loc ...string) {
	t.Helper()
	wantCode(t, err, hyponema.EINVALID)
	var e *hyponema.Error
	errors.As(err, &e)
	for _, f := range e.Fields {
		if slices.Equal(f.Loc, loc) && f.Type == typ {
			return
		}
	}
	t.Fatalf("fields = %+v, want loc %v type %q", e.Fields, loc, typ)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustWorkspace(t testing.TB, db *store.DB) *hyponema.Workspace {
	t.Helper()
	w := &hyponema.Workspace{Name: "Acme"}
	must(t, store.NewWorkspaceService(db).CreateWorkspace(t.Context(), w))
	return w
}

func mustAgent(t testing.TB, db *store.DB, workspaceID string, cfg hyponema.AgentConfig) *hyponema.Agent {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "Support"
	}
	if cfg.MaxOutputTokens == 0 {
		cfg.MaxOutputTokens = hyponema.DefaultMaxOutputTokens
	}
	a := &hyponema.Agent{WorkspaceID: workspaceID, AgentConfig: cfg}
	must(t, store.NewAgentService(db).CreateAgent(t.Context(), a))
	return a
}

func mustPersona(t testing.TB, db *store.DB, workspaceID, name string) *hyponema.Persona {
	t.Helper()
	p := &hyponema.Persona{WorkspaceID: workspaceID, PersonaConfig: hyponema.PersonaConfig{Name: name, Instructions: "Be warm."}}
	must(t, store.NewPersonaService(db).CreatePersona(t.Context(), p))
	return p
}

// walk pages through a whole list with the given limit and order, checking
// that IDs come strictly in that order (so none repeats), and returns them.
func walk[T any](t testing.TB, limit int, asc bool, id func(T) string,
	fetch func(hyponema.PageOptions) (hyponema.Page[T], error)) []string {
	t.Helper()
	var ids []string
	opt := hyponema.PageOptions{Limit: limit, Asc: asc}
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("walk: too many pages")
		}
		p, err := fetch(opt)
		must(t, err)
		if len(p.Data) > limit {
			t.Fatalf("page of %d rows, limit %d", len(p.Data), limit)
		}
		for _, v := range p.Data {
			i := id(v)
			if n := len(ids); n > 0 && (asc && i <= ids[n-1] || !asc && i >= ids[n-1]) {
				t.Fatalf("walk (asc=%v): %s after %s", asc, i, ids[n-1])
			}
			ids = append(ids, i)
		}
		if !p.HasMore {
			if p.NextCursor != "" {
				t.Fatal("last page has a cursor")
			}
			return ids
		}
		if len(p.Data) != limit {
			t.Fatalf("has_more with a short page of %d", len(p.Data))
		}
		opt.Cursor = p.NextCursor
	}
}

// wantIDs fails unless got holds exactly want, in order.
func wantIDs(t testing.TB, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("ids = %v,\nwant %v", got, want)
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}
