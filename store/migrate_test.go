package store_test

import (
	"sync"
	"testing"

	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// migrationCount is how many files each migrations folder holds.
const migrationCount = 7

func countMigrations(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	must(t, db.Writer().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&n))
	return n
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		w := mustWorkspace(t, db)
		must(t, db.Migrate(t.Context()))
		must(t, db.Migrate(t.Context()))
		if n := countMigrations(t, db); n != migrationCount {
			t.Fatalf("schema_migrations has %d rows, want %d", n, migrationCount)
		}
		if _, err := store.NewWorkspaceService(db).FindWorkspaceByID(t.Context(), w.ID); err != nil {
			t.Fatalf("data lost by a second Migrate: %v", err)
		}
	})
}

// Replicas that start together all migrate; the lock lets one do the work
// and the others find it done.
func TestMigrateConcurrently(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		const replicas = 4
		dbs := make([]*store.DB, replicas)
		for i := range dbs {
			db, err := store.Open(t.Context(), dsn)
			must(t, err)
			t.Cleanup(func() { db.Close() })
			dbs[i] = db
		}
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i, db := range dbs {
			wg.Go(func() { errs[i] = db.Migrate(t.Context()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
		if n := countMigrations(t, dbs[0]); n != migrationCount {
			t.Fatalf("schema_migrations has %d rows, want %d", n, migrationCount)
		}
		mustWorkspace(t, dbs[replicas-1])
	})
}

func TestDialectAndPing(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db := storetest.MustOpenSQLite(t)
		if got := db.Dialect(); got != store.DialectSQLite {
			t.Fatalf("Dialect() = %q", got)
		}
		must(t, db.Ping(t.Context()))
	})
	t.Run("postgres", func(t *testing.T) {
		db := storetest.MustOpenPostgres(t)
		if got := db.Dialect(); got != store.DialectPostgres {
			t.Fatalf("Dialect() = %q", got)
		}
		must(t, db.Ping(t.Context()))
	})
}
