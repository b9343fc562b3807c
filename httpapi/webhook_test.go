package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// recordingQueue is a store.Enqueuer that keeps the jobs it is given, in
// place of the job queue.
type recordingQueue struct {
	mu   sync.Mutex
	jobs []hyponema.DeliveryJob
}

var _ store.Enqueuer = (*recordingQueue)(nil)

func (q *recordingQueue) EnqueueDeliveries(_ context.Context, tx *sql.Tx, jobs []hyponema.DeliveryJob) error {
	if tx == nil {
		return fmt.Errorf("deliveries queued outside a transaction")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.jobs = append(q.jobs, jobs...)
	return nil
}

// jobsFor returns the jobs queued for the event so far.
func (q *recordingQueue) jobsFor(eventID string) []hyponema.DeliveryJob {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []hyponema.DeliveryJob
	for _, j := range q.jobs {
		if j.EventID == eventID {
			out = append(out, j)
		}
	}
	return out
}

// newQueuedTestServer is newTestServer on a database whose recorded events
// queue their deliveries on q. The queue is set before the server runs.
func newQueuedTestServer(t testing.TB, db *store.DB, q *recordingQueue) *testServer {
	db.SetEnqueuer(q)
	return newTestServer(t, db)
}

// recordDelivery stores a try of the event at the endpoint directly, as
// the delivery worker would, and returns its ID.
func recordDelivery(t testing.TB, db *store.DB, ws, webhookID, eventID, status string) string {
	t.Helper()
	code, errText := 200, ""
	if status == hyponema.DeliveryFailed {
		code, errText = 500, "the receiver answered 500"
	}
	d := &hyponema.WebhookDelivery{WorkspaceID: ws, WebhookID: webhookID, EventID: eventID, EventType: hyponema.EventWebhookTest,
		Status: status, ResponseStatus: &code, ResponseBody: "answer " + status, Error: errText, LatencyMS: 12}
	if _, err := store.NewWebhookService(db).RecordDelivery(context.Background(), d, ""); err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// noSecret fails unless the raw body is free of signing secrets: no
// "secret" field on any object in it and no whsec_ anywhere.
func noSecret(t testing.TB, r *response) {
	t.Helper()
	if bytes.Contains(r.body, []byte(hyponema.WebhookSecretPrefix)) {
		t.Fatalf("body shows a signing secret: %s", r.body)
	}
	noField(t, r, "secret")
}

// noField fails unless the body is JSON in which no object, however deep,
// has the field.
func noField(t testing.TB, r *response, field string) {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not JSON: %s", r.body)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v[field]; ok {
				t.Fatalf("object with a %s field: %s", field, r.body)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
}

// TestWebhookSecretShownOnce: the signing secret is in the answers of
// create and rotate-secret and nowhere else.
func TestWebhookSecretShownOnce(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		base := "/workspaces/" + a.ws + "/webhooks"

		r := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/hook","description":"orders"}`)
		w := r.json(t)
		id, secret := w["id"].(string), w["secret"].(string)
		if !hyponema.HasPrefix(id, hyponema.PrefixWebhook) || !strings.HasPrefix(secret, hyponema.WebhookSecretPrefix) || len(secret) < len(hyponema.WebhookSecretPrefix)+40 {
			t.Fatalf("created %s", r.body)
		}
		if w["enabled"] != true || w["disabled_reason"] != "" || w["workspace_id"] != a.ws || w["previous_secret_expires_at"] != nil {
			t.Fatalf("created %s", r.body)
		}
		if ev, ok := w["events"].([]any); !ok || len(ev) != 0 {
			t.Fatalf("events default to []: %s", r.body)
		}

		reads := []struct{ method, path, body string }{
			{"GET", base + "/" + id, ""},
			{"GET", base, ""},
			{"GET", base + "?order=asc&limit=1", ""},
			{"PATCH", base + "/" + id, `{"description":"orders and returns"}`},
			{"PATCH", base + "/" + id, `{"url":"http://127.0.0.1:9/other"}`},
		}
		for _, rd := range reads {
			r := ts.must(200, rd.method, rd.path, a.key, rd.body)
			noSecret(t, r)
			if !strings.Contains(string(r.body), id) {
				t.Errorf("%s %s: the endpoint is missing: %s", rd.method, rd.path, r.body)
			}
		}

		rot := ts.must(200, "POST", base+"/"+id+"/rotate-secret", a.key, "").json(t)
		if s, _ := rot["secret"].(string); !strings.HasPrefix(s, hyponema.WebhookSecretPrefix) || s == secret {
			t.Fatalf("rotated secret %q (was %q)", s, secret)
		}
		noSecret(t, ts.must(200, "GET", base+"/"+id, a.key, ""))
		noSecret(t, ts.must(200, "GET", base, a.key, ""))
	})
}

