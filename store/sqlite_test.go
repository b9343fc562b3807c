package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// The settings that architecture.md measured: WAL, a busy timeout,
// foreign keys, NORMAL sync, one writer connection.
func TestSQLiteSettings(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	w := db.Writer()
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"busy_timeout", "5000"},
		{"foreign_keys", "1"},
		{"synchronous", "1"},
		{"wal_autocheckpoint", "0"}, // the checkpointer's job
	} {
		var got string
		must(t, w.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got))
		if got != c.want {
			t.Errorf("PRAGMA %s = %s, want %s", c.pragma, got, c.want)
		}
	}
	if n := w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer allows %d connections, want 1", n)
	}
}

// TestSQLiteCheckpoint: the writer leaves its WAL alone, and a checkpoint
// copies it into the database file; closing the database checkpoints too.
func TestSQLiteCheckpoint(t *testing.T) {
	defer store.SetCheckpointInterval(time.Hour)() // none in the background
	dsn := storetest.SQLiteDSN(t)
	db, err := store.Open(t.Context(), dsn)
	must(t, err)
	must(t, db.Migrate(t.Context()))
	size := func() int64 {
		fi, err := os.Stat(dsn)
		must(t, err)
		return fi.Size()
	}
	before := size()
	for range 200 {
		mustWorkspace(t, db)
	}
	if got := size(); got != before {
		t.Fatalf("the database file changed from %d to %d bytes without a checkpoint", before, got)
	}
	left, err := db.Checkpoint(t.Context())
	must(t, err)
	if after := size(); left != 0 || after <= before {
		t.Fatalf("checkpoint left %d frames; file %d bytes, was %d", left, after, before)
	}
	before = size()
	for range 200 {
		mustWorkspace(t, db)
	}
	must(t, db.Close())
	if after := size(); after <= before {
		t.Fatalf("closing did not checkpoint: file %d bytes, was %d", after, before)
	}
}

func TestOpenSQLitePaths(t *testing.T) {
	dir := t.TempDir()
	for _, dsn := range []string{
		filepath.Join(dir, "a", "b", "plain.db"),
		"sqlite:" + filepath.Join(dir, "c", "prefixed.db"),
		"file:" + filepath.Join(dir, "d", "file.db"),
	} {
		db, err := store.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		must(t, db.Migrate(t.Context()))
		mustWorkspace(t, db)
		must(t, db.Close())
	}
	for _, sub := range []string{"a/b/plain.db", "c/prefixed.db", "d/file.db"} {
		if _, err := os.Stat(filepath.Join(dir, sub)); err != nil {
			t.Errorf("database file %s: %v", sub, err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "a"))
	must(t, err)
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("created directory has mode %o, want 700", perm)
	}
	if _, err := store.Open(t.Context(), ":memory:"); err == nil {
		t.Error("Open(:memory:) succeeded: writer and readers would see different databases")
	}
}

// Two handles on one file stand for two processes (the server and a CLI
// command). Their transactions read before they write; begun IMMEDIATE, they
// wait for each other within busy_timeout instead of failing with
// SQLITE_BUSY when a read lock cannot be upgraded.
func TestSQLiteTwoProcesses(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	var dbs [2]*store.DB
	for i := range dbs {
		db, err := store.Open(t.Context(), dsn)
		must(t, err)
		t.Cleanup(func() { db.Close() })
		must(t, db.Migrate(t.Context()))
		dbs[i] = db
	}
	ws := mustWorkspace(t, dbs[0])
	a := mustAgent(t, dbs[0], ws.ID, hyponema.AgentConfig{})
	const each = 4 * 25
	errs := make(chan error, 2*each)
	var wg sync.WaitGroup
	for _, db := range dbs {
		s := store.NewAgentService(db)
		for g := range 4 {
			wg.Go(func() {
				for i := range each / 4 {
					if _, err := s.CreateAgentVersion(t.Context(), ws.ID, a.ID, fmt.Sprint(g, i)); err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	page, err := store.NewAgentService(dbs[1]).ListAgentVersions(t.Context(), ws.ID, a.ID, hyponema.PageOptions{Limit: 1})
	must(t, err)
	if page.Data[0].Number != 2*each {
		t.Fatalf("newest version is %d, want %d", page.Data[0].Number, 2*each)
	}
}
