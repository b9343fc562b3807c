package store_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func TestPersonaCRUD(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewPersonaService(db)
		ws := mustWorkspace(t, db)

		wantField(t, s.CreatePersona(ctx, &hyponema.Persona{WorkspaceID: ws.ID}), "missing", "body", "name")
		err := s.CreatePersona(ctx, &hyponema.Persona{WorkspaceID: ws.ID, PersonaConfig: hyponema.PersonaConfig{
			Name: "x", Description: strings.Repeat("d", hyponema.MaxDescriptionLen+1)}})
		wantField(t, err, "too_long", "body", "description")
		err = s.CreatePersona(ctx, &hyponema.Persona{WorkspaceID: hyponema.NewID(hyponema.PrefixWorkspace),
			PersonaConfig: hyponema.PersonaConfig{Name: "x"}})
		wantCode(t, err, hyponema.ENOTFOUND)

		p := &hyponema.Persona{WorkspaceID: ws.ID, PersonaConfig: hyponema.PersonaConfig{
			Name: "Warm", Instructions: "Be warm.", Description: "for support", Metadata: map[string]string{"k": "v"}}}
		must(t, s.CreatePersona(ctx, p))
		if !hyponema.HasPrefix(p.ID, hyponema.PrefixPersona) || p.CreatedAt.IsZero() || p.UpdatedAt != p.CreatedAt {
			t.Fatalf("created %+v", p)
		}
		got, err := s.FindPersona(ctx, ws.ID, p.ID)
		must(t, err)
		wantPersona(t, got, p)

		up, err := s.UpdatePersona(ctx, ws.ID, p.ID, hyponema.PersonaPatch{Description: ptr("for sales")})
		must(t, err)
		if up.Description != "for sales" || up.Name != "Warm" || up.Instructions != "Be warm." || !up.UpdatedAt.After(p.UpdatedAt) {
			t.Fatalf("updated %+v", up)
		}
		_, err = s.UpdatePersona(ctx, ws.ID, p.ID, hyponema.PersonaPatch{Name: ptr("")})
		wantField(t, err, "missing", "body", "name")
		got, err = s.FindPersona(ctx, ws.ID, p.ID)
		must(t, err)
		wantPersona(t, got, up)

		page, err := s.ListPersonas(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 1 {
			t.Fatalf("ListPersonas = %+v", page.Data)
		}
		wantPersona(t, page.Data[0], up)

		must(t, s.DeletePersona(ctx, ws.ID, p.ID))
		_, err = s.FindPersona(ctx, ws.ID, p.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, s.DeletePersona(ctx, ws.ID, p.ID), hyponema.ENOTFOUND)
		_, err = s.UpdatePersona(ctx, ws.ID, p.ID, hyponema.PersonaPatch{Name: ptr("x")})
		wantCode(t, err, hyponema.ENOTFOUND)
		page, err = s.ListPersonas(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 0 {
			t.Fatal("deleted persona listed")
		}
	})
}

func wantPersona(t testing.TB, got, want *hyponema.Persona) {
	t.Helper()
	if fmt.Sprintf("%#v", *got) != fmt.Sprintf("%#v", *want) {
		t.Fatalf("persona =\n%#v\nwant\n%#v", got, want)
	}
}

