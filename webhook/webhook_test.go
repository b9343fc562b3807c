package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/internal/webhooktest"
	"github.com/hyponema/hyponema/jobs"
	"github.com/hyponema/hyponema/seal"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
	"github.com/hyponema/hyponema/webhook"
)

// fastSchedule has the shape of webhook.Schedule on an accelerated clock:
// the waits grow the same way, in milliseconds rather than hours.
var fastSchedule = []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond,
	200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}

// clock is a settable offset from the real time, for the 5-day rule.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

type harness struct {
	t     *testing.T
	db    *store.DB
	hooks *store.WebhookService
	admin *webhook.Admin
	clock *clock
	ws    string
}

func newHarness(t *testing.T, db *store.DB, dsn string, policy egress.Policy) *harness {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	box, err := seal.New(webhook.SealPurpose, seal.Key{ID: "k1", Secret: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, hooks: store.NewWebhookService(db), clock: &clock{}}
	h.admin = &webhook.Admin{Store: h.hooks, Box: box, Egress: policy, Now: h.clock.Now}
	sender := &webhook.Sender{Webhooks: h.hooks, Events: h.hooks, Admin: h.admin, Egress: policy,
		Schedule: fastSchedule, Now: h.clock.Now}
	workers := river.NewWorkers()
	sender.Register(workers)
	q, err := jobs.Open(ctx, db, jobs.Config{
		Workers: workers, Queues: map[string]river.QueueConfig{webhook.QueueName: {MaxWorkers: 20}},
		PostgresDSN: dsn, FetchPollInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	db.SetEnqueuer(webhook.Enqueuer{Client: q.Client()})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	w := &hyponema.Workspace{Name: "hooks"}
	if err := store.NewWorkspaceService(db).CreateWorkspace(ctx, w); err != nil {
		t.Fatal(err)
	}
	h.ws = w.ID
	return h
}

func loopbackPolicy(t *testing.T) egress.Policy {
	p, err := egress.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *harness) endpoint(url string, events ...string) (*hyponema.WebhookEndpoint, string) {
	h.t.Helper()
	w := &hyponema.WebhookEndpoint{WorkspaceID: h.ws, URL: url, Events: events, Enabled: true}
	secret, err := h.admin.CreateWebhook(context.Background(), w)
	if err != nil {
		h.t.Fatal(err)
	}
	return w, secret
}

func (h *harness) event(typ string, data any) *hyponema.Event {
	h.t.Helper()
	ev, err := hyponema.NewEvent(h.ws, typ, data)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.hooks.RecordEvents(context.Background(), []*hyponema.Event{ev}); err != nil {
		h.t.Fatal(err)
	}
	return ev
}

func (h *harness) deliveries(webhookID string) []*hyponema.WebhookDelivery {
	h.t.Helper()
	p, err := h.hooks.ListDeliveries(context.Background(), h.ws, webhookID, hyponema.DeliveryFilter{},
		hyponema.PageOptions{Limit: 200, Asc: true})
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Data
}

func (h *harness) waitDeliveries(webhookID string, n int) []*hyponema.WebhookDelivery {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds := h.deliveries(webhookID)
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d deliveries logged, want %d", len(ds), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeliverySigned(t *testing.T) {
	storetest.ForEachDialectDSN(t, func(t *testing.T, db *store.DB, dsn string) {
		h := newHarness(t, db, dsn, loopbackPolicy(t))
		rcv := webhooktest.New(t)
		sessions, _ := h.endpoint(rcv.URL, "session.*")
		_, _ = h.endpoint(rcv.URL+"?only=tests", hyponema.EventToolFailed) // wants none of these

		created := h.event(hyponema.EventSessionCreated, map[string]string{"id": "ses_1"})
		ended := h.event(hyponema.EventSessionEnded, map[string]string{"id": "ses_1"})
		h.event(hyponema.EventMessageCompleted, map[string]string{"id": "msg_1"}) // filtered out

		ds := rcv.WaitFor(t, 10*time.Second, "two deliveries", func(ds []*webhooktest.Delivery) bool { return len(ds) >= 2 })
		time.Sleep(200 * time.Millisecond) // room for a wrong third one
		ds = rcv.Deliveries()
		if len(ds) != 2 {
			t.Fatalf("%d deliveries, want 2 (the filter lets session.* through only)", len(ds))
		}
		got := map[string]*webhooktest.Delivery{}
		for _, d := range ds {
			got[d.ID] = d
			if d.Header.Get("Content-Type") != "application/json" || d.Header.Get("User-Agent") != webhook.UserAgent {
				t.Errorf("headers %v", d.Header)
			}
			if strings.Contains(d.Header.Get("Authorization"), "Bearer") {
				t.Error("a delivery carries an Authorization header")
			}
		}
		for _, ev := range []*hyponema.Event{created, ended} {
			d := got[ev.ID]
			if d == nil {
				t.Fatalf("event %s (%s) not delivered", ev.ID, ev.Type)
			}
			if d.Event.Type != ev.Type || d.Event.WorkspaceID != h.ws || d.Event.ID != ev.ID {
				t.Errorf("envelope %+v", d.Event)
			}
			var env map[string]json.RawMessage
			_ = json.Unmarshal(d.Body, &env)
			for _, k := range []string{"id", "type", "created_at", "workspace_id", "data"} {
				if _, ok := env[k]; !ok {
					t.Errorf("envelope lacks %q: %s", k, d.Body)
				}
			}
		}
		logged := h.waitDeliveries(sessions.ID, 2)
		for _, d := range logged {
			if d.Status != hyponema.DeliverySucceeded || d.Attempt != 1 || d.ResponseStatus == nil || *d.ResponseStatus != 204 ||
				d.NextRetryAt != nil || d.Trigger != hyponema.DeliveryAuto {
				t.Errorf("delivery log %+v", d)
			}
		}
	})
}

// TestSignaturesVerifyInNode checks the signatures with npm
// standardwebhooks, during a secret rotation too, and that a tampered body
// or a wrong secret fails there.
func TestSignaturesVerifyInNode(t *testing.T) {
	webhooktest.RequireNode(t)
	db := storetest.MustOpenSQLite(t)
	h := newHarness(t, db, "", loopbackPolicy(t))
	rcv := webhooktest.New(t)
	w, oldSecret := h.endpoint(rcv.URL)
	h.event(hyponema.EventSessionCreated, map[string]any{"id": "ses_1", "text": "héllo \u2028 \"quoted\" <tag> &"})
	rcv.WaitFor(t, 10*time.Second, "first delivery", func(ds []*webhooktest.Delivery) bool { return len(ds) == 1 })

	_, newSecret, err := h.admin.RotateWebhookSecret(context.Background(), h.ws, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret || !strings.HasPrefix(newSecret, "whsec_") {
		t.Fatalf("rotated secret %q", newSecret)
	}
	h.event(hyponema.EventSessionEnded, map[string]any{"id": "ses_1"})
	ds := rcv.WaitFor(t, 10*time.Second, "second delivery", func(ds []*webhooktest.Delivery) bool { return len(ds) == 2 })
	if n := len(strings.Fields(ds[1].Signature)); n != 2 {
		t.Fatalf("during the rotation a delivery carries %d signatures, want 2: %q", n, ds[1].Signature)
	}

	for _, c := range []struct {
		name    string
		secrets []string
		ds      []*webhooktest.Delivery
		want    []bool
	}{
		{"old secret", []string{oldSecret}, ds, []bool{true, true}},
		{"new secret", []string{newSecret}, ds, []bool{false, true}},
		{"wrong secret", []string{hyponema.NewWebhookSecret()}, ds, []bool{false, false}},
	} {
		for i, v := range webhooktest.Verify(t, c.secrets, c.ds) {
			if v.OK != c.want[i] {
				t.Errorf("%s, delivery %d: ok=%v (%s), want %v", c.name, i, v.OK, v.Error, c.want[i])
			}
		}
	}
	tampered := *ds[0]
	tampered.Body = bytes.Replace(tampered.Body, []byte("ses_1"), []byte("ses_2"), 1)
	if v := webhooktest.Verify(t, []string{oldSecret}, []*webhooktest.Delivery{&tampered}); v[0].OK {
		t.Error("a tampered body verified")
	}
	// And the Go library of the same specification agrees.
	wh, _ := standardwebhooks.NewWebhook(newSecret)
	if err := wh.Verify(ds[1].Body, ds[1].Header); err != nil {
		t.Errorf("Go verifier: %v", err)
	}
}

// TestRetrySchedule fails every try and checks that the tries follow the
// schedule (on an accelerated clock), are logged with their next retry,
// and stop after the last.
func TestRetrySchedule(t *testing.T) {
	storetest.ForEachDialectDSN(t, func(t *testing.T, db *store.DB, dsn string) {
		h := newHarness(t, db, dsn, loopbackPolicy(t))
		rcv := webhooktest.New(t)
		rcv.Answer(func(*webhooktest.Delivery, int) (int, http.Header) { return 500, nil })
		w, _ := h.endpoint(rcv.URL)
		h.event(hyponema.EventSessionCreated, map[string]string{"id": "ses_1"})

		ds := h.waitDeliveries(w.ID, len(fastSchedule))
		time.Sleep(600 * time.Millisecond) // room for a wrong extra try
		ds = h.deliveries(w.ID)
		if len(ds) != len(fastSchedule) {
			t.Fatalf("%d tries, want %d", len(ds), len(fastSchedule))
		}
		got := rcv.Deliveries()
		if len(got) != len(fastSchedule) {
			t.Fatalf("receiver saw %d tries, want %d", len(got), len(fastSchedule))
		}
		for i, d := range ds {
			if d.Attempt != i+1 || d.Status != hyponema.DeliveryFailed || *d.ResponseStatus != 500 || d.Error == "" {
				t.Errorf("try %d logged as %+v", i+1, d)
			}
			last := i == len(ds)-1
			if last != (d.NextRetryAt == nil) {
				t.Errorf("try %d: next_retry_at %v", i+1, d.NextRetryAt)
			}
			if last {
				continue
			}
			// The logged next retry is the schedule's wait after the try
			// (which itself takes some milliseconds), within the jitter.
			wait := d.NextRetryAt.Sub(d.CreatedAt)
			want := fastSchedule[i+1]
			lo, hi := time.Duration(float64(want)*(1-webhook.Jitter))-time.Millisecond, time.Duration(float64(want)*(1+webhook.Jitter))+40*time.Millisecond
			if wait < lo || wait > hi {
				t.Errorf("try %d: next retry after %s, want %s ± %.0f%%", i+1, wait, want, webhook.Jitter*100)
			}
			// And the next try did not come before it.
			if got[i+1].At.Before(d.NextRetryAt.Add(-5 * time.Millisecond)) {
				t.Errorf("try %d came at %s, before its time %s", i+2, got[i+1].At, *d.NextRetryAt)
			}
		}
		ep, _ := h.hooks.FindWebhook(context.Background(), h.ws, w.ID)
		if !ep.Enabled || ep.FailingSince == nil {
			t.Errorf("after failures the endpoint is %+v; want enabled with failing_since set", ep)
		}
	})
}

func TestRetryAfterAndRedirects(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	h := newHarness(t, db, "", loopbackPolicy(t))
	rcv := webhooktest.New(t)
	rcv.Answer(func(d *webhooktest.Delivery, n int) (int, http.Header) {
		switch n {
		case 0:
			return 429, http.Header{"Retry-After": {"1"}}
		case 1:
			return 302, http.Header{"Location": {"http://127.0.0.1:1/elsewhere"}}
		}
		return 200, nil
	})
	w, _ := h.endpoint(rcv.URL)
	h.event(hyponema.EventSessionCreated, nil)
	ds := h.waitDeliveries(w.ID, 3)
	if got := ds[0].NextRetryAt.Sub(ds[0].CreatedAt); got < time.Second {
		t.Errorf("after Retry-After: 1 the next retry came %s later", got)
	}
	if ds[1].Status != hyponema.DeliveryFailed || *ds[1].ResponseStatus != 302 || !strings.Contains(ds[1].Error, "redirect") {
		t.Errorf("a 302 is logged as %+v; want a failure", ds[1])
	}
	if ds[2].Status != hyponema.DeliverySucceeded {
		t.Errorf("third try %+v", ds[2])
	}
	if got := len(rcv.Deliveries()); got != 3 {
		t.Errorf("receiver got %d requests; the redirect must not be followed", got)
	}
	ep, _ := h.hooks.FindWebhook(context.Background(), h.ws, w.ID)
	if ep.FailingSince != nil {
		t.Error("a success did not clear failing_since")
	}
}

// TestDisable: a 410 disables the endpoint at once; failing everything for
// five days disables it too; both record webhook.endpoint.disabled, which
// other endpoints receive.
func TestDisable(t *testing.T) {
	storetest.ForEachDialectDSN(t, func(t *testing.T, db *store.DB, dsn string) {
		ctx := context.Background()
		h := newHarness(t, db, dsn, loopbackPolicy(t))
		gone, failing, watcher := webhooktest.New(t), webhooktest.New(t), webhooktest.New(t)
		gone.Answer(func(*webhooktest.Delivery, int) (int, http.Header) { return 410, nil })
		failing.Answer(func(*webhooktest.Delivery, int) (int, http.Header) { return 503, nil })
		wGone, _ := h.endpoint(gone.URL, hyponema.EventSessionCreated)
		wFailing, _ := h.endpoint(failing.URL, hyponema.EventSessionEnded)
		h.endpoint(watcher.URL, hyponema.EventWebhookEndpointDisabled)

		h.event(hyponema.EventSessionCreated, nil)
		ds := h.waitDeliveries(wGone.ID, 1)
		if ds[0].NextRetryAt != nil {
			t.Errorf("a 410 is retried: %+v", ds[0])
		}
		ep, _ := h.hooks.FindWebhook(ctx, h.ws, wGone.ID)
		if ep.Enabled || ep.DisabledReason != hyponema.WebhookDisabledGone {
			t.Fatalf("after 410: %+v", ep)
		}
		d := watcher.WaitFor(t, 10*time.Second, "disabled event", func(ds []*webhooktest.Delivery) bool { return len(ds) == 1 })[0]
		if d.Event.Type != hyponema.EventWebhookEndpointDisabled || !strings.Contains(string(d.Event.Data), wGone.ID) {
			t.Errorf("watcher got %s %s", d.Event.Type, d.Event.Data)
		}
		// Events after that do not go to the disabled endpoint.
		h.event(hyponema.EventSessionCreated, nil)
		time.Sleep(300 * time.Millisecond)
		if n := len(gone.Deliveries()); n != 1 {
			t.Errorf("a disabled endpoint got %d deliveries", n)
		}

		// Five days of failures.
		h.event(hyponema.EventSessionEnded, nil)
		h.waitDeliveries(wFailing.ID, 1)
		h.clock.Advance(hyponema.WebhookDisableAfter + time.Minute)
		h.event(hyponema.EventSessionEnded, nil)
		deadline := time.Now().Add(10 * time.Second)
		for {
			ep, _ = h.hooks.FindWebhook(ctx, h.ws, wFailing.ID)
			if !ep.Enabled || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if ep.Enabled || ep.DisabledReason != hyponema.WebhookDisabledFailing {
			t.Fatalf("after 5 days of failures: %+v", ep)
		}
		watcher.WaitFor(t, 10*time.Second, "second disabled event", func(ds []*webhooktest.Delivery) bool { return len(ds) == 2 })

		// Enabling it again starts afresh.
		on := true
		ep, err := h.admin.UpdateWebhook(ctx, h.ws, wFailing.ID, hyponema.WebhookPatch{Enabled: &on})
		if err != nil || !ep.Enabled || ep.DisabledReason != "" || ep.FailingSince != nil {
			t.Fatalf("re-enabled: %+v %v", ep, err)
		}
	})
}

// TestEgressGuard aims deliveries at loopback addresses left out of the
// allow list: the guard refuses them at every try, and nothing arrives.
func TestEgressGuard(t *testing.T) {
	target := webhooktest.New(t, "127.0.0.2:0")
	_, port, _ := strings.Cut(strings.TrimPrefix(target.URL, "http://127.0.0.2"), ":")
	port, _, _ = strings.Cut(port, "/")

	policy := loopbackPolicy(t)
	policy.Resolver = staticResolver{"evil.test": "127.0.0.2", "redirector.test": "127.0.0.1"}
	db := storetest.MustOpenSQLite(t)
	h := newHarness(t, db, "", policy)

	// A redirect to the forbidden address: not followed (and the guard
	// would refuse it).
	redirector := webhooktest.New(t)
	redirector.Answer(func(*webhooktest.Delivery, int) (int, http.Header) {
		return 307, http.Header{"Location": {"http://127.0.0.2:" + port + "/hook"}}
	})

	urls := []string{
		"http://127.0.0.2:" + port + "/hook",
		"http://[::ffff:127.0.0.2]:" + port + "/hook",
		"http://2130706434:" + port + "/hook",
		"http://evil.test:" + port + "/hook",
	}
	// The admin refuses them when they are saved …
	for _, u := range urls[:3] {
		_, err := h.admin.CreateWebhook(context.Background(), &hyponema.WebhookEndpoint{WorkspaceID: h.ws, URL: u, Enabled: true})
		if hyponema.ErrorCode(err) != hyponema.EINVALID {
			t.Errorf("CreateWebhook(%s) = %v, want EINVALID", u, err)
		}
	}
	// … and the sender at every try, for endpoints saved before the
	// address became forbidden (stored directly here).
	var ids []string
	for _, u := range urls {
		w := &hyponema.WebhookEndpoint{WorkspaceID: h.ws, URL: u, Enabled: true, ID: hyponema.NewID(hyponema.PrefixWebhook)}
		if err := h.hooks.CreateWebhook(context.Background(), w, h.admin.Box.Seal(hyponema.NewWebhookSecret(), w.ID)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, w.ID)
	}
	r, _ := h.endpoint(strings.Replace(redirector.URL, "127.0.0.1", "redirector.test", 1))
	h.event(hyponema.EventSessionCreated, nil)
	for i, id := range ids {
		d := h.waitDeliveries(id, 1)[0]
		if d.Status != hyponema.DeliveryFailed || !strings.Contains(d.Error, "egress guard") || d.ResponseStatus != nil {
			t.Errorf("%s: %+v", urls[i], d)
		}
		if strings.HasPrefix(urls[i], "http://evil.test") && strings.Contains(d.Error, "127.0.0.2") {
			t.Errorf("the error names the address: %s", d.Error)
		}
	}
	if d := h.waitDeliveries(r.ID, 1)[0]; d.Status != hyponema.DeliveryFailed || *d.ResponseStatus != 307 {
		t.Errorf("redirect: %+v", d)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(target.Deliveries()); n != 0 {
		t.Fatalf("%d requests reached 127.0.0.2", n)
	}
}

type staticResolver map[string]string

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netipAddr, error) {
	return lookup(r, host)
}

func TestPayloadCapAndRedeliver(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	h := newHarness(t, db, "", loopbackPolicy(t))
	rcv := webhooktest.New(t)
	w, _ := h.endpoint(rcv.URL)
	big := h.event(hyponema.EventMessageCompleted, map[string]string{"text": strings.Repeat("x", webhook.DefaultMaxPayloadBytes)})
	d := rcv.WaitFor(t, 10*time.Second, "delivery", func(ds []*webhooktest.Delivery) bool { return len(ds) == 1 })[0]
	if len(d.Body) > webhook.DefaultMaxPayloadBytes || !bytes.Contains(d.Body, []byte(`"data_truncated":true`)) || d.Event.ID != big.ID {
		t.Fatalf("a big event was sent as %d bytes: %.200s", len(d.Body), d.Body)
	}
	full, err := h.hooks.FindEvent(context.Background(), h.ws, big.ID)
	if err != nil || len(full.Data) < webhook.DefaultMaxPayloadBytes {
		t.Fatalf("the event log lost the data: %v", err)
	}

	logged := h.waitDeliveries(w.ID, 1)
	if err := h.hooks.Redeliver(context.Background(), h.ws, w.ID, logged[0].ID); err != nil {
		t.Fatal(err)
	}
	ds := h.waitDeliveries(w.ID, 2)
	if ds[1].Trigger != hyponema.DeliveryManual || ds[1].Attempt != 2 || ds[1].EventID != big.ID {
		t.Errorf("redelivery logged as %+v", ds[1])
	}
	if n := len(rcv.Deliveries()); n != 2 {
		t.Errorf("receiver got %d", n)
	}
}
