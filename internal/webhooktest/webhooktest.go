// Package webhooktest is a webhook receiver for tests: an HTTP server on
// loopback that records every delivery, answers as the test says, and
// verifies signatures with the npm standardwebhooks package run by node,
// as a customer's receiver would.
package webhooktest

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema/internal/loopbacktest"
	"github.com/hyponema/hyponema/internal/nodetest"
)

// Delivery is one request that the receiver got.
type Delivery struct {
	ID        string      // webhook-id
	Timestamp string      // webhook-timestamp
	Signature string      // webhook-signature
	Header    http.Header // all of them
	Body      []byte
	At        time.Time
	Event     struct {
		ID          string          `json:"id"`
		Type        string          `json:"type"`
		WorkspaceID string          `json:"workspace_id"`
		Data        json.RawMessage `json:"data"`
	}
}

// Receiver records deliveries.
type Receiver struct {
	URL string

	mu         sync.Mutex
	deliveries []*Delivery
	answer     func(d *Delivery, n int) (status int, header http.Header)
	notify     chan struct{}
}

// New starts a receiver on addr ("127.0.0.1:0" unless given) that answers
// 204 until told otherwise (Answer).
func New(t testing.TB, addr ...string) *Receiver {
	t.Helper()
	a := "127.0.0.1:0"
	if len(addr) > 0 {
		a = addr[0]
	}
	r := &Receiver{notify: make(chan struct{}, 1)}
	r.URL = loopbacktest.Serve(t, a, r).URL + "/hook"
	return r
}

// Answer sets how the receiver answers: f gets the delivery and how many
// deliveries of the same event came before it.
func (r *Receiver) Answer(f func(d *Delivery, n int) (status int, header http.Header)) {
	r.mu.Lock()
	r.answer = f
	r.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	d := &Delivery{
		ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"),
		Signature: req.Header.Get("webhook-signature"), Header: req.Header.Clone(), Body: body, At: time.Now(),
	}
	_ = json.Unmarshal(body, &d.Event)
	r.mu.Lock()
	n := 0
	for _, p := range r.deliveries {
		if p.ID == d.ID {
			n++
		}
	}
	r.deliveries = append(r.deliveries, d)
	answer := r.answer
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
	status := http.StatusNoContent
	if answer != nil {
		var h http.Header
		status, h = answer(d, n)
		for k, v := range h {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(status)
}

// Deliveries returns what arrived so far, in order.
func (r *Receiver) Deliveries() []*Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Delivery(nil), r.deliveries...)
}

// WaitFor waits until ok holds for the deliveries so far, or fails the test
// after timeout.
func (r *Receiver) WaitFor(t testing.TB, timeout time.Duration, what string, ok func([]*Delivery) bool) []*Delivery {
	t.Helper()
	deadline := time.After(timeout)
	for {
		ds := r.Deliveries()
		if ok(ds) {
			return ds
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s: not within %s; %d deliveries arrived", what, timeout, len(ds))
		}
	}
}

// Verdict is what the standardwebhooks package said of one delivery.
type Verdict struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Type  string `json:"type"`
}

// RequireNode skips the test when the node verifier cannot run, unless
// HYPONEMA_E2E is set (as .ci/run does), in which case it fails.
func RequireNode(t testing.TB) {
	t.Helper()
	nodetest.Require(t, "standardwebhooks/package.json")
}

// Verify checks each delivery's signature with npm standardwebhooks, which
// accepts a delivery if any of secrets verifies it.
func Verify(t testing.TB, secrets []string, ds []*Delivery) []Verdict {
	t.Helper()
	RequireNode(t)
	type in struct {
		Secrets []string          `json:"secrets"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	ins := make([]in, len(ds))
	for i, d := range ds {
		ins[i] = in{Secrets: secrets, Body: string(d.Body), Headers: map[string]string{
			"webhook-id": d.ID, "webhook-timestamp": d.Timestamp, "webhook-signature": d.Signature}}
	}
	f := filepath.Join(t.TempDir(), "deliveries.json")
	b, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "verify-webhooks.mjs", f)
	cmd.Dir = nodetest.E2EDir()
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("node verify-webhooks.mjs: %v\n%s", err, stderr)
	}
	var vs []Verdict
	if err := json.Unmarshal(out, &vs); err != nil || len(vs) != len(ds) {
		t.Fatalf("node verify-webhooks.mjs printed %q (%v)", out, err)
	}
	return vs
}
