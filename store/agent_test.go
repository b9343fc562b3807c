package store_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func ptr[T any](v T) *T { return &v }

func TestAgentCRUD(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)

		a := &hyponema.Agent{WorkspaceID: ws.ID, AgentConfig: hyponema.AgentConfig{
			Name: "Support", Instructions: "Help <customers> & be brief.", Temperature: 0.3, MaxOutputTokens: 500,
			AllowedOrigins: []string{"HTTPS://Example.com/"}, Metadata: map[string]string{"team": "care"},
		}}
		must(t, s.CreateAgent(ctx, a))
		if !hyponema.HasPrefix(a.ID, hyponema.PrefixAgent) || a.CreatedAt.IsZero() || a.UpdatedAt != a.CreatedAt {
			t.Fatalf("created %+v", a)
		}
		// Normalize ran: defaults and canonical origins.
		if a.Model != hyponema.DefaultModel || a.Language != hyponema.DefaultLanguage ||
			!slices.Equal(a.AllowedOrigins, []string{"https://example.com"}) {
			t.Fatalf("not normalized: %+v", a.AgentConfig)
		}

		got, err := s.FindAgent(ctx, ws.ID, a.ID)
		must(t, err)
		wantAgent(t, got, a)

		// A patch changes only its fields.
		origins := []string{"https://A.example"}
		up, err := s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{
			Name: ptr("Sales"), Temperature: ptr(1.5), AllowedOrigins: &origins})
		must(t, err)
		if up.Name != "Sales" || up.Temperature != 1.5 || up.Instructions != a.Instructions ||
			!slices.Equal(up.AllowedOrigins, []string{"https://a.example"}) || !up.UpdatedAt.After(a.UpdatedAt) ||
			up.CreatedAt != a.CreatedAt {
			t.Fatalf("updated %+v", up)
		}
		if origins[0] != "https://A.example" {
			t.Fatal("UpdateAgent rewrote the caller's patch")
		}
		got, err = s.FindAgent(ctx, ws.ID, a.ID)
		must(t, err)
		wantAgent(t, got, up)

		page, err := s.ListAgents(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 1 || page.HasMore {
			t.Fatalf("ListAgents = %+v", page)
		}
		wantAgent(t, page.Data[0], up)

		must(t, s.DeleteAgent(ctx, ws.ID, a.ID))
		_, err = s.FindAgent(ctx, ws.ID, a.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, s.DeleteAgent(ctx, ws.ID, a.ID), hyponema.ENOTFOUND)
		_, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{Name: ptr("x")})
		wantCode(t, err, hyponema.ENOTFOUND)
		page, err = s.ListAgents(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 0 {
			t.Fatalf("deleted agent listed: %+v", page.Data)
		}
	})
}

func wantAgent(t testing.TB, got, want *hyponema.Agent) {
	t.Helper()
	if got.ID != want.ID || got.WorkspaceID != want.WorkspaceID || got.PublishedVersionID != want.PublishedVersionID ||
		got.CreatedAt != want.CreatedAt || got.UpdatedAt != want.UpdatedAt || !sameAgentConfig(got.AgentConfig, want.AgentConfig) {
		t.Fatalf("agent =\n%+v\nwant\n%+v", got, want)
	}
}

func sameAgentConfig(a, b hyponema.AgentConfig) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

