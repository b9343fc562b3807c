package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migrations are plain SQL files, one folder per dialect, named
// NNNN_what.sql and applied in the order of NNNN. A released file never
// changes: a new change is a new file, in both folders.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the dialect's migrations in order.
func (d *dialect) migrations() ([]migration, error) {
	dir := path.Join("migrations", d.name)
	entries, err := fs.ReadDir(migrationFS, dir)
	if err != nil {
		return nil, fmt.Errorf("store: read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("store: migration %s is not named NNNN_what.sql", e.Name())
		}
		b, err := migrationFS.ReadFile(path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read migration: %w", err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("store: two migrations numbered %d", ms[i].version)
		}
	}
	return ms, nil
}

// Migrate brings the schema up to date. Each migration runs in its own
// transaction together with its record in schema_migrations, so a failed one
// leaves nothing half-done; running Migrate again is a no-op. Several
// processes may migrate at once: PostgreSQL serializes them with an advisory
// lock, SQLite with its write lock.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := db.d.migrations()
	if err != nil {
		return err
	}
	// schema_migrations is created under the same lock as everything else:
	// on PostgreSQL even CREATE TABLE IF NOT EXISTS fails when two sessions
	// race to create the same table.
	if err := db.inTx(ctx, func(tx conn) error {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, db.d.schemaMigrationsDDL); err != nil {
			return fmt.Errorf("store: create schema_migrations: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, m := range ms {
		if err := db.inTx(ctx, func(tx conn) error { return db.apply(ctx, tx, m) }); err != nil {
			return err
		}
	}
	return nil
}

func (db *DB) lockMigrations(ctx context.Context, tx conn) error {
	if db.d.lockMigrations == "" {
		return nil
	}
	if _, err := tx.exec(ctx, db.d.lockMigrations); err != nil {
		return fmt.Errorf("store: lock migrations: %w", err)
	}
	return nil
}

// apply runs m unless it is recorded as applied already.
func (db *DB) apply(ctx context.Context, tx conn, m migration) error {
	if err := db.lockMigrations(ctx, tx); err != nil {
		return err
	}
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.version).Scan(&one)
	if err == nil {
		return nil
	} else if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: read schema_migrations: %w", err)
	}
	// Run verbatim: a ? in a comment is not a placeholder.
	if _, err := tx.q.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("store: migration %04d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, db.d.timeArg(now())); err != nil {
		return fmt.Errorf("store: record migration %04d: %w", m.version, err)
	}
	return nil
}
