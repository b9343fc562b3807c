package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// recorder is an Enqueuer that keeps the jobs of committed transactions
// only, as a job queue on the same database would see them.
type recorder struct {
	mu   sync.Mutex
	jobs []hyponema.DeliveryJob
	fail error
}

func (r *recorder) EnqueueDeliveries(_ context.Context, tx *sql.Tx, jobs []hyponema.DeliveryJob) error {
	if r.fail != nil {
		return r.fail
	}
	// A job row written in the transaction: it exists only if the
	// transaction commits. Here the recorder inserts into a table of its
	// own in the same transaction and the test reads it back.
	for _, j := range jobs {
		b, _ := json.Marshal(j)
		if _, err := tx.Exec(`INSERT INTO test_jobs (job) VALUES ('` + strings.ReplaceAll(string(b), "'", "''") + `')`); err != nil {
			return err
		}
	}
	return nil
}

func (r *recorder) committed(t testing.TB, db *store.DB) []hyponema.DeliveryJob {
	t.Helper()
	rows, err := db.Writer().Query(`SELECT job FROM test_jobs`)
	must(t, err)
	defer rows.Close()
	var out []hyponema.DeliveryJob
	for rows.Next() {
		var s string
		must(t, rows.Scan(&s))
		var j hyponema.DeliveryJob
		must(t, json.Unmarshal([]byte(s), &j))
		out = append(out, j)
	}
	return out
}

func withRecorder(t testing.TB, db *store.DB) *recorder {
	t.Helper()
	_, err := db.Writer().Exec(`CREATE TABLE test_jobs (job TEXT NOT NULL)`)
	must(t, err)
	r := &recorder{}
	db.SetEnqueuer(r)
	return r
}

func mustWebhook(t testing.TB, hooks *store.WebhookService, ws string, events ...string) *hyponema.WebhookEndpoint {
	t.Helper()
	w := &hyponema.WebhookEndpoint{WorkspaceID: ws, URL: "https://example.com/hook", Events: events, Enabled: true}
	must(t, hooks.CreateWebhook(t.Context(), w, "sealed-secret-"+ws))
	return w
}

func TestWebhookCRUD(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		hooks := store.NewWebhookService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)

		w := &hyponema.WebhookEndpoint{WorkspaceID: ws.ID, URL: "https://example.com/hook", Events: []string{"session.*"},
			Enabled: true, Description: "CRM"}
		must(t, hooks.CreateWebhook(ctx, w, "v1.k1.sealed"))
		if !hyponema.HasPrefix(w.ID, hyponema.PrefixWebhook) || w.CreatedAt.IsZero() {
			t.Fatalf("created %+v", w)
		}
		got, err := hooks.FindWebhook(ctx, ws.ID, w.ID)
		must(t, err)
		if got.URL != w.URL || got.Description != "CRM" || !got.Enabled || len(got.Events) != 1 || !got.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("found %+v", got)
		}
		_, err = hooks.FindWebhook(ctx, other.ID, w.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// Validation.
		bad := &hyponema.WebhookEndpoint{WorkspaceID: ws.ID, URL: "ftp://x", Events: []string{"nope"}}
		err = hooks.CreateWebhook(ctx, bad, "s")
		wantField(t, err, "invalid", "body", "url")
		wantField(t, err, "invalid", "body", "events", "0")

		// Patch.
		off, url := false, "https://example.org/other"
		events := []string{hyponema.EventSessionEnded}
		got, err = hooks.UpdateWebhook(ctx, ws.ID, w.ID, hyponema.WebhookPatch{Enabled: &off, URL: &url, Events: &events})
		must(t, err)
		if got.Enabled || got.DisabledReason != hyponema.WebhookDisabledByUser || got.URL != url || got.Events[0] != hyponema.EventSessionEnded {
			t.Errorf("patched %+v", got)
		}
		_, err = hooks.UpdateWebhook(ctx, other.ID, w.ID, hyponema.WebhookPatch{Enabled: &off})
		wantCode(t, err, hyponema.ENOTFOUND)

		// Secrets and rotation.
		sec, err := hooks.WebhookSecrets(ctx, w.ID)
		must(t, err)
		if sec.Current != "v1.k1.sealed" || sec.Previous != "" {
			t.Errorf("secrets %+v", sec)
		}
		until := time.Now().Add(time.Hour)
		got, err = hooks.RotateWebhookSecret(ctx, ws.ID, w.ID, "v1.k1.new", until)
		must(t, err)
		if got.PreviousSecretExpiresAt == nil || got.PreviousSecretExpiresAt.Sub(until).Abs() > time.Millisecond {
			t.Errorf("rotated %+v", got)
		}
		sec, _ = hooks.WebhookSecrets(ctx, w.ID)
		if sec.Current != "v1.k1.new" || sec.Previous != "v1.k1.sealed" {
			t.Errorf("after rotation %+v", sec)
		}
		// An expired previous secret is not returned.
		_, err = hooks.RotateWebhookSecret(ctx, ws.ID, w.ID, "v1.k1.third", time.Now().Add(-time.Second))
		must(t, err)
		sec, _ = hooks.WebhookSecrets(ctx, w.ID)
		if sec.Previous != "" {
			t.Errorf("an expired previous secret is still used: %+v", sec)
		}
		_, err = hooks.RotateWebhookSecret(ctx, other.ID, w.ID, "x", until)
		wantCode(t, err, hyponema.ENOTFOUND)

		// List and delete.
		second := mustWebhook(t, hooks, ws.ID)
		p, err := hooks.ListWebhooks(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		if len(p.Data) != 2 || p.Data[0].ID != second.ID {
			t.Errorf("list %+v", p.Data)
		}
		wantCode(t, hooks.DeleteWebhook(ctx, other.ID, w.ID), hyponema.ENOTFOUND)
		must(t, hooks.DeleteWebhook(ctx, ws.ID, w.ID))
		_, err = hooks.FindWebhook(ctx, ws.ID, w.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, hooks.DeleteWebhook(ctx, ws.ID, w.ID), hyponema.ENOTFOUND)
	})
}