// TestWebhookValidation covers the fields of create and update, including
// the egress guard on the URL (127.0.0.1/32 is allowed in tests; 127.0.0.2
// is loopback outside the list).
func TestWebhookValidation(t *testing.T) {
	db := storetest.MustOpenSQLite(t)
	ts := newTestServer(t, db)
	a := ts.newTenant("A")
	base := "/workspaces/" + a.ws + "/webhooks"
	id := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/"}`).str(t, "id")

	var many []string
	for range hyponema.MaxWebhookEvents + 1 {
		many = append(many, `"session.created"`)
	}
	tests := []struct {
		name   string
		method string // POST (create) unless set
		body   string
		status int
		loc    string // the first error's loc, as JSON
	}{
		{name: "missing url", body: `{}`, status: 422, loc: `["body","url"]`},
		{name: "empty url", body: `{"url":""}`, status: 422, loc: `["body","url"]`},
		{name: "ftp url", body: `{"url":"ftp://example.com/hook"}`, status: 422, loc: `["body","url"]`},
		{name: "relative url", body: `{"url":"/hook"}`, status: 422, loc: `["body","url"]`},
		{name: "user and password", body: `{"url":"https://user:pass@example.com/hook"}`, status: 422, loc: `["body","url"]`},
		{name: "fragment", body: `{"url":"https://example.com/hook#x"}`, status: 422, loc: `["body","url"]`},
		{name: "url too long", body: `{"url":"https://example.com/` + strings.Repeat("a", hyponema.MaxWebhookURLLen) + `"}`, status: 422, loc: `["body","url"]`},
		{name: "unknown event type", body: `{"url":"http://127.0.0.1:9/","events":["session.created","order.paid"]}`, status: 422, loc: `["body","events","1"]`},
		{name: "wildcard of nothing", body: `{"url":"http://127.0.0.1:9/","events":["order.*"]}`, status: 422, loc: `["body","events","0"]`},
		{name: "51 event types", body: `{"url":"http://127.0.0.1:9/","events":[` + strings.Join(many, ",") + `]}`, status: 422, loc: `["body","events"]`},
		{name: "events not a list", body: `{"url":"http://127.0.0.1:9/","events":"session.created"}`, status: 422, loc: `["body","events"]`},
		{name: "unknown field", body: `{"url":"http://127.0.0.1:9/","secret":"whsec_mine"}`, status: 422, loc: `["body","secret"]`},
		{name: "forbidden address", body: `{"url":"http://127.0.0.2:9/"}`, status: 422, loc: `["body","url"]`},
		{name: "localhost outside the allow list", body: `{"url":"http://[::1]:9/"}`, status: 422, loc: `["body","url"]`},
		{name: "allowed address", body: `{"url":"http://127.0.0.1:9/"}`, status: 201},
		{name: "wildcard and known types", body: `{"url":"http://127.0.0.1:9/","events":["session.*","message.completed","*"]}`, status: 201},
		{name: "created disabled", body: `{"url":"http://127.0.0.1:9/","enabled":false}`, status: 201},

		{name: "patch forbidden address", method: "PATCH", body: `{"url":"http://127.0.0.2:9/"}`, status: 422, loc: `["body","url"]`},
		{name: "patch ftp url", method: "PATCH", body: `{"url":"ftp://example.com/"}`, status: 422, loc: `["body","url"]`},
		{name: "patch unknown event type", method: "PATCH", body: `{"events":["nope"]}`, status: 422, loc: `["body","events","0"]`},
		{name: "patch unknown field", method: "PATCH", body: `{"id":"whk_x"}`, status: 422, loc: `["body","id"]`},
		{name: "patch nothing", method: "PATCH", body: `{}`, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path := "POST", base
			if tt.method == "PATCH" {
				method, path = "PATCH", base+"/"+id
			}
			r := ts.do(method, path, a.key, tt.body)
			if tt.status >= 400 {
				checkFieldError(t, r, tt.status, tt.loc)
				return
			}
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
		})
	}
	if w := ts.must(200, "GET", base+"/"+id, a.key, "").json(t); w["url"] != "http://127.0.0.1:9/" {
		t.Fatalf("a refused patch changed the endpoint: %v", w)
	}
	// Created disabled: the reason says the user did it.
	list := ts.must(200, "GET", base, a.key, "").json(t)["data"].([]any)
	var disabled int
	for _, w := range list {
		if w := w.(map[string]any); w["enabled"] == false {
			disabled++
			if w["disabled_reason"] != hyponema.WebhookDisabledByUser {
				t.Errorf("disabled at creation with reason %v", w["disabled_reason"])
			}
		}
	}
	if len(list) != 4 || disabled != 1 {
		t.Fatalf("%d endpoints, %d disabled; want 4 and 1", len(list), disabled)
	}
}