func TestAgentValidation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		create := func(c hyponema.AgentConfig) error {
			return s.CreateAgent(ctx, &hyponema.Agent{WorkspaceID: ws.ID, AgentConfig: c})
		}
		ok := hyponema.AgentConfig{Name: "a", MaxOutputTokens: 10}

		wantField(t, create(hyponema.AgentConfig{MaxOutputTokens: 10}), "missing", "body", "name")
		c := ok
		c.Temperature = 3
		wantField(t, create(c), "out_of_range", "body", "temperature")
		c = ok
		c.Model = "nope"
		wantField(t, create(c), "invalid", "body", "model")
		c = ok
		c.AllowedOrigins = []string{"ftp://x"}
		wantField(t, create(c), "invalid", "body", "allowed_origins", "0")

		// NUL characters, which PostgreSQL cannot store, are refused alike
		// on both databases; text that merely reads \u0000 is fine.
		c = ok
		c.Name = "a\x00b"
		wantField(t, create(c), "invalid", "body", "name")
		c = ok
		c.Instructions = "x\x00y"
		wantField(t, create(c), "invalid", "body", "instructions")
		c = ok
		c.Model = "openai/gpt\x00"
		wantCode(t, create(c), hyponema.EINVALID)
		c = ok
		c.Instructions = `say \u0000 and \\u0000`
		lit := mustAgent(t, db, ws.ID, c)
		got, err := s.FindAgent(ctx, ws.ID, lit.ID)
		must(t, err)
		if got.Instructions != c.Instructions {
			t.Fatalf("instructions = %q, want %q", got.Instructions, c.Instructions)
		}
		must(t, s.DeleteAgent(ctx, ws.ID, lit.ID))

		// persona_id: malformed, missing, another workspace's, deleted.
		c = ok
		c.PersonaID = "nope"
		wantField(t, create(c), "invalid", "body", "persona_id")
		c.PersonaID = hyponema.NewID(hyponema.PrefixPersona)
		wantField(t, create(c), "invalid", "body", "persona_id")
		c.PersonaID = mustPersona(t, db, mustWorkspace(t, db).ID, "Other").ID
		wantField(t, create(c), "invalid", "body", "persona_id")
		deleted := mustPersona(t, db, ws.ID, "Gone")
		must(t, store.NewPersonaService(db).DeletePersona(ctx, ws.ID, deleted.ID))
		c.PersonaID = deleted.ID
		wantField(t, create(c), "invalid", "body", "persona_id")

		// Nothing was stored by the failed calls.
		page, err := s.ListAgents(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 0 {
			t.Fatalf("failed creates stored %d agents", len(page.Data))
		}

		// The same checks on update, which then changes nothing.
		a := mustAgent(t, db, ws.ID, ok)
		_, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{Name: ptr(""), MaxOutputTokens: ptr(0)})
		wantField(t, err, "missing", "body", "name")
		wantField(t, err, "out_of_range", "body", "max_output_tokens")
		_, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{PersonaID: ptr(deleted.ID)})
		wantField(t, err, "invalid", "body", "persona_id")
		got, err = s.FindAgent(ctx, ws.ID, a.ID)
		must(t, err)
		wantAgent(t, got, a)

		// A live persona of the workspace is fine, and "" removes it.
		p := mustPersona(t, db, ws.ID, "Warm")
		got, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{PersonaID: ptr(p.ID)})
		must(t, err)
		if got.PersonaID != p.ID {
			t.Fatalf("persona_id = %q", got.PersonaID)
		}
		got, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{PersonaID: ptr("")})
		must(t, err)
		if got.PersonaID != "" {
			t.Fatalf("persona_id = %q after removing it", got.PersonaID)
		}

		// Version notes are bounded.
		_, err = s.CreateAgentVersion(ctx, ws.ID, a.ID, strings.Repeat("n", hyponema.MaxNoteLen+1))
		wantField(t, err, "too_long", "body", "note")
		_, err = s.CreateAgentVersion(ctx, ws.ID, a.ID, "a\x00")
		wantField(t, err, "invalid", "body", "note")
	})
}

