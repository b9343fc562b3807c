package bench

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/internal/webhooktest"
	"github.com/hyponema/hyponema/jobs"
	"github.com/hyponema/hyponema/seal"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
	"github.com/hyponema/hyponema/webhook"
)

// webhookEvents is how many events one run of BenchmarkWebhooks records.
const webhookEvents = 2000

// BenchmarkWebhooks records events as the changes that cause them do (one
// transaction each, from 8 writers at once) and measures, at a receiver on
// loopback: deliveries per second until the last one arrives, the time from
// the start of the causing transaction to the first try's arrival (p50,
// p99), and the share of events delivered more than once.
//
//	go test ./bench -run '^$' -bench BenchmarkWebhooks -benchtime 1x
func BenchmarkWebhooks(b *testing.B) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			var db *store.DB
			var dsn string
			if dialect == "postgres" {
				dsn = storetest.PostgresDSN(b)
				db = openMigrated(b, dsn)
			} else {
				db = openMigrated(b, storetest.SQLiteDSN(b))
			}
			// burst: 8 writers as fast as they can, for throughput;
			// paced: one event every 10 ms, for the latency of a
			// server that is not saturated.
			b.Run("burst", func(b *testing.B) {
				for b.Loop() {
					benchWebhooks(b, db, dsn, 8, 0)
				}
			})
			b.Run("paced", func(b *testing.B) {
				for b.Loop() {
					benchWebhooks(b, db, dsn, 1, 10*time.Millisecond)
				}
			})
		})
	}
}

func openMigrated(b *testing.B, dsn string) *store.DB {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	if err := jobs.Migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	return db
}

func benchWebhooks(b *testing.B, db *store.DB, dsn string, writers int, pace time.Duration) {
	ctx := context.Background()
	box, _ := seal.New(webhook.SealPurpose, seal.Key{ID: "k1", Secret: bytes.Repeat([]byte("k"), 32)})
	policy, _ := egress.ParseAllow("127.0.0.1/32")
	hooks := store.NewWebhookService(db)
	admin := &webhook.Admin{Store: hooks, Box: box, Egress: policy}
	sender := &webhook.Sender{Webhooks: hooks, Events: hooks, Admin: admin, Egress: policy}
	workers := river.NewWorkers()
	sender.Register(workers)
	q, err := jobs.Open(ctx, db, jobs.Config{Workers: workers, PostgresDSN: dsn,
		Queues: map[string]river.QueueConfig{webhook.QueueName: {MaxWorkers: 100}}})
	if err != nil {
		b.Fatal(err)
	}
	db.SetEnqueuer(webhook.Enqueuer{Client: q.Client()})
	if err := q.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = q.Stop(sctx)
	}()

	w := &hyponema.Workspace{Name: "bench"}
	if err := store.NewWorkspaceService(db).CreateWorkspace(ctx, w); err != nil {
		b.Fatal(err)
	}
	rcv := webhooktest.New(b)
	rcv.Answer(func(*webhooktest.Delivery, int) (int, http.Header) { return 204, nil })
	if _, err := admin.CreateWebhook(ctx, &hyponema.WebhookEndpoint{WorkspaceID: w.ID, URL: rcv.URL, Enabled: true}); err != nil {
		b.Fatal(err)
	}

	var mu sync.Mutex
	started := make(map[string]time.Time)
	begin := time.Now()
	var wg sync.WaitGroup
	n := webhookEvents
	if pace > 0 {
		n = 500
	}
	for i := range writers {
		wg.Go(func() {
			for range n / writers {
				if pace > 0 {
					time.Sleep(pace)
				}
				ev, _ := hyponema.NewEvent(w.ID, hyponema.EventSessionCreated, map[string]any{"id": hyponema.NewID(hyponema.PrefixSession), "writer": i})
				mu.Lock()
				started[ev.ID] = time.Now()
				mu.Unlock()
				if err := hooks.RecordEvents(ctx, []*hyponema.Event{ev}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	recorded := time.Since(begin)
	ds := rcv.WaitFor(b, 5*time.Minute, "all delivered", func(ds []*webhooktest.Delivery) bool {
		seen := map[string]bool{}
		for _, d := range ds {
			seen[d.ID] = true
		}
		return len(seen) >= n
	})
	last := ds[len(ds)-1].At
	elapsed := last.Sub(begin)

	first := map[string]time.Time{}
	for _, d := range ds {
		if _, ok := first[d.ID]; !ok {
			first[d.ID] = d.At
		}
	}
	lat := make([]time.Duration, 0, len(first))
	for id, at := range first {
		lat = append(lat, at.Sub(started[id]))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64(n)/recorded.Seconds(), "recorded/s")
	b.ReportMetric(pct(0.5), "first-try-p50-ms")
	b.ReportMetric(pct(0.99), "first-try-p99-ms")
	b.ReportMetric(100*float64(len(ds)-len(first))/float64(len(first)), "dup-%")
}