// TestWebhookLifecycle walks an endpoint through update, rotation and
// deletion.
func TestWebhookLifecycle(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		vars := map[string]string{"ws": a.ws, "key": a.key}
		runScenarios(t, ts, vars, []scenario{
			{name: "create", method: "POST", path: "/workspaces/{ws}/webhooks", body: `{"url":"http://127.0.0.1:9/hook","events":["session.ended"]}`, status: 201,
				contains: []string{`"id":"whk_`, `"events":["session.ended"]`, `"enabled":true`, `"failing_since":null`}, save: map[string]string{"hook": "id"}},
			{name: "create another", method: "POST", path: "/workspaces/{ws}/webhooks", body: `{"url":"http://127.0.0.1:9/other"}`, status: 201, save: map[string]string{"hook2": "id"}},
			{name: "list newest first", method: "GET", path: "/workspaces/{ws}/webhooks?limit=1", status: 200, contains: []string{`"id":"{hook2}"`, `"has_more":true`, `"next_cursor":"`}, absent: []string{`{hook}`}},
			{name: "list oldest first", method: "GET", path: "/workspaces/{ws}/webhooks?order=asc&limit=1", status: 200, contains: []string{`"id":"{hook}"`}},
			{name: "list bad limit", method: "GET", path: "/workspaces/{ws}/webhooks?limit=0", status: 422, kind: "validation_error", contains: []string{`"loc":["query","limit"]`}},
			{name: "patch events", method: "PATCH", path: "/workspaces/{ws}/webhooks/{hook}", body: `{"events":["session.*","message.completed"]}`, status: 200,
				contains: []string{`"events":["session.*","message.completed"]`, `"url":"http://127.0.0.1:9/hook"`}},
			{name: "patch events to all", method: "PATCH", path: "/workspaces/{ws}/webhooks/{hook2}", body: `{"events":[]}`, status: 200, contains: []string{`"events":[]`}},
			{name: "null leaves the field", method: "PATCH", path: "/workspaces/{ws}/webhooks/{hook}", body: `{"events":null,"description":"orders"}`, status: 200,
				contains: []string{`"events":["session.*","message.completed"]`, `"description":"orders"`}},
			{name: "disable", method: "PATCH", path: "/workspaces/{ws}/webhooks/{hook}", body: `{"enabled":false}`, status: 200, contains: []string{`"enabled":false`, `"disabled_reason":"user"`}},
			{name: "disabled shows in get", method: "GET", path: "/workspaces/{ws}/webhooks/{hook}", status: 200, contains: []string{`"disabled_reason":"user"`}},
			{name: "enable", method: "PATCH", path: "/workspaces/{ws}/webhooks/{hook}", body: `{"enabled":true}`, status: 200, contains: []string{`"enabled":true`, `"disabled_reason":""`}},
			{name: "patch missing", method: "PATCH", path: "/workspaces/{ws}/webhooks/whk_01jc2x5w3n0000000000000000", body: `{"enabled":false}`, status: 404, kind: "not_found"},
			{name: "rotate with {}", method: "POST", path: "/workspaces/{ws}/webhooks/{hook}/rotate-secret", body: `{}`, status: 200, contains: []string{`"secret":"whsec_`}},
			{name: "rotate with a field", method: "POST", path: "/workspaces/{ws}/webhooks/{hook}/rotate-secret", body: `{"secret":"whsec_mine"}`, status: 422, kind: "validation_error"},
			{name: "rotate missing", method: "POST", path: "/workspaces/{ws}/webhooks/whk_01jc2x5w3n0000000000000000/rotate-secret", status: 404, kind: "not_found"},
			{name: "delete", method: "DELETE", path: "/workspaces/{ws}/webhooks/{hook}", status: 204},
			{name: "deleted is gone", method: "GET", path: "/workspaces/{ws}/webhooks/{hook}", status: 404, kind: "not_found"},
			{name: "deleted is not listed", method: "GET", path: "/workspaces/{ws}/webhooks", status: 200, contains: []string{`"id":"{hook2}"`}, absent: []string{`{hook}`}},
			{name: "deleted has no deliveries", method: "GET", path: "/workspaces/{ws}/webhooks/{hook}/deliveries", status: 404, kind: "not_found"},
			{name: "deleted cannot be tested", method: "POST", path: "/workspaces/{ws}/webhooks/{hook}/test", status: 404, kind: "not_found"},
			{name: "delete twice", method: "DELETE", path: "/workspaces/{ws}/webhooks/{hook}", status: 404, kind: "not_found"},

			// IDs of the wrong kind name nothing.
			{name: "webhook ID of another kind", method: "GET", path: "/workspaces/{ws}/webhooks/agt_01jc2x5w3n0000000000000000", status: 404, kind: "not_found"},
			{name: "malformed webhook ID", method: "GET", path: "/workspaces/{ws}/webhooks/nonsense", status: 404, kind: "not_found"},
			{name: "delivery ID of another kind", method: "GET", path: "/workspaces/{ws}/webhooks/{hook2}/deliveries/evt_01jc2x5w3n0000000000000000", status: 404, kind: "not_found"},
			{name: "event ID of another kind", method: "GET", path: "/workspaces/{ws}/events/{hook2}", status: 404, kind: "not_found"},
			{name: "malformed event ID", method: "GET", path: "/workspaces/{ws}/events/x", status: 404, kind: "not_found"},
		})
	})
}

