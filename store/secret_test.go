package store_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/seal"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func secretBox(t testing.TB, secret byte) *seal.Box {
	t.Helper()
	b, err := seal.New("workspace secrets", seal.Key{ID: "k1", Secret: bytes.Repeat([]byte{secret}, 32)})
	must(t, err)
	return b
}

// rawSecrets returns every stored value column, as a copy of the database
// would show them.
func rawSecrets(t testing.TB, db *store.DB) []string {
	t.Helper()
	rows, err := db.Writer().QueryContext(t.Context(), `SELECT value FROM secrets`)
	must(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		must(t, rows.Scan(&v))
		out = append(out, v)
	}
	must(t, rows.Err())
	return out
}

func TestSecretSetAndReplace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		secrets := store.NewSecretService(db, secretBox(t, 's'))
		ws := mustWorkspace(t, db)

		sec, created, err := secrets.SetSecret(ctx, ws.ID, "CRM_TOKEN", "tok-first")
		must(t, err)
		if !created || sec.Name != "CRM_TOKEN" || sec.WorkspaceID != ws.ID || sec.CreatedAt.IsZero() || !sec.UpdatedAt.Equal(sec.CreatedAt) {
			t.Fatalf("created %+v, %v", sec, created)
		}
		got, err := secrets.FindSecret(ctx, ws.ID, "CRM_TOKEN")
		must(t, err)
		if *got != *sec {
			t.Fatalf("found %+v, want %+v", got, sec)
		}
		if v, err := secrets.ResolveSecret(ctx, ws.ID, "CRM_TOKEN"); err != nil || v != "tok-first" {
			t.Fatalf("resolved %q, %v", v, err)
		}

		time.Sleep(2 * time.Millisecond)
		again, created, err := secrets.SetSecret(ctx, ws.ID, "CRM_TOKEN", "tok-second")
		must(t, err)
		if created || !again.CreatedAt.Equal(sec.CreatedAt) || !again.UpdatedAt.After(sec.UpdatedAt) {
			t.Fatalf("replaced %+v, %v; first %+v", again, created, sec)
		}
		got, err = secrets.FindSecret(ctx, ws.ID, "CRM_TOKEN")
		must(t, err)
		if *got != *again {
			t.Fatalf("found %+v after replacing, want %+v", got, again)
		}
		if v, _ := secrets.ResolveSecret(ctx, ws.ID, "CRM_TOKEN"); v != "tok-second" {
			t.Fatalf("resolved %q after replacing", v)
		}

		// Names are case-sensitive.
		_, created, err = secrets.SetSecret(ctx, ws.ID, "crm_token", "lower")
		must(t, err)
		if !created {
			t.Fatal("crm_token replaced CRM_TOKEN")
		}
		if v, _ := secrets.ResolveSecret(ctx, ws.ID, "CRM_TOKEN"); v != "tok-second" {
			t.Fatalf("CRM_TOKEN is %q", v)
		}

		_, _, err = secrets.SetSecret(ctx, "ws_01jc2x5w3n0000000000000000", "CRM_TOKEN", "x")
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

// TestSecretConcurrentSet: of writers racing to create one secret, exactly
// one reports that it created it, and none fails.
func TestSecretConcurrentSet(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		secrets := store.NewSecretService(db, secretBox(t, 's'))
		ws := mustWorkspace(t, db)
		const writers = 8
		var wg sync.WaitGroup
		created := make([]bool, writers)
		errs := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				_, created[i], errs[i] = secrets.SetSecret(t.Context(), ws.ID, "RACE", fmt.Sprint("value-", i))
			})
		}
		wg.Wait()
		n := 0
		for i := range writers {
			must(t, errs[i])
			if created[i] {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d writers created the secret, want 1", n)
		}
	})
}