// A persona cannot be deleted while a live agent's draft uses it; agent
// versions do not hold it back.
func TestDeletePersonaInUse(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewPersonaService(db)
		as := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		p := mustPersona(t, db, ws.ID, "Warm")
		a1 := mustAgent(t, db, ws.ID, hyponema.AgentConfig{PersonaID: p.ID})
		a2 := mustAgent(t, db, ws.ID, hyponema.AgentConfig{PersonaID: p.ID})
		v, err := as.CreateAgentVersion(ctx, ws.ID, a1.ID, "")
		must(t, err)

		wantCode(t, s.DeletePersona(ctx, ws.ID, p.ID), hyponema.ECONFLICT)
		must(t, as.DeleteAgent(ctx, ws.ID, a1.ID))
		wantCode(t, s.DeletePersona(ctx, ws.ID, p.ID), hyponema.ECONFLICT)
		_, err = as.UpdateAgent(ctx, ws.ID, a2.ID, hyponema.AgentPatch{PersonaID: ptr("")})
		must(t, err)
		must(t, s.DeletePersona(ctx, ws.ID, p.ID))

		// The persona version that a1's version pinned is still stored.
		var n int
		must(t, db.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM persona_versions WHERE id = '`+v.PersonaVersionID+`'`).Scan(&n))
		if n != 1 {
			t.Fatal("the pinned persona version went with the persona")
		}
		_, err = s.FindPersonaVersion(ctx, ws.ID, p.ID, v.PersonaVersionID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

func TestPersonaVersions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewPersonaService(db)
		ws := mustWorkspace(t, db)
		p := mustPersona(t, db, ws.ID, "Warm")

		v1, err := s.CreatePersonaVersion(ctx, ws.ID, p.ID, "one")
		must(t, err)
		if v1.Number != 1 || v1.Note != "one" || v1.PersonaID != p.ID || v1.WorkspaceID != ws.ID ||
			v1.Config.Instructions != "Be warm." || !hyponema.HasPrefix(v1.ID, hyponema.PrefixPersonaVersion) {
			t.Fatalf("v1 = %+v", v1)
		}
		_, err = s.UpdatePersona(ctx, ws.ID, p.ID, hyponema.PersonaPatch{Instructions: ptr("Be brisk.")})
		must(t, err)
		v2, err := s.CreatePersonaVersion(ctx, ws.ID, p.ID, "")
		must(t, err)
		if v2.Number != 2 || v2.Config.Instructions != "Be brisk." {
			t.Fatalf("v2 = %+v", v2)
		}
		got, err := s.FindPersonaVersion(ctx, ws.ID, p.ID, v1.ID)
		must(t, err)
		if fmt.Sprintf("%#v", *got) != fmt.Sprintf("%#v", *v1) {
			t.Fatalf("found %#v\nwant %#v", got, v1)
		}
		id := func(v *hyponema.PersonaVersion) string { return v.ID }
		fetch := func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.PersonaVersion], error) {
			return s.ListPersonaVersions(ctx, ws.ID, p.ID, opt)
		}
		wantIDs(t, walk(t, 1, false, id, fetch), []string{v2.ID, v1.ID})
		wantIDs(t, walk(t, 1, true, id, fetch), []string{v1.ID, v2.ID})

		_, err = s.CreatePersonaVersion(ctx, ws.ID, hyponema.NewID(hyponema.PrefixPersona), "")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.CreatePersonaVersion(ctx, ws.ID, p.ID, strings.Repeat("n", hyponema.MaxNoteLen+1))
		wantField(t, err, "too_long", "body", "note")
		_, err = s.FindPersonaVersion(ctx, ws.ID, mustPersona(t, db, ws.ID, "Other").ID, v1.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

func TestPersonaPublishRollback(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewPersonaService(db)
		ws := mustWorkspace(t, db)
		p := mustPersona(t, db, ws.ID, "Warm")
		var vs []*hyponema.PersonaVersion
		for range 3 {
			v, err := s.CreatePersonaVersion(ctx, ws.ID, p.ID, "")
			must(t, err)
			vs = append(vs, v)
		}
		live := func(want string) {
			t.Helper()
			got, err := s.FindPersona(ctx, ws.ID, p.ID)
			must(t, err)
			if got.PublishedVersionID != want {
				t.Fatalf("published_version_id = %q, want %q", got.PublishedVersionID, want)
			}
		}

		_, err := s.RollbackPersona(ctx, ws.ID, p.ID)
		wantCode(t, err, hyponema.ECONFLICT)
		for _, v := range vs {
			got, err := s.PublishPersonaVersion(ctx, ws.ID, p.ID, v.ID)
			must(t, err)
			if got.PublishedVersionID != v.ID {
				t.Fatalf("publish returned %q", got.PublishedVersionID)
			}
		}
		_, err = s.PublishPersonaVersion(ctx, ws.ID, p.ID, vs[2].ID)
		must(t, err)
		live(vs[2].ID)
		got, err := s.RollbackPersona(ctx, ws.ID, p.ID)
		must(t, err)
		if got.PublishedVersionID != vs[1].ID {
			t.Fatalf("rollback returned %q, want v2", got.PublishedVersionID)
		}
		_, err = s.RollbackPersona(ctx, ws.ID, p.ID)
		must(t, err)
		live(vs[0].ID)
		_, err = s.RollbackPersona(ctx, ws.ID, p.ID)
		wantCode(t, err, hyponema.ECONFLICT)
		live(vs[0].ID)

		ov, err := s.CreatePersonaVersion(ctx, ws.ID, mustPersona(t, db, ws.ID, "Other").ID, "")
		must(t, err)
		_, err = s.PublishPersonaVersion(ctx, ws.ID, p.ID, ov.ID)
		wantField(t, err, "invalid", "body", "version_id")
		_, err = s.PublishPersonaVersion(ctx, ws.ID, hyponema.NewID(hyponema.PrefixPersona), vs[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		live(vs[0].ID)
	})
}

// Workspace B gets ENOTFOUND for every one of A's personas and versions,
// and its lists never show them.
func TestPersonaIsolation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewPersonaService(db)
		a, b := mustWorkspace(t, db), mustWorkspace(t, db)
		p := mustPersona(t, db, a.ID, "Warm")
		v, err := s.CreatePersonaVersion(ctx, a.ID, p.ID, "")
		must(t, err)
		_, err = s.PublishPersonaVersion(ctx, a.ID, p.ID, v.ID)
		must(t, err)
		mustPersona(t, db, b.ID, "Mine")

		_, err = s.FindPersona(ctx, b.ID, p.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.UpdatePersona(ctx, b.ID, p.ID, hyponema.PersonaPatch{Name: ptr("stolen")})
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, s.DeletePersona(ctx, b.ID, p.ID), hyponema.ENOTFOUND)
		_, err = s.CreatePersonaVersion(ctx, b.ID, p.ID, "")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.FindPersonaVersion(ctx, b.ID, p.ID, v.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.ListPersonaVersions(ctx, b.ID, p.ID, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.PublishPersonaVersion(ctx, b.ID, p.ID, v.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.RollbackPersona(ctx, b.ID, p.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		page, err := s.ListPersonas(ctx, b.ID, hyponema.PageOptions{Limit: 200})
		must(t, err)
		for _, x := range page.Data {
			if x.ID == p.ID || x.WorkspaceID != b.ID {
				t.Fatalf("B lists %+v", x)
			}
		}
		got, err := s.FindPersona(ctx, a.ID, p.ID)
		must(t, err)
		if got.Name != "Warm" || got.PublishedVersionID != v.ID {
			t.Fatalf("A's persona changed: %+v", got)
		}
	})
}

func TestListPersonasPages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewPersonaService(db)
		ws := mustWorkspace(t, db)
		var ids []string
		for i := range 10 {
			p := mustPersona(t, db, ws.ID, fmt.Sprint("p", i))
			ids = append(ids, p.ID)
			if i%3 == 0 {
				must(t, s.DeletePersona(ctx, ws.ID, p.ID))
				ids = ids[:len(ids)-1]
			}
		}
		id := func(p *hyponema.Persona) string { return p.ID }
		fetch := func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Persona], error) {
			return s.ListPersonas(ctx, ws.ID, opt)
		}
		wantIDs(t, walk(t, 3, true, id, fetch), ids)
		wantIDs(t, walk(t, 3, false, id, fetch), reversed(ids))
	})
}