// TestWebhookRotateSecret: a rotation gives a new secret and says when the
// old one stops signing, about 24 hours on.
func TestWebhookRotateSecret(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	base := "/workspaces/" + a.ws + "/webhooks"
	created := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/"}`).json(t)
	id := created["id"].(string)

	before := time.Now()
	rot := ts.must(200, "POST", base+"/"+id+"/rotate-secret", a.key, "").json(t)
	after := time.Now()
	if s, _ := rot["secret"].(string); !strings.HasPrefix(s, hyponema.WebhookSecretPrefix) || s == created["secret"] {
		t.Fatalf("rotated secret %q, created with %q", s, created["secret"])
	}
	check := func(w map[string]any) {
		t.Helper()
		s, _ := w["previous_secret_expires_at"].(string)
		until, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatalf("previous_secret_expires_at %v: %v", w["previous_secret_expires_at"], err)
		}
		if until.Before(before.Add(hyponema.WebhookSecretOverlap-time.Second)) || until.After(after.Add(hyponema.WebhookSecretOverlap+time.Second)) {
			t.Fatalf("previous_secret_expires_at %s, want about %s", until, before.Add(hyponema.WebhookSecretOverlap))
		}
	}
	check(rot)
	check(ts.must(200, "GET", base+"/"+id, a.key, "").json(t))

	again := ts.must(200, "POST", base+"/"+id+"/rotate-secret", a.key, `{}`).json(t)
	if again["secret"] == rot["secret"] || again["secret"] == created["secret"] {
		t.Fatal("a second rotation repeated a secret")
	}
	check(again)
}

