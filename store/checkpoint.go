package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// SQLite's WAL is copied back into the database file by checkpoints. By
// default the commit that takes the WAL past 1000 pages runs one itself:
// that writer, and every write queued behind it, waits for the copy and
// its fsync (BenchmarkChat: a chat turn's p99 to the first delta went from
// 6 ms to 18 ms at concurrency 1). So the writer never checkpoints
// (wal_autocheckpoint(0)), and a connection of its own does, in the
// background: PASSIVE checkpoints wait for no one and no one waits for
// them.

// sqliteCheckpointInterval is how often the background checkpoint runs.
// A busy server writes a few MB of WAL in that time.
var sqliteCheckpointInterval = time.Second // a variable for tests

// checkpointer runs PASSIVE checkpoints on its own connection.
type checkpointer struct {
	db   *sql.DB
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func startCheckpointer(db *sql.DB, every time.Duration) *checkpointer {
	c := &checkpointer{db: db, stop: make(chan struct{})}
	c.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				_, _ = c.checkpoint(context.Background()) // the next tick tries again
			}
		}
	})
	return c
}

// checkpoint copies what it can of the WAL into the database file, and
// returns how many of the WAL's frames are still to be copied (those that
// a reader's snapshot still needs).
func (c *checkpointer) checkpoint(ctx context.Context) (int, error) {
	var busy, log, done int
	if err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done); err != nil {
		return 0, fmt.Errorf("store: checkpoint: %w", err)
	}
	return max(log-done, 0), nil
}

// close stops the checkpoints, runs a last one, and closes the connection.
func (c *checkpointer) close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		c.wg.Wait()
		_, err = c.checkpoint(context.Background())
		if cerr := c.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// Checkpoint copies the WAL into the database file now, as far as readers
// allow, and returns how many frames are left; on PostgreSQL it does
// nothing. The background checkpoints make calling it unnecessary but for
// tests and tools.
func (db *DB) Checkpoint(ctx context.Context) (int, error) {
	if db.checkpoints == nil {
		return 0, nil
	}
	return db.checkpoints.checkpoint(ctx)
}