// TestEventsInTheSameTransaction checks the outbox: sessions created and
// ended, and replies finished, record their events and queue deliveries
// to the endpoints that want them, in the transaction of the change; a
// change that fails records nothing.
func TestEventsInTheSameTransaction(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		rec := withRecorder(t, db)
		e := newSessionEnv(t, db)
		hooks := store.NewWebhookService(db)
		all := mustWebhook(t, hooks, e.ws.ID)
		ended := mustWebhook(t, hooks, e.ws.ID, hyponema.EventSessionEnded)
		off := mustWebhook(t, hooks, e.ws.ID)
		no := false
		_, err := hooks.UpdateWebhook(ctx, e.ws.ID, off.ID, hyponema.WebhookPatch{Enabled: &no})
		must(t, err)
		otherEnv := e.otherEnv(t)
		mustWebhook(t, hooks, otherEnv.ws.ID) // another workspace's endpoint hears nothing of this one

		s := e.mustSession(t, e.newSession(t0), nil)
		user := e.newMessage(s, hyponema.RoleUser, "hi", t0.Add(time.Second))
		must(t, e.messages.StartTurn(ctx, user, nil, "trn_1", time.Now().Add(time.Minute)))
		reply := e.newMessage(s, hyponema.RoleAssistant, "hello", t0.Add(2*time.Second))
		must(t, e.messages.FinishTurn(ctx, reply, nil, "trn_1"))
		_, _, err = e.sessions.EndSession(ctx, e.ws.ID, s.ID, hyponema.EndedByAPI, t0.Add(3*time.Second), nil)
		must(t, err)
		// Ending again is a no-op: no second event.
		_, _, err = e.sessions.EndSession(ctx, e.ws.ID, s.ID, hyponema.EndedByAPI, t0.Add(4*time.Second), nil)
		must(t, err)

		p, err := hooks.ListWorkspaceEvents(ctx, e.ws.ID, hyponema.EventFilter{}, hyponema.PageOptions{Asc: true})
		must(t, err)
		var types []string
		for _, ev := range p.Data {
			types = append(types, ev.Type)
		}
		want := []string{hyponema.EventSessionCreated, hyponema.EventMessageCompleted, hyponema.EventSessionEnded}
		if strings.Join(types, ",") != strings.Join(want, ",") {
			t.Fatalf("events %v, want %v", types, want)
		}
		var sess hyponema.Session
		must(t, json.Unmarshal(p.Data[0].Data, &sess))
		if sess.ID != s.ID || sess.Variables["name"] != "Ada" {
			t.Errorf("session.created data %s", p.Data[0].Data)
		}
		var msg hyponema.Message
		must(t, json.Unmarshal(p.Data[1].Data, &msg))
		if msg.ID != reply.ID || msg.Text != "hello" || msg.Role != hyponema.RoleAssistant {
			t.Errorf("message.completed data %s", p.Data[1].Data)
		}
		must(t, json.Unmarshal(p.Data[2].Data, &sess))
		if sess.Status != hyponema.SessionEnded || sess.EndedReason != hyponema.EndedByAPI {
			t.Errorf("session.ended data %s", p.Data[2].Data)
		}

		// Filters, and the other workspace sees none of it.
		f, err := hooks.ListWorkspaceEvents(ctx, e.ws.ID, hyponema.EventFilter{Type: hyponema.EventSessionEnded}, hyponema.PageOptions{})
		must(t, err)
		if len(f.Data) != 1 {
			t.Errorf("type filter: %d events", len(f.Data))
		}
		f, err = hooks.ListWorkspaceEvents(ctx, e.ws.ID, hyponema.EventFilter{Since: time.Now().Add(time.Hour)}, hyponema.PageOptions{})
		must(t, err)
		if len(f.Data) != 0 {
			t.Errorf("since filter: %d events", len(f.Data))
		}
		f, _ = hooks.ListWorkspaceEvents(ctx, otherEnv.ws.ID, hyponema.EventFilter{}, hyponema.PageOptions{})
		if len(f.Data) != 0 {
			t.Errorf("another workspace lists %d of its events", len(f.Data))
		}
		_, err = hooks.FindEvent(ctx, otherEnv.ws.ID, p.Data[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// Jobs: every event to `all`, session.ended to `ended` too, none
		// to the disabled endpoint or the other workspace.
		count := map[string]int{}
		for _, j := range rec.committed(t, db) {
			count[j.WebhookID]++
			if j.WorkspaceID != e.ws.ID {
				t.Errorf("job for workspace %s", j.WorkspaceID)
			}
		}
		if count[all.ID] != 3 || count[ended.ID] != 1 || len(count) != 2 {
			t.Errorf("jobs per endpoint %v; want all=3 ended=1", count)
		}

		// A change that fails leaves no event and no job.
		before := len(rec.committed(t, db))
		bad := e.newSession(t0)
		bad.AgentVersionID = otherEnv.version.ID
		if err := e.sessions.CreateSession(ctx, bad, nil, nil, nil); err == nil {
			t.Fatal("a session on another workspace's version was created")
		}
		// And a job queue that fails fails the change: no session without
		// its event.
		rec.fail = errors.New("queue down")
		failed := e.newSession(t0)
		if err := e.sessions.CreateSession(ctx, failed, nil, nil, nil); err == nil {
			t.Fatal("CreateSession succeeded though its event could not be queued")
		}
		rec.fail = nil
		_, err = e.sessions.FindSession(ctx, e.ws.ID, failed.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		if n := len(rec.committed(t, db)); n != before {
			t.Errorf("failed changes queued %d jobs", n-before)
		}
		p2, _ := hooks.ListWorkspaceEvents(ctx, e.ws.ID, hyponema.EventFilter{}, hyponema.PageOptions{})
		if len(p2.Data) != 3 {
			t.Errorf("failed changes left events: %d", len(p2.Data))
		}
	})
}

func TestRecordDelivery(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		rec := withRecorder(t, db)
		hooks := store.NewWebhookService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)
		w := mustWebhook(t, hooks, ws.ID)
		watcher := mustWebhook(t, hooks, ws.ID, hyponema.EventWebhookEndpointDisabled)
		ev, err := hooks.SendTestEvent(ctx, ws.ID, w.ID)
		must(t, err)
		if ev.Type != hyponema.EventWebhookTest {
			t.Fatalf("test event %+v", ev)
		}
		if jobs := rec.committed(t, db); len(jobs) != 1 || jobs[0].WebhookID != w.ID {
			t.Fatalf("the test event queued %+v; want one job for its endpoint", jobs)
		}
		_, err = hooks.SendTestEvent(ctx, other.ID, w.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		code := 500
		t1 := time.Now().UTC()
		next := t1.Add(5 * time.Second)
		try := func(at time.Time, status string, disable string) (*hyponema.WebhookDelivery, bool) {
			d := &hyponema.WebhookDelivery{WorkspaceID: ws.ID, WebhookID: w.ID, EventID: ev.ID, EventType: ev.Type,
				Status: status, ResponseStatus: &code, ResponseBody: strings.Repeat("é", 1000) + "\x00", Error: "the endpoint answered 500",
				LatencyMS: 12, NextRetryAt: &next, CreatedAt: at}
			disabled, err := hooks.RecordDelivery(ctx, d, disable)
			must(t, err)
			return d, disabled
		}
		d1, disabled := try(t1, hyponema.DeliveryFailed, "")
		if disabled || d1.Attempt != 1 || len(d1.ResponseBody) > hyponema.MaxDeliveryResponseBytes || strings.Contains(d1.ResponseBody, "\x00") {
			t.Fatalf("first try %+v disabled=%v", d1.Attempt, disabled)
		}
		ep, _ := hooks.FindWebhook(ctx, ws.ID, w.ID)
		if ep.FailingSince == nil || !ep.FailingSince.Equal(d1.CreatedAt) {
			t.Errorf("failing_since %v, want %v", ep.FailingSince, d1.CreatedAt)
		}
		d2, _ := try(t1.Add(time.Hour), hyponema.DeliveryFailed, "")
		if d2.Attempt != 2 {
			t.Errorf("second try is attempt %d", d2.Attempt)
		}
		ep, _ = hooks.FindWebhook(ctx, ws.ID, w.ID)
		if !ep.FailingSince.Equal(d1.CreatedAt) {
			t.Error("a later failure moved failing_since")
		}
		// Five days after the first failure, the next failure disables it.
		d3, disabled := try(t1.Add(hyponema.WebhookDisableAfter), hyponema.DeliveryFailed, "")
		if !disabled || d3.NextRetryAt != nil {
			t.Fatalf("after five days: disabled=%v next=%v", disabled, d3.NextRetryAt)
		}
		ep, _ = hooks.FindWebhook(ctx, ws.ID, w.ID)
		if ep.Enabled || ep.DisabledReason != hyponema.WebhookDisabledFailing {
			t.Errorf("endpoint %+v", ep)
		}
		disabledEvents, _ := hooks.ListWorkspaceEvents(ctx, ws.ID, hyponema.EventFilter{Type: hyponema.EventWebhookEndpointDisabled}, hyponema.PageOptions{})
		if len(disabledEvents.Data) != 1 || !strings.Contains(string(disabledEvents.Data[0].Data), w.ID) {
			t.Errorf("disabled events %+v", disabledEvents.Data)
		}
		jobs := rec.committed(t, db)
		if last := jobs[len(jobs)-1]; last.WebhookID != watcher.ID || last.EventID != disabledEvents.Data[0].ID {
			t.Errorf("the disabled event is not queued for the watcher: %+v", last)
		}
		// Re-enabling clears the streak; a success clears it too.
		on := true
		ep, err = hooks.UpdateWebhook(ctx, ws.ID, w.ID, hyponema.WebhookPatch{Enabled: &on})
		must(t, err)
		if ep.FailingSince != nil || ep.DisabledReason != "" {
			t.Errorf("re-enabled %+v", ep)
		}
		try(t1.Add(6*24*time.Hour), hyponema.DeliveryFailed, "")
		code = 200
		try(t1.Add(6*24*time.Hour+time.Minute), hyponema.DeliverySucceeded, "")
		ep, _ = hooks.FindWebhook(ctx, ws.ID, w.ID)
		if ep.FailingSince != nil {
			t.Error("a success did not clear failing_since")
		}
		// 410: disabled at once.
		code = 410
		if _, disabled := try(t1.Add(7*24*time.Hour), hyponema.DeliveryFailed, hyponema.WebhookDisabledGone); !disabled {
			t.Error("410 did not disable")
		}

		// The log: newest first, filters, another workspace sees nothing.
		p, err := hooks.ListDeliveries(ctx, ws.ID, w.ID, hyponema.DeliveryFilter{}, hyponema.PageOptions{})
		must(t, err)
		if len(p.Data) != 6 || p.Data[0].Attempt != 6 {
			t.Errorf("log has %d tries, first attempt %d", len(p.Data), p.Data[0].Attempt)
		}
		p, _ = hooks.ListDeliveries(ctx, ws.ID, w.ID, hyponema.DeliveryFilter{Status: hyponema.DeliverySucceeded}, hyponema.PageOptions{})
		if len(p.Data) != 1 {
			t.Errorf("status filter: %d", len(p.Data))
		}
		_, err = hooks.ListDeliveries(ctx, other.ID, w.ID, hyponema.DeliveryFilter{}, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = hooks.FindDelivery(ctx, other.ID, w.ID, d1.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		got, err := hooks.FindDelivery(ctx, ws.ID, w.ID, d1.ID)
		must(t, err)
		if got.Error != d1.Error || *got.ResponseStatus != 500 || got.LatencyMS != 12 || !got.NextRetryAt.Equal(next.Truncate(time.Microsecond)) {
			t.Errorf("found %+v", got)
		}

		// Redeliver queues a manual job; not across workspaces.
		n := len(rec.committed(t, db))
		must(t, hooks.Redeliver(ctx, ws.ID, w.ID, d1.ID))
		jobs = rec.committed(t, db)
		if len(jobs) != n+1 || !jobs[n].Manual || jobs[n].EventID != ev.ID {
			t.Errorf("redeliver queued %+v", jobs[n:])
		}
		wantCode(t, hooks.Redeliver(ctx, other.ID, w.ID, d1.ID), hyponema.ENOTFOUND)

		// Deleting the endpoint deletes its log; a try recorded afterwards
		// is ENOTFOUND.
		must(t, hooks.DeleteWebhook(ctx, ws.ID, w.ID))
		_, err = hooks.RecordDelivery(ctx, &hyponema.WebhookDelivery{WorkspaceID: ws.ID, WebhookID: w.ID, EventID: ev.ID,
			EventType: ev.Type, Status: hyponema.DeliverySucceeded}, "")
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

func TestRedeliverWithoutQueue(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	hooks := store.NewWebhookService(db)
	ws := mustWorkspace(t, db)
	w := mustWebhook(t, hooks, ws.ID)
	wantCode(t, hooks.Redeliver(context.Background(), ws.ID, w.ID, "dlv_x"), hyponema.ENOTFOUND)
	d := &hyponema.WebhookDelivery{WorkspaceID: ws.ID, WebhookID: w.ID, EventID: "evt_x", EventType: "webhook.test", Status: hyponema.DeliveryFailed}
	_, err := hooks.RecordDelivery(context.Background(), d, "")
	must(t, err)
	wantCode(t, hooks.Redeliver(context.Background(), ws.ID, w.ID, d.ID), hyponema.EUNAVAILABLE)
}

func TestDeleteEventsBefore(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		hooks := store.NewWebhookService(db)
		ws := mustWorkspace(t, db)
		w := mustWebhook(t, hooks, ws.ID)
		old, _ := hyponema.NewEvent(ws.ID, hyponema.EventSessionCreated, nil)
		old.CreatedAt = time.Now().Add(-31 * 24 * time.Hour)
		fresh, _ := hyponema.NewEvent(ws.ID, hyponema.EventSessionCreated, nil)
		must(t, hooks.RecordEvents(ctx, []*hyponema.Event{old, fresh}))
		_, err := hooks.RecordDelivery(ctx, &hyponema.WebhookDelivery{WorkspaceID: ws.ID, WebhookID: w.ID, EventID: old.ID,
			EventType: old.Type, Status: hyponema.DeliverySucceeded, CreatedAt: old.CreatedAt}, "")
		must(t, err)
		n, err := hooks.DeleteEventsBefore(ctx, time.Now().Add(-hyponema.EventRetention))
		must(t, err)
		if n != 1 {
			t.Fatalf("deleted %d events, want 1", n)
		}
		_, err = hooks.FindEvent(ctx, ws.ID, old.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = hooks.FindEvent(ctx, ws.ID, fresh.ID)
		must(t, err)
		p, _ := hooks.ListDeliveries(ctx, ws.ID, w.ID, hyponema.DeliveryFilter{}, hyponema.PageOptions{})
		if len(p.Data) != 0 {
			t.Errorf("%d old deliveries kept", len(p.Data))
		}
	})
}