// Workspace B gets ENOTFOUND for every one of A's agents and versions, and
// its lists never show them.
func TestAgentIsolation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		a, b := mustWorkspace(t, db), mustWorkspace(t, db)
		agent := mustAgent(t, db, a.ID, hyponema.AgentConfig{})
		v, err := s.CreateAgentVersion(ctx, a.ID, agent.ID, "")
		must(t, err)
		_, err = s.PublishAgentVersion(ctx, a.ID, agent.ID, v.ID)
		must(t, err)
		mustAgent(t, db, b.ID, hyponema.AgentConfig{}) // B has agents of its own

		_, err = s.FindAgent(ctx, b.ID, agent.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.UpdateAgent(ctx, b.ID, agent.ID, hyponema.AgentPatch{Name: ptr("stolen")})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.CreateAgentVersion(ctx, b.ID, agent.ID, "")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.FindAgentVersion(ctx, b.ID, agent.ID, v.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.ListAgentVersions(ctx, b.ID, agent.ID, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.PublishAgentVersion(ctx, b.ID, agent.ID, v.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.RollbackAgent(ctx, b.ID, agent.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, s.DeleteAgent(ctx, b.ID, agent.ID), hyponema.ENOTFOUND)

		page, err := s.ListAgents(ctx, b.ID, hyponema.PageOptions{Limit: 200})
		must(t, err)
		for _, x := range page.Data {
			if x.ID == agent.ID || x.WorkspaceID != b.ID {
				t.Fatalf("B lists %+v", x)
			}
		}
		// And A's agent is as it was.
		got, err := s.FindAgent(ctx, a.ID, agent.ID)
		must(t, err)
		if got.Name != agent.Name || got.PublishedVersionID != v.ID {
			t.Fatalf("A's agent changed: %+v", got)
		}
		// A version is found only under its own agent.
		other := mustAgent(t, db, a.ID, hyponema.AgentConfig{})
		_, err = s.FindAgentVersion(ctx, a.ID, other.ID, v.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

func TestAgentVersions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		a := mustAgent(t, db, ws.ID, hyponema.AgentConfig{Instructions: "v1"})

		v1, err := s.CreateAgentVersion(ctx, ws.ID, a.ID, "first")
		must(t, err)
		if v1.Number != 1 || v1.Note != "first" || v1.AgentID != a.ID || v1.WorkspaceID != ws.ID ||
			v1.PersonaVersionID != "" || v1.Config.Instructions != "v1" || !hyponema.HasPrefix(v1.ID, hyponema.PrefixAgentVersion) {
			t.Fatalf("v1 = %+v", v1)
		}
		_, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{Instructions: ptr("v2")})
		must(t, err)
		v2, err := s.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		must(t, err)
		if v2.Number != 2 || v2.Config.Instructions != "v2" {
			t.Fatalf("v2 = %+v", v2)
		}

		// A version is immutable: later draft edits leave it alone.
		_, err = s.UpdateAgent(ctx, ws.ID, a.ID, hyponema.AgentPatch{Instructions: ptr("v3")})
		must(t, err)
		got, err := s.FindAgentVersion(ctx, ws.ID, a.ID, v1.ID)
		must(t, err)
		if got.Number != 1 || got.Config.Instructions != "v1" || got.CreatedAt != v1.CreatedAt ||
			!sameAgentConfig(got.Config, v1.Config) {
			t.Fatalf("found v1 = %+v, want %+v", got, v1)
		}

		page, err := s.ListAgentVersions(ctx, ws.ID, a.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 2 || page.Data[0].ID != v2.ID || page.Data[1].ID != v1.ID {
			t.Fatalf("ListAgentVersions = %+v", page.Data)
		}
		_, err = s.FindAgentVersion(ctx, ws.ID, a.ID, hyponema.NewID(hyponema.PrefixAgentVersion))
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.CreateAgentVersion(ctx, ws.ID, hyponema.NewID(hyponema.PrefixAgent), "")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.ListAgentVersions(ctx, ws.ID, hyponema.NewID(hyponema.PrefixAgent), hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)

		// A deleted agent's versions are gone from the API (the rows stay).
		must(t, s.DeleteAgent(ctx, ws.ID, a.ID))
		_, err = s.FindAgentVersion(ctx, ws.ID, a.ID, v1.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.ListAgentVersions(ctx, ws.ID, a.ID, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.PublishAgentVersion(ctx, ws.ID, a.ID, v1.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		var rows int
		must(t, db.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM agent_versions WHERE agent_id = '`+a.ID+`'`).Scan(&rows))
		if rows != 2 {
			t.Fatalf("%d version rows after delete, want 2", rows)
		}
	})
}

// Concurrent snapshots of one agent get the numbers 1…n, each once, and
// none fails.
func TestAgentVersionsConcurrently(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		p := mustPersona(t, db, ws.ID, "Warm")
		// With a persona and no persona version, the first snapshot also
		// makes a persona version: the racers must agree on that too.
		a := mustAgent(t, db, ws.ID, hyponema.AgentConfig{PersonaID: p.ID})

		const n = 20
		versions := make([]*hyponema.AgentVersion, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { versions[i], errs[i] = s.CreateAgentVersion(ctx, ws.ID, a.ID, fmt.Sprint(i)) })
		}
		wg.Wait()
		var numbers []int
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("call %d: %v", i, errs[i])
			}
			numbers = append(numbers, versions[i].Number)
			if versions[i].PersonaVersionID != versions[0].PersonaVersionID {
				t.Fatalf("versions pin different persona versions: %s, %s",
					versions[i].PersonaVersionID, versions[0].PersonaVersionID)
			}
		}
		slices.Sort(numbers)
		for i, got := range numbers {
			if got != i+1 {
				t.Fatalf("numbers = %v, want 1…%d each once", numbers, n)
			}
		}
		pv, err := store.NewPersonaService(db).ListPersonaVersions(ctx, ws.ID, p.ID, hyponema.PageOptions{})
		must(t, err)
		if len(pv.Data) != 1 {
			t.Fatalf("%d persona versions, want 1", len(pv.Data))
		}
		// Listing by ID gives the same order as by number.
		page, err := s.ListAgentVersions(ctx, ws.ID, a.ID, hyponema.PageOptions{Asc: true})
		must(t, err)
		for i, v := range page.Data {
			if v.Number != i+1 {
				t.Fatalf("version %d listed at %d", v.Number, i+1)
			}
		}
	})
}

// An agent version pins the persona's published version; else its newest
// version; else a version snapshotted from the persona's draft.
func TestAgentVersionPinsPersona(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ps := store.NewPersonaService(db)
		ws := mustWorkspace(t, db)
		p := mustPersona(t, db, ws.ID, "Warm")
		a := mustAgent(t, db, ws.ID, hyponema.AgentConfig{PersonaID: p.ID})

		// No persona version yet: one is made from the draft.
		v1, err := s.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		must(t, err)
		pv1, err := ps.FindPersonaVersion(ctx, ws.ID, p.ID, v1.PersonaVersionID)
		must(t, err)
		if pv1.Number != 1 || pv1.Config.Instructions != "Be warm." ||
			pv1.Note != fmt.Sprintf("created for agent version 1 of %s", a.ID) {
			t.Fatalf("snapshotted persona version = %+v", pv1)
		}

		// Persona versions exist, none published: the newest.
		_, err = ps.UpdatePersona(ctx, ws.ID, p.ID, hyponema.PersonaPatch{Instructions: ptr("Be brisk.")})
		must(t, err)
		pv2, err := ps.CreatePersonaVersion(ctx, ws.ID, p.ID, "brisk")
		must(t, err)
		_, err = ps.UpdatePersona(ctx, ws.ID, p.ID, hyponema.PersonaPatch{Instructions: ptr("draft only")})
		must(t, err)
		v2, err := s.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		must(t, err)
		if v2.PersonaVersionID != pv2.ID {
			t.Fatalf("pinned %s, want the newest persona version %s", v2.PersonaVersionID, pv2.ID)
		}

		// A published persona version wins over newer ones.
		_, err = ps.PublishPersonaVersion(ctx, ws.ID, p.ID, pv1.ID)
		must(t, err)
		_, err = ps.CreatePersonaVersion(ctx, ws.ID, p.ID, "newer")
		must(t, err)
		v3, err := s.CreateAgentVersion(ctx, ws.ID, a.ID, "")
		must(t, err)
		if v3.PersonaVersionID != pv1.ID {
			t.Fatalf("pinned %s, want the published persona version %s", v3.PersonaVersionID, pv1.ID)
		}

		// The pins are stored, not recomputed.
		for _, v := range []*hyponema.AgentVersion{v1, v2, v3} {
			got, err := s.FindAgentVersion(ctx, ws.ID, a.ID, v.ID)
			must(t, err)
			if got.PersonaVersionID != v.PersonaVersionID {
				t.Fatalf("version %d pins %s, stored %s", v.Number, v.PersonaVersionID, got.PersonaVersionID)
			}
		}
		pvs, err := ps.ListPersonaVersions(ctx, ws.ID, p.ID, hyponema.PageOptions{})
		must(t, err)
		if len(pvs.Data) != 3 {
			t.Fatalf("%d persona versions, want 3 (no extra snapshots)", len(pvs.Data))
		}
	})
}

func TestAgentPublishRollback(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		a := mustAgent(t, db, ws.ID, hyponema.AgentConfig{})
		var vs []*hyponema.AgentVersion
		for range 3 {
			v, err := s.CreateAgentVersion(ctx, ws.ID, a.ID, "")
			must(t, err)
			vs = append(vs, v)
		}
		live := func(want string) {
			t.Helper()
			got, err := s.FindAgent(ctx, ws.ID, a.ID)
			must(t, err)
			if got.PublishedVersionID != want {
				t.Fatalf("published_version_id = %q, want %q", got.PublishedVersionID, want)
			}
		}

		live("")
		_, err := s.RollbackAgent(ctx, ws.ID, a.ID)
		wantCode(t, err, hyponema.ECONFLICT)

		for _, v := range vs {
			got, err := s.PublishAgentVersion(ctx, ws.ID, a.ID, v.ID)
			must(t, err)
			if got.PublishedVersionID != v.ID {
				t.Fatalf("publish returned %q, want %q", got.PublishedVersionID, v.ID)
			}
		}
		live(vs[2].ID)
		// Publishing the live version again changes nothing: a rollback
		// still goes to v2.
		_, err = s.PublishAgentVersion(ctx, ws.ID, a.ID, vs[2].ID)
		must(t, err)
		got, err := s.RollbackAgent(ctx, ws.ID, a.ID)
		must(t, err)
		if got.PublishedVersionID != vs[1].ID {
			t.Fatalf("rollback returned %q, want v2", got.PublishedVersionID)
		}
		live(vs[1].ID)
		_, err = s.RollbackAgent(ctx, ws.ID, a.ID)
		must(t, err)
		live(vs[0].ID)
		_, err = s.RollbackAgent(ctx, ws.ID, a.ID)
		wantCode(t, err, hyponema.ECONFLICT)
		live(vs[0].ID)

		// Publishing after rollbacks starts a new history on top.
		_, err = s.PublishAgentVersion(ctx, ws.ID, a.ID, vs[2].ID)
		must(t, err)
		_, err = s.RollbackAgent(ctx, ws.ID, a.ID)
		must(t, err)
		live(vs[0].ID)

		// Only the agent's own versions can be published.
		other := mustAgent(t, db, ws.ID, hyponema.AgentConfig{})
		ov, err := s.CreateAgentVersion(ctx, ws.ID, other.ID, "")
		must(t, err)
		_, err = s.PublishAgentVersion(ctx, ws.ID, a.ID, ov.ID)
		wantField(t, err, "invalid", "body", "version_id")
		_, err = s.PublishAgentVersion(ctx, ws.ID, a.ID, "agv_nope")
		wantField(t, err, "invalid", "body", "version_id")
		_, err = s.PublishAgentVersion(ctx, ws.ID, hyponema.NewID(hyponema.PrefixAgent), vs[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		live(vs[0].ID)
	})
}

// Keyset pages neither skip nor repeat a row while other rows are inserted.
func TestListAgentsWhileInserting(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		var initial []string
		for range 25 {
			initial = append(initial, mustAgent(t, db, ws.ID, hyponema.AgentConfig{}).ID)
		}
		other := mustWorkspace(t, db)
		mustAgent(t, db, other.ID, hyponema.AgentConfig{})

		// The inserter runs until the walks are over (at most 2000 rows);
		// they begin once it has started, so that the two overlap.
		var inserted atomic.Int64
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			for range 2000 {
				select {
				case <-stop:
					done <- nil
					return
				default:
				}
				a := &hyponema.Agent{WorkspaceID: ws.ID, AgentConfig: hyponema.AgentConfig{Name: "new", MaxOutputTokens: 1}}
				if err := s.CreateAgent(ctx, a); err != nil {
					done <- err
					return
				}
				inserted.Add(1)
			}
			done <- nil
		}()
		for inserted.Load() < 3 {
			time.Sleep(time.Millisecond)
		}

		fetch := func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Agent], error) {
			return s.ListAgents(ctx, ws.ID, opt)
		}
		id := func(a *hyponema.Agent) string { return a.ID }
		desc := walk(t, 3, false, id, fetch)
		asc := walk(t, 3, true, id, fetch)
		close(stop)
		must(t, <-done)
		t.Logf("%d rows inserted meanwhile; the walks saw %d (desc) and %d (asc)", inserted.Load(), len(desc), len(asc))
		// Rows inserted before a walk began are in it, at its end.
		if len(asc) < len(initial)+3 {
			t.Fatalf("the ascending walk saw %d rows, fewer than existed when it began", len(asc))
		}

		for _, ids := range [][]string{desc, asc} {
			seen := map[string]bool{}
			for _, id := range ids {
				seen[id] = true
			}
			for _, id := range initial {
				if !seen[id] {
					t.Fatalf("agent %s, present from the start, was skipped", id)
				}
			}
		}
		// Walking down from the top sees exactly the rows that existed when
		// it began, plus possibly some inserted before its first page.
		if !slices.Equal(desc[len(desc)-len(initial):], reversed(initial)) {
			t.Fatal("descending walk does not end with the initial rows in order")
		}
	})
}

// Many writers at once all succeed: on SQLite they queue for the single
// immediate-transaction writer instead of failing with SQLITE_BUSY.
func TestConcurrentWrites(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		const goroutines, each = 8, 50
		errs := make(chan error, goroutines*each)
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					a := &hyponema.Agent{WorkspaceID: ws.ID, AgentConfig: hyponema.AgentConfig{
						Name: fmt.Sprintf("g%d-%d", g, i), MaxOutputTokens: 1}}
					if err := s.CreateAgent(ctx, a); err != nil {
						errs <- err
						continue
					}
					// Reads on the reader pool run beside the writes.
					if _, err := s.FindAgent(ctx, ws.ID, a.ID); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		ids := walk(t, 200, false, func(a *hyponema.Agent) string { return a.ID },
			func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Agent], error) {
				return s.ListAgents(ctx, ws.ID, opt)
			})
		if len(ids) != goroutines*each {
			t.Fatalf("%d agents stored, want %d", len(ids), goroutines*each)
		}
	})
}