func TestSecretListFindDelete(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		secrets := store.NewSecretService(db, secretBox(t, 's'))
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)

		for _, name := range []string{"b_TOKEN", "a_key", "Z", "A_KEY", "_x1"} {
			_, _, err := secrets.SetSecret(ctx, ws.ID, name, "value of "+name)
			must(t, err)
		}
		_, _, err := secrets.SetSecret(ctx, other.ID, "OTHER", "other value")
		must(t, err)

		list, err := secrets.ListSecrets(ctx, ws.ID)
		must(t, err)
		var names []string
		for _, s := range list {
			if s.WorkspaceID != ws.ID {
				t.Errorf("listed %+v", s)
			}
			names = append(names, s.Name)
		}
		// Byte order on both databases.
		wantIDs(t, names, []string{"A_KEY", "Z", "_x1", "a_key", "b_TOKEN"})

		// Another workspace sees none of them.
		list, err = secrets.ListSecrets(ctx, other.ID)
		must(t, err)
		if len(list) != 1 || list[0].Name != "OTHER" {
			t.Fatalf("other workspace lists %v", list)
		}
		_, err = secrets.FindSecret(ctx, other.ID, "Z")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = secrets.ResolveSecret(ctx, other.ID, "Z")
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, secrets.DeleteSecret(ctx, other.ID, "Z"), hyponema.ENOTFOUND)
		_, err = secrets.ResolveSecret(ctx, ws.ID, "OTHER")
		wantCode(t, err, hyponema.ENOTFOUND)

		// Missing names.
		_, err = secrets.FindSecret(ctx, ws.ID, "MISSING")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = secrets.ResolveSecret(ctx, ws.ID, "MISSING")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = secrets.FindSecret(ctx, ws.ID, "not a name")
		wantCode(t, err, hyponema.ENOTFOUND)

		must(t, secrets.DeleteSecret(ctx, ws.ID, "Z"))
		wantCode(t, secrets.DeleteSecret(ctx, ws.ID, "Z"), hyponema.ENOTFOUND)
		_, err = secrets.FindSecret(ctx, ws.ID, "Z")
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = secrets.ResolveSecret(ctx, ws.ID, "Z")
		wantCode(t, err, hyponema.ENOTFOUND)
		list, _ = secrets.ListSecrets(ctx, ws.ID)
		if len(list) != 4 {
			t.Fatalf("%d secrets after a delete, want 4", len(list))
		}
		if v, _ := secrets.ResolveSecret(ctx, other.ID, "OTHER"); v != "other value" {
			t.Fatalf("the other workspace's secret is %q", v)
		}
	})
}

// TestSecretSealed: the database holds no value in the clear, and a sealed
// value moved to another row (name or workspace) does not open there.
func TestSecretSealed(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		secrets := store.NewSecretService(db, secretBox(t, 's'))
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)
		const value = "sk-live-4242424242424242"
		_, _, err := secrets.SetSecret(ctx, ws.ID, "STRIPE", value)
		must(t, err)
		_, _, err = secrets.SetSecret(ctx, ws.ID, "DECOY", "decoy value")
		must(t, err)
		_, _, err = secrets.SetSecret(ctx, other.ID, "STRIPE", "other stripe")
		must(t, err)

		raw := rawSecrets(t, db)
		if len(raw) != 3 {
			t.Fatalf("%d rows", len(raw))
		}
		for _, v := range raw {
			if strings.Contains(v, value) || strings.Contains(v, "decoy") || strings.Contains(v, "other stripe") || !strings.HasPrefix(v, "v1.k1.") {
				t.Fatalf("stored value %q is not sealed", v)
			}
		}

		// Copy STRIPE's sealed value over DECOY, and over the other
		// workspace's STRIPE.
		_, err = db.Writer().ExecContext(ctx, fmt.Sprintf(`UPDATE secrets SET value =
			(SELECT value FROM secrets WHERE workspace_id = '%s' AND name = 'STRIPE')
			WHERE (workspace_id = '%s' AND name = 'DECOY') OR workspace_id = '%s'`, ws.ID, ws.ID, other.ID))
		must(t, err)
		for _, c := range []struct{ ws, name string }{{ws.ID, "DECOY"}, {other.ID, "STRIPE"}} {
			v, err := secrets.ResolveSecret(ctx, c.ws, c.name)
			if v != "" || hyponema.ErrorCode(err) != hyponema.EINTERNAL {
				t.Fatalf("a copied value resolved as %s in %s: %q, %v", c.name, c.ws, v, err)
			}
			if strings.Contains(fmt.Sprint(err), value) {
				t.Fatalf("the error shows the value: %v", err)
			}
		}
		if v, err := secrets.ResolveSecret(ctx, ws.ID, "STRIPE"); err != nil || v != value {
			t.Fatalf("the original resolves as %q, %v", v, err)
		}

		// Under another server key nothing opens.
		stranger := store.NewSecretService(db, secretBox(t, 'x'))
		if _, err := stranger.ResolveSecret(ctx, ws.ID, "STRIPE"); hyponema.ErrorCode(err) != hyponema.EINTERNAL {
			t.Fatalf("another key: %v", err)
		}
	})
}

