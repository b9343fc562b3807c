// Package jobs is Hyponema's durable job queue: River, on the store's own
// database, so that a job can be queued in the same transaction as the
// change that calls for it (webhook deliveries are queued with the event
// they deliver). On SQLite River shares the store's single writer
// connection; on PostgreSQL it uses the store's pool for work and a pgx
// pool of its own for LISTEN, so that a queued job is picked up as soon as
// its transaction commits.
//
// Workers are registered by the packages that own the work (webhook, …);
// cmd/hyponema wires them in.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/hyponema/hyponema/store"
)

// Defaults of Config.
const (
	// DefaultJobTimeout bounds one run of a job. A webhook try takes at
	// most 15 s; the rest is room for its database writes.
	DefaultJobTimeout = 25 * time.Second
	// DefaultFetchCooldown is the least time between two fetches of a
	// queue: how long a burst of new jobs may wait to be picked up.
	DefaultFetchCooldown = 10 * time.Millisecond
	// DefaultFetchPollInterval is how often a queue is polled when no
	// notification says that jobs are waiting (retries falling due).
	DefaultFetchPollInterval = time.Second
)

// Config configures a Queue.
type Config struct {
	// Workers runs the job kinds; Queues names the queues to work and how
	// many jobs of each run at once.
	Workers *river.Workers
	Queues  map[string]river.QueueConfig

	// PostgresDSN is the store's DSN on PostgreSQL, for the LISTEN
	// connection. Unused on SQLite.
	PostgresDSN string

	Logger *slog.Logger

	// JobTimeout, FetchCooldown, FetchPollInterval: zero means the
	// defaults above.
	JobTimeout        time.Duration
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
}

// Queue is the job queue of one process.
type Queue struct {
	db     *store.DB
	client *river.Client[*sql.Tx]
	pool   *pgxpool.Pool // PostgreSQL LISTEN connections; nil on SQLite
}

// driver returns River's driver for the store's database.
func driver(db *store.DB, listen *pgxpool.Pool) riverdriver.Driver[*sql.Tx] {
	if db.Dialect() == store.DialectPostgres {
		if listen != nil {
			return riverdatabasesql.NewWithPgxListener(db.Writer(), listen)
		}
		return riverdatabasesql.New(db.Writer())
	}
	return riversqlite.New(db.Writer())
}

// Migrate creates or updates River's tables in the store's database.
func Migrate(ctx context.Context, db *store.DB) error {
	m, err := rivermigrate.New(driver(db, nil), &rivermigrate.Config{Logger: quietLogger(nil)})
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	return nil
}

// quietLogger keeps River's own info-level chatter out of the server log.
func quietLogger(l *slog.Logger) *slog.Logger {
	if l == nil {
		l = slog.Default()
	}
	return slog.New(levelFloor{l.Handler(), slog.LevelWarn})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}
func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}

// Open returns a queue on db, which must be migrated (Migrate). Call Start
// to begin working jobs; a Queue that is never started can still insert.
func Open(ctx context.Context, db *store.DB, cfg Config) (*Queue, error) {
	q := &Queue{db: db}
	if db.Dialect() == store.DialectPostgres && cfg.PostgresDSN != "" {
		pc, err := pgxpool.ParseConfig(cfg.PostgresDSN)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		pc.MinConns, pc.MaxConns = 0, 1
		if q.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, fmt.Errorf("jobs: connect for LISTEN: %w", err)
		}
	}
	timeout := cmpOr(cfg.JobTimeout, DefaultJobTimeout)
	rc := &river.Config{
		Logger:            quietLogger(cfg.Logger),
		Workers:           cfg.Workers,
		Queues:            cfg.Queues,
		JobTimeout:        timeout,
		FetchCooldown:     cmpOr(cfg.FetchCooldown, DefaultFetchCooldown),
		FetchPollInterval: cmpOr(cfg.FetchPollInterval, DefaultFetchPollInterval),
		// A job still "running" this long after its timeout was being run
		// by a process that died: run it again.
		RescueStuckJobsAfter: timeout + 15*time.Second,
	}
	if len(cfg.Queues) == 0 {
		rc.Workers, rc.Queues = nil, nil // insert-only
	}
	client, err := river.NewClient(driver(db, q.pool), rc)
	if err != nil {
		q.closePool()
		return nil, fmt.Errorf("jobs: %w", err)
	}
	q.client = client
	return q, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// CompleteTx marks job done in tx, from inside its worker: the job's
// effects and its completion commit together, or neither does.
func CompleteTx[T river.JobArgs](ctx context.Context, tx *sql.Tx, job *river.Job[T]) error {
	// The driver type only fixes the transaction type (*sql.Tx); River
	// uses the driver of the client that runs the job, either dialect's.
	_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	return err
}

// Client returns the River client, for inserting jobs in a transaction.
func (q *Queue) Client() *river.Client[*sql.Tx] { return q.client }

// Start begins working jobs. On SQLite, where one process owns the
// database, jobs left "running" by a process that died are made available
// again at once rather than after RescueStuckJobsAfter.
func (q *Queue) Start(ctx context.Context) error {
	if q.db.Dialect() == store.DialectSQLite {
		if _, err := q.db.Writer().ExecContext(ctx,
			`UPDATE river_job SET state = 'available', attempted_by = NULL WHERE state = 'running'`); err != nil {
			return fmt.Errorf("jobs: recover running jobs: %w", err)
		}
	}
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for the running ones to finish until
// ctx is done, then cancels them: a cancelled job is retried later.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.client.Stop(ctx)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = q.client.StopAndCancel(cctx)
	}
	q.closePool()
	return err
}

func (q *Queue) closePool() {
	if q.pool != nil {
		q.pool.Close()
		q.pool = nil
	}
}
