package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func TestAPIKeys(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAPIKeyService(db)
		ws := mustWorkspace(t, db)

		_, err := s.CreateAPIKey(ctx, &hyponema.APIKey{WorkspaceID: ws.ID})
		wantField(t, err, "missing", "body", "name")
		_, err = s.CreateAPIKey(ctx, &hyponema.APIKey{WorkspaceID: hyponema.NewID(hyponema.PrefixWorkspace), Name: "ci"})
		wantCode(t, err, hyponema.ENOTFOUND)

		k := &hyponema.APIKey{WorkspaceID: ws.ID, Name: "ci"}
		secret, err := s.CreateAPIKey(ctx, k)
		must(t, err)
		if !hyponema.ValidAPIKeySecret(secret) {
			t.Fatalf("secret %q has the wrong shape", secret)
		}
		if !hyponema.HasPrefix(k.ID, hyponema.PrefixAPIKey) || k.Prefix != hyponema.APIKeyDisplayPrefix(secret) ||
			k.Hash != hyponema.HashAPIKeySecret(secret) || k.CreatedAt.IsZero() || k.LastUsedAt != nil || k.RevokedAt != nil {
			t.Fatalf("created key = %+v", k)
		}

		got, err := s.AuthenticateAPIKey(ctx, secret)
		must(t, err)
		if got.ID != k.ID || got.WorkspaceID != ws.ID || got.Name != "ci" || got.CreatedAt != k.CreatedAt {
			t.Fatalf("authenticated %+v, want %+v", got, k)
		}
		if got.LastUsedAt != nil {
			t.Fatal("AuthenticateAPIKey set last_used_at")
		}
		found, err := s.FindAPIKey(ctx, ws.ID, k.ID)
		must(t, err)
		if *found != *k {
			t.Fatalf("found %+v, created %+v", found, k)
		}

		for _, bad := range []string{"", "hyp_", secret[:len(secret)-1], secret + "x",
			hyponema.NewAPIKeySecret(), strings.ToUpper(secret[:4]) + secret[4:]} {
			_, err := s.AuthenticateAPIKey(ctx, bad)
			wantCode(t, err, hyponema.EUNAUTHORIZED)
		}

		// TouchAPIKey moves last_used_at forward only.
		t1 := time.Now().UTC().Truncate(time.Microsecond)
		must(t, s.TouchAPIKey(ctx, k.ID, t1))
		must(t, s.TouchAPIKey(ctx, k.ID, t1.Add(-time.Hour)))
		found, err = s.FindAPIKey(ctx, ws.ID, k.ID)
		must(t, err)
		if found.LastUsedAt == nil || !found.LastUsedAt.Equal(t1) {
			t.Fatalf("last_used_at = %v, want %v", found.LastUsedAt, t1)
		}

		// Revoking twice keeps the first time; revoked keys fail at once.
		r1, err := s.RevokeAPIKey(ctx, ws.ID, k.ID)
		must(t, err)
		if r1.RevokedAt == nil {
			t.Fatal("RevokeAPIKey left revoked_at unset")
		}
		_, err = s.AuthenticateAPIKey(ctx, secret)
		wantCode(t, err, hyponema.EUNAUTHORIZED)
		time.Sleep(2 * time.Millisecond)
		r2, err := s.RevokeAPIKey(ctx, ws.ID, k.ID)
		must(t, err)
		if r2.RevokedAt == nil || *r2.RevokedAt != *r1.RevokedAt {
			t.Fatalf("second revoke: revoked_at %v, first %v", r2.RevokedAt, r1.RevokedAt)
		}
		_, err = s.RevokeAPIKey(ctx, ws.ID, hyponema.NewID(hyponema.PrefixAPIKey))
		wantCode(t, err, hyponema.ENOTFOUND)

		// Lists include revoked keys.
		page, err := s.ListAPIKeys(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 1 || page.Data[0].ID != k.ID || page.Data[0].RevokedAt == nil {
			t.Fatalf("ListAPIKeys = %+v", page.Data)
		}
	})
}