// TestWebhookTestEvent: a test event is recorded, listed, and queued for
// the one endpoint, in the transaction that records it.
func TestWebhookTestEvent(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		q := &recordingQueue{}
		ts := newQueuedTestServer(t, db, q)
		a := ts.newTenant("A")
		base := "/workspaces/" + a.ws + "/webhooks"
		id := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/one","events":["session.ended"]}`).str(t, "id")
		ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/two"}`) // wants everything, but is not the test's target
		off := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/off","enabled":false}`).str(t, "id")

		r := ts.must(202, "POST", base+"/"+id+"/test", a.key, "")
		ev := r.json(t)
		evID, _ := ev["id"].(string)
		data, _ := ev["data"].(map[string]any)
		if !hyponema.HasPrefix(evID, hyponema.PrefixEvent) || ev["type"] != hyponema.EventWebhookTest || ev["workspace_id"] != a.ws || data["webhook_id"] != id {
			t.Fatalf("test event %s", r.body)
		}
		want := hyponema.DeliveryJob{WorkspaceID: a.ws, WebhookID: id, EventID: evID}
		if jobs := q.jobsFor(evID); len(jobs) != 1 || jobs[0] != want {
			t.Fatalf("jobs for the test event %+v, want one: %+v", jobs, want)
		}

		list := ts.must(200, "GET", "/workspaces/"+a.ws+"/events", a.key, "")
		if !strings.Contains(string(list.body), `"id":"`+evID+`"`) {
			t.Fatalf("the test event is not listed: %s", list.body)
		}
		got := ts.must(200, "GET", "/workspaces/"+a.ws+"/events/"+evID, a.key, "").json(t)
		if got["type"] != hyponema.EventWebhookTest || got["created_at"] != ev["created_at"] || fmt.Sprint(got["data"]) != fmt.Sprint(ev["data"]) {
			t.Fatalf("stored event %v, answered %v", got, ev)
		}

		// A disabled endpoint can be tried before it is switched on.
		offEv := ts.must(202, "POST", base+"/"+off+"/test", a.key, `{}`).str(t, "id")
		if jobs := q.jobsFor(offEv); len(jobs) != 1 || jobs[0].WebhookID != off {
			t.Fatalf("jobs for the disabled endpoint's test %+v", jobs)
		}
		checkError(t, ts.do("POST", base+"/"+id+"/test", a.key, `{"loud":true}`), 422, "validation_error")
	})
}

