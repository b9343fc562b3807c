package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// migrationLockKey names the advisory lock that migrations hold: any
// constant works, as long as every replica uses the same one.
const migrationLockKey = 0x6879706f6e656d61 // "hyponema"

var postgresDialect = &dialect{
	name:         DialectPostgres,
	numbered:     true,
	forUpdate:    " FOR UPDATE",
	forShare:     " FOR SHARE",
	timeArg:      func(t time.Time) any { return t.UTC() },
	isUnique:     pgCode("23505"),
	isForeignKey: pgCode("23503"),
	schemaMigrationsDDL: `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TIMESTAMPTZ NOT NULL
)`,
	lockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", int64(migrationLockKey)),
}

func pgCode(code string) func(error) bool {
	return func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == code
	}
}

// isPostgresDSN reports whether dsn names a PostgreSQL server rather than
// an SQLite file.
func isPostgresDSN(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Pool limits for PostgreSQL. Reads and writes share the pool; transactions
// that wait on a row lock hold a connection, so the pool is larger than the
// number of cores, yet small enough that several replicas stay well under
// the server's default max_connections of 100.
const (
	pgMaxOpenConns = 20
	pgMaxIdleConns = 10
)

func openPostgres(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: parse the PostgreSQL URL: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgMaxOpenConns)
	db.SetMaxIdleConns(pgMaxIdleConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to PostgreSQL: %w", err)
	}
	return newDB(postgresDialect, db, db), nil
}