func TestSecretValidation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		secrets := store.NewSecretService(db, secretBox(t, 's'))
		ws := mustWorkspace(t, db)

		for _, name := range []string{"", "1ABC", "has-dash", "has space", "dot.ted", "Ünïcode", "{{secrets.X}}",
			strings.Repeat("A", hyponema.MaxSecretNameLen+1), "NUL\x00"} {
			_, _, err := secrets.SetSecret(ctx, ws.ID, name, "value")
			wantField(t, err, "invalid", "body", "name")
		}
		tests := []struct {
			value, typ string
		}{
			{"", "missing"},
			{strings.Repeat("v", hyponema.MaxSecretValueLen+1), "too_long"},
			{strings.Repeat("é", hyponema.MaxSecretValueLen/2+1), "too_long"}, // bytes, not characters
			{"line\nbreak", "invalid"},
			{"carriage\rreturn", "invalid"},
			{"nul\x00byte", "invalid"},
			{"bad \xff utf-8", "invalid"},
		}
		for _, tt := range tests {
			_, _, err := secrets.SetSecret(ctx, ws.ID, "NAME", tt.value)
			wantField(t, err, tt.typ, "body", "value")
			if strings.Contains(err.Error(), tt.value) && tt.value != "" {
				t.Fatalf("the error shows the value: %v", err)
			}
		}
		for _, ok := range []string{"x", strings.Repeat("v", hyponema.MaxSecretValueLen), "Bearer abc def\tghi", "ünïcödé"} {
			_, _, err := secrets.SetSecret(ctx, ws.ID, "NAME", ok)
			must(t, err)
		}
		_, _, err := secrets.SetSecret(ctx, ws.ID, strings.Repeat("A", hyponema.MaxSecretNameLen), "v")
		must(t, err)
		if list, _ := secrets.ListSecrets(ctx, ws.ID); len(list) != 2 {
			t.Fatalf("%d secrets stored, want 2: refused ones were stored", len(list))
		}
	})
}

func TestSecretLimit(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	box, _ := seal.New("workspace secrets", seal.Key{ID: "k1", Secret: []byte(strings.Repeat("k", 32))})
	secrets := store.NewSecretService(db, box)
	ws := mustWorkspace(t, db)
	ctx := t.Context()
	for i := range hyponema.MaxSecretsPerWorkspace {
		_, _, err := secrets.SetSecret(ctx, ws.ID, fmt.Sprintf("S%d", i), "v")
		must(t, err)
	}
	_, _, err := secrets.SetSecret(ctx, ws.ID, "ONE_MORE", "v")
	wantCode(t, err, hyponema.EINVALID)
	// Replacing one is still fine.
	_, created, err := secrets.SetSecret(ctx, ws.ID, "S0", "w")
	must(t, err)
	if created {
		t.Error("replacing reported created")
	}
}