func TestAPIKeyWithSecret(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAPIKeyService(db)
		ws := mustWorkspace(t, db)
		secret := hyponema.NewAPIKeySecret()

		for _, bad := range []string{"", "hyp_short", "xyz_" + secret[4:], secret[:44] + "!"} {
			err := s.CreateAPIKeyWithSecret(ctx, &hyponema.APIKey{WorkspaceID: ws.ID, Name: "boot"}, bad)
			wantField(t, err, "invalid", "body", "secret")
		}
		k := &hyponema.APIKey{WorkspaceID: ws.ID, Name: "boot"}
		must(t, s.CreateAPIKeyWithSecret(ctx, k, secret))
		got, err := s.AuthenticateAPIKey(ctx, secret)
		must(t, err)
		if got.ID != k.ID {
			t.Fatalf("authenticated %s, want %s", got.ID, k.ID)
		}
		// The same secret again, in any workspace, is a conflict.
		err = s.CreateAPIKeyWithSecret(ctx, &hyponema.APIKey{WorkspaceID: mustWorkspace(t, db).ID, Name: "again"}, secret)
		wantCode(t, err, hyponema.ECONFLICT)
		err = s.CreateAPIKeyWithSecret(ctx, &hyponema.APIKey{WorkspaceID: hyponema.NewID(hyponema.PrefixWorkspace), Name: "x"},
			hyponema.NewAPIKeySecret())
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

// Only the hash of a secret is stored: no column of any row holds the
// secret or its random part.
func TestAPIKeySecretNeverStored(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAPIKeyService(db)
		ws := mustWorkspace(t, db)
		var secrets []string
		for i := range 3 {
			secret, err := s.CreateAPIKey(ctx, &hyponema.APIKey{WorkspaceID: ws.ID, Name: fmt.Sprint("k", i)})
			must(t, err)
			secrets = append(secrets, secret)
		}
		boot := hyponema.NewAPIKeySecret()
		must(t, s.CreateAPIKeyWithSecret(ctx, &hyponema.APIKey{WorkspaceID: ws.ID, Name: "boot"}, boot))
		secrets = append(secrets, boot)

		rows, err := db.Writer().QueryContext(ctx, `SELECT * FROM api_keys`)
		must(t, err)
		defer rows.Close()
		cols, err := rows.Columns()
		must(t, err)
		hashes := map[string]bool{}
		n := 0
		for rows.Next() {
			n++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			must(t, rows.Scan(ptrs...))
			for i, v := range vals {
				var text string
				switch v := v.(type) {
				case string:
					text = v
				case []byte:
					text = string(v)
				default:
					text = fmt.Sprint(v)
				}
				for _, secret := range secrets {
					if strings.Contains(text, secret[len(hyponema.APIKeyPrefix)+4:]) {
						t.Fatalf("column %s holds a secret: %q", cols[i], text)
					}
				}
				if cols[i] == "hash" {
					hashes[text] = true
				}
			}
		}
		must(t, rows.Err())
		if n != len(secrets) {
			t.Fatalf("%d rows, want %d", n, len(secrets))
		}
		for _, secret := range secrets {
			if !hashes[hyponema.HashAPIKeySecret(secret)] {
				t.Fatalf("no row holds the hash of %s…", secret[:8])
			}
		}
	})
}

// Workspace B sees nothing of workspace A's keys.
func TestAPIKeyIsolation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAPIKeyService(db)
		a, b := mustWorkspace(t, db), mustWorkspace(t, db)
		ka := &hyponema.APIKey{WorkspaceID: a.ID, Name: "a"}
		_, err := s.CreateAPIKey(ctx, ka)
		must(t, err)

		_, err = s.FindAPIKey(ctx, b.ID, ka.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = s.RevokeAPIKey(ctx, b.ID, ka.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		page, err := s.ListAPIKeys(ctx, b.ID, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 0 {
			t.Fatalf("B lists %d of A's keys", len(page.Data))
		}
		// B's attempt changed nothing.
		got, err := s.FindAPIKey(ctx, a.ID, ka.ID)
		must(t, err)
		if got.RevokedAt != nil {
			t.Fatal("workspace B revoked A's key")
		}
	})
}

func TestListAPIKeysPages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewAPIKeyService(db)
		ws := mustWorkspace(t, db)
		var ids []string
		for i := range 7 {
			k := &hyponema.APIKey{WorkspaceID: ws.ID, Name: fmt.Sprint("k", i)}
			_, err := s.CreateAPIKey(ctx, k)
			must(t, err)
			ids = append(ids, k.ID)
		}
		fetch := func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.APIKey], error) {
			return s.ListAPIKeys(ctx, ws.ID, opt)
		}
		id := func(k *hyponema.APIKey) string { return k.ID }
		wantIDs(t, walk(t, 3, true, id, fetch), ids)
		wantIDs(t, walk(t, 3, false, id, fetch), reversed(ids))
		wantIDs(t, walk(t, 7, true, id, fetch), ids)

		_, err := s.ListAPIKeys(ctx, ws.ID, hyponema.PageOptions{Cursor: "not a cursor"})
		wantField(t, err, "invalid", "query", "cursor")
	})
}
