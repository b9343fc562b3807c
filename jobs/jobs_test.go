package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/hyponema/hyponema/jobs"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

type pingArgs struct{ N int }

func (pingArgs) Kind() string { return "test.ping" }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	done chan int
}

func (w *pingWorker) Work(_ context.Context, j *river.Job[pingArgs]) error {
	w.done <- j.Args.N
	return nil
}

// TestQueue: migrations are idempotent, a job inserted in a committed
// transaction runs, one in a rolled-back transaction never does, and (on
// SQLite) a job left running by a dead process runs again at start.
func TestQueue(t *testing.T) {
	storetest.ForEachDialectDSN(t, func(t *testing.T, db *store.DB, dsn string) {
		ctx := context.Background()
		for range 2 {
			if err := jobs.Migrate(ctx, db); err != nil {
				t.Fatal(err)
			}
		}
		w := &pingWorker{done: make(chan int, 10)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		open := func() *jobs.Queue {
			q, err := jobs.Open(ctx, db, jobs.Config{Workers: workers, PostgresDSN: dsn,
				Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}, FetchPollInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			return q
		}

		// Inserted, not yet worked: a rolled-back one and a committed one.
		q := open()
		for _, commit := range []bool{false, true} {
			tx, err := db.Writer().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			n := 1
			if commit {
				n = 2
			}
			if _, err := q.Client().InsertTx(ctx, tx, pingArgs{N: n}, nil); err != nil {
				t.Fatal(err)
			}
			if commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if db.Dialect() == store.DialectSQLite {
			// As if a process had fetched it and died.
			if _, err := db.Writer().ExecContext(ctx, `UPDATE river_job SET state = 'running', attempt = 1`); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer q.Stop(ctx)
		select {
		case n := <-w.done:
			if n != 2 {
				t.Fatalf("ran job %d, want the committed one (2)", n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the committed job did not run")
		}
		select {
		case n := <-w.done:
			t.Fatalf("job %d ran too", n)
		case <-time.After(300 * time.Millisecond):
		}
	})
}
