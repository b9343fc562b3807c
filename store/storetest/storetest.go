// Package storetest opens real, migrated databases for tests: an SQLite file
// in the test's temp dir, and a fresh schema on the PostgreSQL server that
// HYPONEMA_TEST_POSTGRES_URL names. Each is removed when the test ends.
//
// Tests that should hold for both databases run through ForEachDialect.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema/store"
)

// Environment that selects the PostgreSQL server for tests. Without a URL
// PostgreSQL tests skip, unless RequirePostgresEnv is "1" (as in CI), where
// a silent skip would hide that half the suite never ran.
const (
	PostgresURLEnv     = "HYPONEMA_TEST_POSTGRES_URL"
	RequirePostgresEnv = "HYPONEMA_TEST_REQUIRE_POSTGRES"
)

// setupTimeout bounds opening and migrating, so a server that hangs fails
// the test instead of stalling the run.
const setupTimeout = time.Minute

// ForEachDialect runs fn as subtests "sqlite" and "postgres", each on its
// own fresh, migrated database.
func ForEachDialect(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, MustOpenPostgres(t)) })
}

// ForEachDialectDSN is ForEachDialect for tests that also need the DSN
// (to open a second connection pool, as the job queue's LISTEN does).
func ForEachDialectDSN(t *testing.T, fn func(t *testing.T, db *store.DB, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { dsn := SQLiteDSN(t); fn(t, mustOpen(t, dsn), dsn) })
	t.Run("postgres", func(t *testing.T) { dsn := PostgresDSN(t); fn(t, mustOpen(t, dsn), dsn) })
}

// MustOpenSQLite returns a migrated SQLite database in tb.TempDir(), closed
// when the test ends.
func MustOpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return mustOpen(tb, SQLiteDSN(tb))
}

// MustOpenPostgres returns a migrated PostgreSQL database in a schema of its
// own (see PostgresDSN), or skips the test when no server is configured.
func MustOpenPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	return mustOpen(tb, PostgresDSN(tb))
}

// SQLiteDSN returns the DSN of a new, empty SQLite file in tb.TempDir(), for
// tests that open it themselves (several handles, no migration).
func SQLiteDSN(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(tb.TempDir(), "hyponema.db")
}

// PostgresDSN creates an empty schema hyptest_<random> on the server named by
// HYPONEMA_TEST_POSTGRES_URL and returns a DSN whose search_path is that
// schema, so that tests never see each other's tables. The schema is
// dropped when the test ends. Without the variable it skips the test (fails
// it if HYPONEMA_TEST_REQUIRE_POSTGRES=1).
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresURLEnv)
	if base == "" {
		if os.Getenv(RequirePostgresEnv) == "1" {
			tb.Fatalf("%s is unset but %s=1", PostgresURLEnv, RequirePostgresEnv)
		}
		tb.Skip(PostgresURLEnv + " is unset: skipping PostgreSQL tests")
	}
	schema := "hyptest_" + randomHex(8)
	dsn, err := withSearchPath(base, schema)
	if err != nil {
		tb.Fatalf("storetest: %s: %v", PostgresURLEnv, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	admin, err := store.Open(ctx, base)
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	if _, err := admin.Writer().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		tb.Fatalf("storetest: create schema: %v", err)
	}
	// Registered before the test opens the DSN, so it runs after the
	// test's own cleanups (LIFO) have closed its connections.
	tb.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if _, err := admin.Writer().ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("storetest: drop schema %s: %v", schema, err)
		}
	})
	return dsn
}

// withSearchPath adds search_path to a PostgreSQL URL; pgx sends it to the
// server as a run-time parameter of every connection.
func withSearchPath(base, schema string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(u.Scheme, "postgres") {
		return "", errors.New("not a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func mustOpen(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("storetest: open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("storetest: close: %v", err)
		}
	})
	if err := db.Migrate(ctx); err != nil {
		tb.Fatalf("storetest: migrate: %v", err)
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
