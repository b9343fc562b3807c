package store_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func TestIdempotencyClaimCompleteReplay(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewIdempotencyService(db)
		t0 := time.Now().UTC().Truncate(time.Microsecond)

		rec, err := s.ClaimIdempotencyKey(ctx, "ws_a", "k1", "h1", t0)
		must(t, err)
		if rec != nil {
			t.Fatalf("first claim returned %+v, want the claim", rec)
		}
		// A retry while the first runs sees the unfinished record.
		rec, err = s.ClaimIdempotencyKey(ctx, "ws_a", "k1", "h1", t0.Add(time.Second))
		must(t, err)
		if rec == nil || rec.Done || rec.RequestHash != "h1" || rec.Scope != "ws_a" || rec.Key != "k1" ||
			rec.CreatedAt != t0 || rec.LockedAt != t0 {
			t.Fatalf("claim while running = %+v", rec)
		}

		body := []byte{'{', 0, 0xff, '}'}
		must(t, s.CompleteIdempotencyKey(ctx, "ws_a", "k1", 201, "application/json", body))
		rec, err = s.ClaimIdempotencyKey(ctx, "ws_a", "k1", "h1", t0.Add(time.Hour))
		must(t, err)
		if rec == nil || !rec.Done || rec.Status != 201 || rec.ContentType != "application/json" ||
			!bytes.Equal(rec.Body, body) || rec.RequestHash != "h1" {
			t.Fatalf("replay = %+v", rec)
		}
		// Another body under the same key: the record comes back unchanged,
		// for the caller to refuse (idempotency_conflict).
		rec, err = s.ClaimIdempotencyKey(ctx, "ws_a", "k1", "h2", t0.Add(time.Hour))
		must(t, err)
		if rec == nil || rec.RequestHash != "h1" || !rec.Done {
			t.Fatalf("conflicting claim = %+v", rec)
		}
		// A finished record is not abandoned, however old its lock.
		rec, err = s.ClaimIdempotencyKey(ctx, "ws_a", "k1", "h1", t0.Add(hyponema.IdempotencyTTL-time.Microsecond))
		must(t, err)
		if rec == nil || !rec.Done {
			t.Fatalf("claim of a finished record within the TTL = %+v", rec)
		}

		// Keys are per scope.
		rec, err = s.ClaimIdempotencyKey(ctx, "ws_b", "k1", "h9", t0)
		must(t, err)
		if rec != nil {
			t.Fatalf("same key in another scope = %+v", rec)
		}

		// An empty body is stored as empty.
		_, err = s.ClaimIdempotencyKey(ctx, "ws_a", "k2", "h", t0)
		must(t, err)
		must(t, s.CompleteIdempotencyKey(ctx, "ws_a", "k2", 204, "", nil))
		rec, err = s.ClaimIdempotencyKey(ctx, "ws_a", "k2", "h", t0)
		must(t, err)
		if rec == nil || rec.Status != 204 || len(rec.Body) != 0 {
			t.Fatalf("empty body replay = %+v", rec)
		}
		wantCode(t, s.CompleteIdempotencyKey(ctx, "ws_a", "nope", 200, "", nil), hyponema.ENOTFOUND)
	})
}

func TestIdempotencyTakeover(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewIdempotencyService(db)
		t0 := time.Now().UTC().Truncate(time.Microsecond)

		// Expired: a finished record older than the TTL is taken over.
		_, err := s.ClaimIdempotencyKey(ctx, "ws", "old", "h1", t0)
		must(t, err)
		must(t, s.CompleteIdempotencyKey(ctx, "ws", "old", 200, "text/plain", []byte("first")))
		t1 := t0.Add(hyponema.IdempotencyTTL + time.Microsecond)
		rec, err := s.ClaimIdempotencyKey(ctx, "ws", "old", "h2", t1)
		must(t, err)
		if rec != nil {
			t.Fatalf("claim of an expired record = %+v, want the claim", rec)
		}
		rec, err = s.ClaimIdempotencyKey(ctx, "ws", "old", "h2", t1)
		must(t, err)
		if rec == nil || rec.Done || rec.RequestHash != "h2" || rec.CreatedAt != t1 || len(rec.Body) != 0 || rec.Status != 0 {
			t.Fatalf("record after takeover = %+v", rec)
		}

		// Abandoned: an unfinished claim locked before now-LockTTL.
		_, err = s.ClaimIdempotencyKey(ctx, "ws", "stuck", "h1", t0)
		must(t, err)
		rec, err = s.ClaimIdempotencyKey(ctx, "ws", "stuck", "h1", t0.Add(hyponema.IdempotencyLockTTL))
		must(t, err)
		if rec == nil {
			t.Fatal("a claim exactly LockTTL old was taken over")
		}
		t2 := t0.Add(hyponema.IdempotencyLockTTL + time.Microsecond)
		rec, err = s.ClaimIdempotencyKey(ctx, "ws", "stuck", "h1", t2)
		must(t, err)
		if rec != nil {
			t.Fatalf("claim of an abandoned record = %+v, want the claim", rec)
		}
		rec, err = s.ClaimIdempotencyKey(ctx, "ws", "stuck", "h1", t2)
		must(t, err)
		if rec == nil || rec.LockedAt != t2 {
			t.Fatalf("record after takeover = %+v", rec)
		}

		// Release forgets an unfinished claim, so a retry runs again…
		must(t, s.ReleaseIdempotencyKey(ctx, "ws", "stuck"))
		rec, err = s.ClaimIdempotencyKey(ctx, "ws", "stuck", "h1", t2)
		must(t, err)
		if rec != nil {
			t.Fatalf("claim after release = %+v", rec)
		}
		// …but never a stored response.
		must(t, s.CompleteIdempotencyKey(ctx, "ws", "stuck", 200, "", []byte("ok")))
		must(t, s.ReleaseIdempotencyKey(ctx, "ws", "stuck"))
		rec, err = s.ClaimIdempotencyKey(ctx, "ws", "stuck", "h1", t2)
		must(t, err)
		if rec == nil || !rec.Done {
			t.Fatalf("release dropped a stored response: %+v", rec)
		}
	})
}