// TestWorkspaceEvents: what the store records as it changes things shows in
// the workspace's event log, filtered by type and time.
func TestWorkspaceEvents(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		q := &recordingQueue{}
		ts := newQueuedTestServer(t, db, q)
		a := ts.newTenant("A")
		sessionsHook := ts.must(201, "POST", "/workspaces/"+a.ws+"/webhooks", a.key, `{"url":"http://127.0.0.1:9/s","events":["session.*"]}`).str(t, "id")
		ts.must(201, "POST", "/workspaces/"+a.ws+"/webhooks", a.key, `{"url":"http://127.0.0.1:9/m","events":["message.completed"]}`)
		agent := ts.chatAgent(a, "local/hyponema-demo", "")
		ses := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`","metadata":{"order":"1001"}}`).str(t, "id")

		events := "/workspaces/" + a.ws + "/events"
		find := func(path string) (found map[string]any, n int) {
			t.Helper()
			for _, e := range ts.must(200, "GET", path, a.key, "").json(t)["data"].([]any) {
				e := e.(map[string]any)
				n++
				if e["type"] == hyponema.EventSessionCreated {
					if d, _ := e["data"].(map[string]any); d["id"] == ses {
						found = e
					}
				}
			}
			return found, n
		}
		created, _ := find(events)
		if created == nil {
			t.Fatal("no session.created event for the session")
		}
		data := created["data"].(map[string]any)
		if data["agent_id"] != agent || data["status"] != "active" || fmt.Sprint(data["metadata"]) != "map[order:1001]" || created["workspace_id"] != a.ws {
			t.Fatalf("session.created %v", created)
		}
		evID := created["id"].(string)
		if e, n := find(events + "?type=session.created"); e == nil || n != 1 {
			t.Fatalf("type filter: found %v among %d", e, n)
		}
		if _, n := find(events + "?type=session.ended"); n != 0 {
			t.Fatalf("%d session.ended events before any session ended", n)
		}
		since := queryTime(time.Now().Add(-time.Hour))
		if e, _ := find(events + "?since=" + since); e == nil {
			t.Fatal("since an hour ago misses the event")
		}
		if _, n := find(events + "?since=" + queryTime(time.Now().Add(time.Hour))); n != 0 {
			t.Fatalf("%d events from the future", n)
		}
		checkError(t, ts.do("GET", events+"?since=yesterday", a.key, ""), 422, "validation_error")
		checkError(t, ts.do("GET", events+"?order=sideways", a.key, ""), 422, "validation_error")
		ts.must(200, "GET", events+"/"+evID, a.key, "")

		// Ending the session adds session.ended, newest first.
		ts.must(200, "POST", "/sessions/"+ses+"/end", a.key, `{}`)
		first := ts.must(200, "GET", events+"?limit=1", a.key, "").json(t)
		if e := first["data"].([]any)[0].(map[string]any); e["type"] != hyponema.EventSessionEnded || first["has_more"] != true {
			t.Fatalf("newest event %v", first)
		}
		oldest := ts.must(200, "GET", events+"?limit=1&order=asc", a.key, "").json(t)["data"].([]any)[0].(map[string]any)
		if oldest["id"] != evID {
			t.Fatalf("oldest event %v, want the session.created %s", oldest, evID)
		}

		// The session.* endpoint got both session events; the other none.
		if jobs := q.jobsFor(evID); len(jobs) != 1 || jobs[0].WebhookID != sessionsHook || jobs[0].Manual {
			t.Fatalf("jobs for session.created %+v", jobs)
		}
	})
}

// queryTime formats a time for a query string.
func queryTime(t time.Time) string {
	return strings.ReplaceAll(t.UTC().Format(time.RFC3339), "+", "%2B")
}

// TestWebhookDeliveries lists and finds the tries that the worker records.
func TestWebhookDeliveries(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		base := "/workspaces/" + a.ws + "/webhooks"
		id := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/"}`).str(t, "id")
		other := ts.must(201, "POST", base, a.key, `{"url":"http://127.0.0.1:9/other"}`).str(t, "id")
		ev1 := ts.must(202, "POST", base+"/"+id+"/test", a.key, "").str(t, "id")
		ev2 := ts.must(202, "POST", base+"/"+id+"/test", a.key, "").str(t, "id")

		d1 := recordDelivery(t, db, a.ws, id, ev1, hyponema.DeliveryFailed)
		d2 := recordDelivery(t, db, a.ws, id, ev1, hyponema.DeliverySucceeded)
		d3 := recordDelivery(t, db, a.ws, id, ev2, hyponema.DeliveryFailed)
		dOther := recordDelivery(t, db, a.ws, other, ev1, hyponema.DeliverySucceeded)

		ids := func(path string) string {
			t.Helper()
			var out []string
			for _, d := range ts.must(200, "GET", path, a.key, "").json(t)["data"].([]any) {
				out = append(out, d.(map[string]any)["id"].(string))
			}
			return strings.Join(out, ",")
		}
		deliveries := base + "/" + id + "/deliveries"
		tests := []struct{ query, want string }{
			{"", d3 + "," + d2 + "," + d1},
			{"?order=asc", d1 + "," + d2 + "," + d3},
			{"?status=failed", d3 + "," + d1},
			{"?status=succeeded", d2},
			{"?event_id=" + ev1, d2 + "," + d1},
			{"?event_id=" + ev1 + "&status=succeeded", d2},
			{"?event_id=" + ev2 + "&status=succeeded", ""},
			{"?event_id=evt_01jc2x5w3n0000000000000000", ""},
			{"?limit=2", d3 + "," + d2},
		}
		for _, tt := range tests {
			if got := ids(deliveries + tt.query); got != tt.want {
				t.Errorf("deliveries%s: %s, want %s", tt.query, got, tt.want)
			}
		}
		page := ts.must(200, "GET", deliveries+"?limit=2", a.key, "").json(t)
		if page["has_more"] != true {
			t.Fatalf("page %v", page)
		}
		if got := ids(deliveries + "?limit=2&cursor=" + page["next_cursor"].(string)); got != d1 {
			t.Fatalf("second page %s, want %s", got, d1)
		}
		if got := ids(base + "/" + other + "/deliveries"); got != dOther {
			t.Fatalf("the other endpoint's deliveries %s", got)
		}
		checkError(t, ts.do("GET", deliveries+"?status=pending", a.key, ""), 422, "validation_error")

		d := ts.must(200, "GET", deliveries+"/"+d2, a.key, "").json(t)
		if d["webhook_id"] != id || d["event_id"] != ev1 || d["status"] != "succeeded" || d["attempt"] != float64(2) ||
			d["trigger"] != "auto" || d["response_status"] != float64(200) || d["response_body"] != "answer succeeded" || d["workspace_id"] != a.ws {
			t.Fatalf("delivery %v", d)
		}
		if f := ts.must(200, "GET", deliveries+"/"+d1, a.key, "").json(t); f["error"] != "the receiver answered 500" || f["status"] != "failed" || f["attempt"] != float64(1) {
			t.Fatalf("failed delivery %v", f)
		}
		// A delivery is found only under its own endpoint.
		checkError(t, ts.do("GET", base+"/"+other+"/deliveries/"+d2, a.key, ""), 404, "not_found")
		checkError(t, ts.do("GET", deliveries+"/dlv_01jc2x5w3n0000000000000000", a.key, ""), 404, "not_found")
		if w := ts.must(200, "GET", base+"/"+id, a.key, "").json(t); w["failing_since"] == nil {
			t.Fatalf("the last try failed but the endpoint shows no failure streak: %v", w)
		}
	})
}

