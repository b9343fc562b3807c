// Package store keeps Hyponema's state in SQLite or PostgreSQL behind the
// service interfaces of the root package.
//
// There is one implementation over database/sql with portable SQL; the few
// things that differ between the two databases (placeholders, row locks,
// time columns, error codes, migrations) sit in dialect.go, sqlite.go and
// postgres.go. Every query is scoped to a workspace: another workspace's
// objects are ENOTFOUND, exactly like missing ones.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hyponema/hyponema"
)

// DB is an open database. It is safe for concurrent use.
type DB struct {
	d *dialect

	// writer takes every write transaction. On SQLite it is one connection,
	// so writes queue here rather than contend for the file lock; on
	// PostgreSQL it is the same pool as reader.
	writer *sql.DB
	reader *sql.DB

	// checkpoints copies SQLite's WAL into the database file in the
	// background; nil on PostgreSQL.
	checkpoints *checkpointer

	// rebound caches each query's placeholders as the dialect wants them,
	// so a query string is rewritten once per process, not once per call.
	rebound sync.Map

	// stmts caches prepared statements (dialect.prepare) by pool and query.
	// Queries are constant strings, so the cache stays small.
	stmts sync.Map // stmtKey → *sql.Stmt

	// enqueuer queues the deliveries of recorded events (SetEnqueuer).
	enqueuer Enqueuer

	// sourceQueue queues the ingestion of knowledge sources
	// (SetSourceQueue).
	sourceQueue SourceQueue

	// knowledge is what the knowledge services of this DB share: the
	// caches of embeddings and term statistics (NewKnowledgeService).
	knowledgeOnce sync.Once
	knowledge     *knowledgeCaches
}

type stmtKey struct {
	pool  *sql.DB
	query string
}

// Open opens the database that dsn names: postgres://… or postgresql://…
// is a PostgreSQL server; anything else is the path of an SQLite file,
// optionally prefixed sqlite: or file:, whose directory is created. Open
// connects but does not migrate: call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	if isPostgresDSN(dsn) {
		return openPostgres(ctx, dsn)
	}
	return openSQLite(ctx, dsn)
}

func newDB(d *dialect, writer, reader *sql.DB) *DB {
	return &DB{d: d, writer: writer, reader: reader}
}

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.d.name }

// Writer returns the pool that takes writes. On SQLite it holds a single
// connection, and anything else that writes to the same file (the job
// queue) must share it to avoid SQLITE_BUSY.
func (db *DB) Writer() *sql.DB { return db.writer }

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if db.reader != db.writer {
		if err := db.reader.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping readers: %w", err)
		}
	}
	return nil
}

// Close closes every connection.
func (db *DB) Close() error {
	db.stmts.Range(func(_, v any) bool {
		_ = v.(*sql.Stmt).Close()
		return true
	})
	var err error
	if db.reader != db.writer {
		err = db.reader.Close()
	}
	err = errors.Join(err, db.writer.Close())
	if db.checkpoints != nil {
		// After the writer: what it wrote last is copied too.
		err = errors.Join(err, db.checkpoints.close())
	}
	return err
}

// rebind returns query with the dialect's placeholders, from the cache.
func (db *DB) rebind(query string) string {
	if !db.d.numbered {
		return query
	}
	if q, ok := db.rebound.Load(query); ok {
		return q.(string)
	}
	q := db.d.rebind(query)
	db.rebound.Store(query, q)
	return q
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// conn runs queries written with ? placeholders on a pool or in a
// transaction.
type conn struct {
	db   *DB
	q    querier
	pool *sql.DB // the pool that q is, or that the transaction q runs on
	tx   *sql.Tx // set inside a transaction
}

// on returns what runs query: a cached prepared statement where the dialect
// wants one (bound to the transaction inside one), else the pool or
// transaction itself.
func (c conn) on(ctx context.Context, query string) (querier, string) {
	query = c.db.rebind(query)
	if !c.db.d.prepare {
		return c.q, query
	}
	if c.tx != nil {
		// Preparing on the pool would wait for a connection, and on SQLite
		// the transaction holds the only writer: use a statement only if
		// one is ready.
		if st, ok := c.db.stmts.Load(stmtKey{c.pool, query}); ok {
			return stmtQuerier{c.tx.StmtContext(ctx, st.(*sql.Stmt))}, query
		}
		return c.q, query
	}
	st, err := c.db.stmt(ctx, c.pool, query)
	if err != nil {
		// Let the plain call report the error (a syntax error, say).
		return c.q, query
	}
	return stmtQuerier{st}, query
}

func (c conn) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, query := c.on(ctx, query)
	return q.ExecContext(ctx, query, args...)
}

func (c conn) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, query := c.on(ctx, query)
	return q.QueryContext(ctx, query, args...)
}

func (c conn) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q, query := c.on(ctx, query)
	return q.QueryRowContext(ctx, query, args...)
}

// stmt returns the prepared statement of query on pool, preparing it once.
func (db *DB) stmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{pool, query}
	if st, ok := db.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(k, st); loaded {
		_ = st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// stmtQuerier lets a prepared statement stand where a querier does; the
// query string is already in the statement.
type stmtQuerier struct{ st *sql.Stmt }

func (s stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.st.ExecContext(ctx, args...)
}

func (s stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.st.QueryContext(ctx, args...)
}

func (s stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return s.st.QueryRowContext(ctx, args...)
}

// read returns a conn on the read pool, for queries outside transactions.
func (db *DB) read() conn { return conn{db: db, q: db.reader, pool: db.reader} }

// write returns a conn on the writer, for single-statement writes.
func (db *DB) write() conn { return conn{db: db, q: db.writer, pool: db.writer} }

// inTx runs fn in a write transaction and commits it unless fn fails.
// Inside fn, use only the conn it gets: on SQLite the writer has one
// connection, which the transaction holds.
func (db *DB) inTx(ctx context.Context, fn func(tx conn) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	if err := fn(conn{db: db, q: tx, pool: db.writer, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// encodeJSON renders a configuration for a JSON column (TEXT on SQLite,
// JSONB on PostgreSQL). PostgreSQL refuses NUL characters in JSONB (and in
// TEXT): the domain's validation rejects them in the fields that it knows,
// and this catches any other, so both databases answer EINVALID alike.
func encodeJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("store: encode JSON: %w", err)
	}
	s := string(b)
	if hasEscapedNUL(s) {
		return "", hyponema.Errorf(hyponema.EINVALID, "text must not contain NUL characters")
	}
	return s, nil
}

// hasEscapedNUL reports whether JSON text holds the escape \u0000 (as
// json.Marshal writes a NUL), not merely a string that reads \u0000.
func hasEscapedNUL(js string) bool {
	for i := 0; ; {
		j := strings.Index(js[i:], `\u0000`)
		if j < 0 {
			return false
		}
		j += i
		n := 0
		for k := j - 1; k >= 0 && js[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = j + 1
	}
}

func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("store: decode stored JSON: %w", err)
	}
	return nil
}

// rowsAffected returns how many rows a write changed.
func rowsAffected(res sql.Result) (int64, error) {
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: rows affected: %w", err)
	}
	return n, nil
}

// execOne runs a write that must change a row; notFound is its error when
// none matched. what names the write in other errors.
func execOne(ctx context.Context, c conn, what string, notFound error, query string, args ...any) error {
	res, err := c.exec(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return notFound
	}
	return nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