// Of many requests racing for one key, exactly one runs.
func TestIdempotencyConcurrentClaims(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewIdempotencyService(db)
		t0 := time.Now().UTC().Truncate(time.Microsecond)
		// Twice: a fresh key, then the same key once its claim is abandoned.
		for round, now := range []time.Time{t0, t0.Add(hyponema.IdempotencyLockTTL + time.Second)} {
			const n = 20
			recs := make([]*hyponema.IdempotencyRecord, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { recs[i], errs[i] = s.ClaimIdempotencyKey(ctx, "ws", "race", "h", now) })
			}
			wg.Wait()
			winners := 0
			for i := range n {
				must(t, errs[i])
				if recs[i] == nil {
					winners++
				} else if recs[i].Done || recs[i].LockedAt != now {
					t.Fatalf("round %d: loser saw %+v", round, recs[i])
				}
			}
			if winners != 1 {
				t.Fatalf("round %d: %d winners, want 1", round, winners)
			}
		}
	})
}

func TestDeleteExpiredIdempotencyKeys(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewIdempotencyService(db)
		t0 := time.Date(2030, 1, 2, 3, 4, 5, 999_999_000, time.UTC)
		// Microseconds apart, across a second boundary: the stored times must
		// compare as the times do.
		for i, key := range []string{"a", "b", "c", "d"} {
			_, err := s.ClaimIdempotencyKey(ctx, "ws", key, "h", t0.Add(time.Duration(i)*time.Microsecond))
			must(t, err)
		}
		n, err := s.DeleteExpiredIdempotencyKeys(ctx, t0.Add(2*time.Microsecond))
		must(t, err)
		if n != 2 {
			t.Fatalf("deleted %d, want 2 (a, b)", n)
		}
		for key, gone := range map[string]bool{"a": true, "b": true, "c": false, "d": false} {
			rec, err := s.ClaimIdempotencyKey(ctx, "ws", key, "h", t0.Add(time.Second))
			must(t, err)
			if (rec == nil) != gone {
				t.Fatalf("key %s: claim = %+v, want gone=%v", key, rec, gone)
			}
		}
		// A time in another zone means the same instant.
		n, err = s.DeleteExpiredIdempotencyKeys(ctx, t0.Add(3*time.Microsecond).In(time.FixedZone("Y", 5*3600)))
		must(t, err)
		if n != 1 {
			t.Fatalf("deleted %d, want 1 (c)", n)
		}
	})
}

func TestReleaseUnfinishedIdempotencyKeys(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s := store.NewIdempotencyService(db)
		_, err := s.ClaimIdempotencyKey(ctx, "ws_a", "done", "h", t0)
		must(t, err)
		must(t, s.CompleteIdempotencyKey(ctx, "ws_a", "done", 201, "application/json", []byte(`{}`)))
		_, err = s.ClaimIdempotencyKey(ctx, "ws_a", "running", "h", t0)
		must(t, err)
		n, err := s.ReleaseUnfinishedIdempotencyKeys(ctx)
		must(t, err)
		if n != 1 {
			t.Fatalf("released %d claims, want 1", n)
		}
		// The unfinished key is free at once; the finished one still replays.
		if rec, err := s.ClaimIdempotencyKey(ctx, "ws_a", "running", "h", t0.Add(time.Second)); err != nil || rec != nil {
			t.Errorf("unfinished key after release: %+v %v", rec, err)
		}
		if rec, err := s.ClaimIdempotencyKey(ctx, "ws_a", "done", "h", t0.Add(time.Second)); err != nil || rec == nil || !rec.Done {
			t.Errorf("finished key after release: %+v %v", rec, err)
		}
	})
}