// TestWebhookRedeliver: without a job queue a redelivery is 503; with one
// it queues a manual job for the delivery's event.
func TestWebhookRedeliver(t *testing.T) {
	setup := func(t *testing.T, ts *testServer, db *store.DB) (a tenant, id, ev, dlv string) {
		a = ts.newTenant("A")
		id = ts.must(201, "POST", "/workspaces/"+a.ws+"/webhooks", a.key, `{"url":"http://127.0.0.1:9/"}`).str(t, "id")
		ev = ts.must(202, "POST", "/workspaces/"+a.ws+"/webhooks/"+id+"/test", a.key, "").str(t, "id")
		dlv = recordDelivery(t, db, a.ws, id, ev, hyponema.DeliveryFailed)
		return a, id, ev, dlv
	}
	t.Run("no queue", func(t *testing.T) {
		db := storetest.MustOpenSQLite(t)
		ts := newTestServer(t, db)
		a, id, _, dlv := setup(t, ts, db)
		path := "/workspaces/" + a.ws + "/webhooks/" + id + "/deliveries/"
		checkError(t, ts.do("POST", path+dlv+"/redeliver", a.key, ""), 503, "unavailable")
		// An unknown delivery is still not found, queue or no queue.
		checkError(t, ts.do("POST", path+"dlv_01jc2x5w3n0000000000000000/redeliver", a.key, ""), 404, "not_found")
	})
	t.Run("queue", func(t *testing.T) {
		storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
			q := &recordingQueue{}
			ts := newQueuedTestServer(t, db, q)
			a, id, ev, dlv := setup(t, ts, db)
			path := "/workspaces/" + a.ws + "/webhooks/" + id + "/deliveries/" + dlv + "/redeliver"

			r := ts.must(202, "POST", path, a.key, `{}`).json(t)
			if r["webhook_id"] != id || r["event_id"] != ev || r["delivery_id"] != dlv {
				t.Fatalf("redelivery %v", r)
			}
			jobs := q.jobsFor(ev)
			want := hyponema.DeliveryJob{WorkspaceID: a.ws, WebhookID: id, EventID: ev, Manual: true}
			if len(jobs) != 2 || jobs[0].Manual || jobs[1] != want {
				t.Fatalf("jobs %+v: want the test's own job, then %+v", jobs, want)
			}
			ts.must(202, "POST", path, a.key, "")
			if n := len(q.jobsFor(ev)); n != 3 {
				t.Fatalf("%d jobs after a second redelivery, want 3", n)
			}
			checkError(t, ts.do("POST", path, a.key, `{"now":true}`), 422, "validation_error")
		})
	})
}

// TestWebhooksOfAnotherWorkspace: B's key finds none of A's endpoints,
// deliveries or events, through any route, whether the path names A's
// workspace or B's own; and B cannot reach A's delivery through B's own
// endpoint.
func TestWebhooksOfAnotherWorkspace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		q := &recordingQueue{}
		ts := newQueuedTestServer(t, db, q)
		a, b := ts.newTenant("A"), ts.newTenant("B")
		hook := ts.must(201, "POST", "/workspaces/"+a.ws+"/webhooks", a.key, `{"url":"http://127.0.0.1:9/a"}`).str(t, "id")
		ev := ts.must(202, "POST", "/workspaces/"+a.ws+"/webhooks/"+hook+"/test", a.key, "").str(t, "id")
		dlv := recordDelivery(t, db, a.ws, hook, ev, hyponema.DeliveryFailed)
		bHook := ts.must(201, "POST", "/workspaces/"+b.ws+"/webhooks", b.key, `{"url":"http://127.0.0.1:9/b"}`).str(t, "id")
		queued := len(q.jobsFor(ev))

		routes := []foreignRoute{
			{"GET", "/workspaces/{ws}/webhooks/" + hook, "", ""},
			{"PATCH", "/workspaces/{ws}/webhooks/" + hook, `{"enabled":false}`, ""},
			{"PATCH", "/workspaces/{ws}/webhooks/" + hook, `{"url":"http://127.0.0.1:9/b"}`, ""},
			{"DELETE", "/workspaces/{ws}/webhooks/" + hook, "", ""},
			{"POST", "/workspaces/{ws}/webhooks/" + hook + "/rotate-secret", "", ""},
			{"POST", "/workspaces/{ws}/webhooks/" + hook + "/test", "", ""},
			{"GET", "/workspaces/{ws}/webhooks/" + hook + "/deliveries", "", ""},
			{"GET", "/workspaces/{ws}/webhooks/" + hook + "/deliveries?event_id=" + ev, "", ""},
			{"GET", "/workspaces/{ws}/webhooks/" + hook + "/deliveries/" + dlv, "", ""},
			{"POST", "/workspaces/{ws}/webhooks/" + hook + "/deliveries/" + dlv + "/redeliver", "", ""},
			{"GET", "/workspaces/{ws}/webhooks/" + bHook + "/deliveries/" + dlv, "", ""},
			{"POST", "/workspaces/{ws}/webhooks/" + bHook + "/deliveries/" + dlv + "/redeliver", "", ""},
			{"GET", "/workspaces/{ws}/events/" + ev, "", ""},
		}
		checkForeign(t, ts, b.key, []string{a.ws, b.ws}, routes, nil)
		// B's own lists show nothing of A's.
		for _, path := range []string{"/workspaces/" + b.ws + "/webhooks", "/workspaces/" + b.ws + "/events", "/workspaces/" + b.ws + "/webhooks/" + bHook + "/deliveries?event_id=" + ev} {
			r := ts.must(200, "GET", path, b.key, "")
			for _, s := range []string{a.ws, hook, ev, dlv} {
				if strings.Contains(string(r.body), s) {
					t.Errorf("GET %s with B's key mentions A's %s: %s", path, s, r.body)
				}
			}
		}
		if w := ts.must(200, "GET", "/workspaces/"+a.ws+"/webhooks/"+hook, a.key, "").json(t); w["enabled"] != true || w["previous_secret_expires_at"] != nil || w["url"] != "http://127.0.0.1:9/a" {
			t.Fatalf("B changed A's endpoint: %v", w)
		}
		if n := len(q.jobsFor(ev)); n != queued {
			t.Fatalf("B queued %d deliveries of A's event", n-queued)
		}
	})
}
