package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/jobs"
)

// QueueName is the job queue that deliveries run on.
const QueueName = "webhooks"

// Defaults of Sender.
const (
	// DefaultTimeout bounds one try, from connecting to the last byte read.
	DefaultTimeout = 15 * time.Second
	// DefaultMaxPayloadBytes caps what one delivery sends. An event whose
	// envelope is larger is sent without its data, marked
	// "data_truncated": true; the receiver fetches the whole event from
	// GET /workspaces/{ws}/events/{id}.
	DefaultMaxPayloadBytes = 256 << 10
	// UserAgent is sent with every delivery.
	UserAgent = "Hyponema-Webhooks/1"
)

// DeliverArgs is the job that delivers one event to one endpoint.
type DeliverArgs struct {
	WorkspaceID string `json:"workspace_id"`
	WebhookID   string `json:"webhook_id"`
	EventID     string `json:"event_id"`
	// Manual marks a redelivery: one try, not retried.
	Manual bool `json:"manual,omitempty"`
}

// Kind implements river.JobArgs.
func (DeliverArgs) Kind() string { return "webhook.deliver" }

// insertOpts are a delivery job's queue and number of tries.
func (a DeliverArgs) insertOpts() *river.InsertOpts {
	n := len(Schedule)
	if a.Manual {
		n = 1
	}
	return &river.InsertOpts{Queue: QueueName, MaxAttempts: n}
}

// Enqueuer queues deliveries on River, in the caller's transaction. It
// implements store.Enqueuer.
type Enqueuer struct {
	Client *river.Client[*sql.Tx]
}

// EnqueueDeliveries implements store.Enqueuer.
func (e Enqueuer) EnqueueDeliveries(ctx context.Context, tx *sql.Tx, jobs []hyponema.DeliveryJob) error {
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		args := DeliverArgs{WorkspaceID: j.WorkspaceID, WebhookID: j.WebhookID, EventID: j.EventID, Manual: j.Manual}
		params[i] = river.InsertManyParams{Args: args, InsertOpts: args.insertOpts()}
	}
	_, err := e.Client.InsertManyTx(ctx, tx, params)
	return err
}

// Sender works delivery jobs: it signs the event, POSTs it through the
// egress guard, logs the try, and tells River when to try again.
type Sender struct {
	river.WorkerDefaults[DeliverArgs]

	Webhooks hyponema.WebhookService
	Events   hyponema.EventLog
	Admin    *Admin // opens the signing secrets
	Egress   egress.Policy
	Logger   *slog.Logger

	// Schedule is the retry schedule; nil means the package's Schedule.
	// Tests pass a faster one, keeping its shape.
	Schedule []time.Duration
	// Now is the clock of the delivery log and of the rule that disables
	// an endpoint after WebhookDisableAfter of failures; nil means
	// time.Now.
	Now func() time.Time
	// MaxPayloadBytes: zero means DefaultMaxPayloadBytes.
	MaxPayloadBytes int

	once   sync.Once
	client *http.Client
	// next holds, per job ID, when the job's next try is due, from Work
	// to NextRetry: River calls NextRetry right after Work fails.
	next sync.Map
}

// Register adds the sender to River's workers.
func (s *Sender) Register(w *river.Workers) { river.AddWorker(w, s) }

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) schedule() []time.Duration {
	if s.Schedule != nil {
		return s.Schedule
	}
	return Schedule
}

func (s *Sender) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// httpClient is the guarded client: it refuses non-public addresses unless
// allowed, follows no redirect (a 3xx is a failed try), and reads at most
// 64 KiB of an answer.
func (s *Sender) httpClient() *http.Client {
	s.once.Do(func() {
		p := s.Egress
		if p.Timeout == 0 {
			p.Timeout = DefaultTimeout
		}
		p.MaxRedirects = -1
		p.MaxResponseBytes = 64 << 10
		s.client = p.Client()
	})
	return s.client
}

// Timeout implements river.Worker: a try's own timeout, plus room for the
// database.
func (s *Sender) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return DefaultTimeout + 15*time.Second
}

// NextRetry implements river.Worker: the time that Work chose and logged.
func (s *Sender) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	if t, ok := s.next.LoadAndDelete(job.ID); ok {
		// River takes a time already past as "use the default policy".
		if soon := time.Now().Add(time.Millisecond); t.(time.Time).Before(soon) {
			return soon
		}
		return t.(time.Time)
	}
	return time.Time{} // River's default
}

// Work implements river.Worker: one try.
func (s *Sender) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	w, err := s.Webhooks.FindWebhookByID(ctx, a.WebhookID)
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return river.JobCancel(errors.New("the endpoint was deleted"))
	} else if err != nil {
		return err
	}
	ev, err := s.Events.FindEventByID(ctx, a.EventID)
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return river.JobCancel(errors.New("the event is no longer kept"))
	} else if err != nil {
		return err
	}
	if w.WorkspaceID != a.WorkspaceID || ev.WorkspaceID != a.WorkspaceID {
		return river.JobCancel(fmt.Errorf("job of workspace %s names another workspace's endpoint or event", a.WorkspaceID))
	}
	// A disabled endpoint gets nothing but tests and redeliveries, which
	// someone asked for by name.
	if !w.Enabled && !a.Manual && ev.Type != hyponema.EventWebhookTest {
		return river.JobCancel(errors.New("the endpoint is disabled"))
	}

	t := s.try(ctx, w, ev)
	d := &hyponema.WebhookDelivery{
		WorkspaceID: a.WorkspaceID, WebhookID: w.ID, EventID: ev.ID, EventType: ev.Type,
		Trigger: hyponema.DeliveryAuto, LatencyMS: int(t.latency.Milliseconds()), CreatedAt: t.at,
		ResponseStatus: t.status, ResponseBody: t.body, Error: t.err,
	}
	if a.Manual {
		d.Trigger = hyponema.DeliveryManual
	}
	var next time.Time
	if t.ok {
		d.Status = hyponema.DeliverySucceeded
	} else {
		d.Status = hyponema.DeliveryFailed
		if delay, again := nextDelay(s.schedule(), job.Attempt, t.retryAfter); again && !a.Manual && t.disable == "" {
			next = s.now().Add(delay)
			d.NextRetryAt = &next
		}
	}
	var disabled bool
	if rt, ok := s.Webhooks.(recorderTx); ok && t.ok {
		// The success and the job's completion commit together: a crash
		// after the receiver answered but before this commit is the only
		// window for a duplicate.
		disabled, err = rt.RecordDeliveryTx(ctx, d, t.disable, func(tx *sql.Tx) error { return jobs.CompleteTx(ctx, tx, job) })
	} else {
		disabled, err = s.Webhooks.RecordDelivery(ctx, d, t.disable)
	}
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return river.JobCancel(errors.New("the endpoint was deleted"))
	} else if err != nil {
		// The try happened but is not logged; trying again is the
		// at-least-once side of that.
		return fmt.Errorf("webhook: log delivery: %w", err)
	}
	if disabled {
		reason := t.disable
		if reason == "" {
			reason = hyponema.WebhookDisabledFailing
		}
		s.logger().Warn("webhook endpoint disabled", "webhook_id", w.ID, "workspace_id", w.WorkspaceID, "reason", reason)
	}
	switch {
	case t.ok:
		return nil
	case disabled || next.IsZero():
		return river.JobCancel(fmt.Errorf("delivery failed, no retry: %s", d.Error))
	default:
		s.next.Store(job.ID, next)
		return fmt.Errorf("delivery failed: %s", d.Error)
	}
}

// recorderTx is implemented by the store: RecordDelivery with a callback
// in its transaction.
type recorderTx interface {
	RecordDeliveryTx(ctx context.Context, d *hyponema.WebhookDelivery, disable string, inTx func(*sql.Tx) error) (bool, error)
}

// outcome is what one try came to.
type outcome struct {
	ok         bool
	at         time.Time
	latency    time.Duration
	status     *int
	body       string
	err        string
	retryAfter time.Duration
	disable    string // a reason to disable the endpoint, or ""
}

// payload returns the envelope that a delivery sends, without its data if
// it is over the cap.
func (s *Sender) payload(ev *hyponema.Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	limit := s.MaxPayloadBytes
	if limit <= 0 {
		limit = DefaultMaxPayloadBytes
	}
	if len(b) <= limit {
		return b, nil
	}
	return json.Marshal(struct {
		*hyponema.Event
		Data          json.RawMessage `json:"data"`
		DataTruncated bool            `json:"data_truncated"`
	}{ev, json.RawMessage("null"), true})
}

// try makes one signed POST of the event to the endpoint.
func (s *Sender) try(ctx context.Context, w *hyponema.WebhookEndpoint, ev *hyponema.Event) (o outcome) {
	o.at = s.now()
	body, err := s.payload(ev)
	if err != nil {
		o.err = "the event could not be encoded"
		s.logger().Error("webhook payload", "event_id", ev.ID, "error", err)
		return o
	}
	secrets, err := s.Admin.signingSecrets(ctx, w.ID)
	if err != nil {
		o.err = "the endpoint's signing secret could not be read"
		s.logger().Error("webhook secret", "webhook_id", w.ID, "error", err)
		return o
	}
	ts := time.Now()
	sig, err := sign(secrets, ev.ID, ts, body)
	if err != nil {
		o.err = "the delivery could not be signed"
		s.logger().Error("webhook sign", "webhook_id", w.ID, "error", err)
		return o
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		o.err = "the endpoint's URL is not valid"
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("webhook-id", ev.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)

	start := time.Now()
	resp, err := s.httpClient().Do(req)
	if err != nil {
		o.latency = time.Since(start)
		o.err = describe(err)
		if o.err == "the request failed" {
			// Without *url.Error's URL, whose query may hold a token.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			s.logger().Info("webhook delivery failed", "webhook_id", w.ID, "event_id", ev.ID, "error", err)
		}
		return o
	}
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, hyponema.MaxDeliveryResponseBytes))
	_, _ = io.Copy(io.Discard, resp.Body) // to reuse the connection; the guard caps it
	resp.Body.Close()
	o.latency = time.Since(start)
	code := resp.StatusCode
	o.status, o.body = &code, string(head)
	switch {
	case code >= 200 && code < 300:
		o.ok = true
	case code == http.StatusGone:
		o.err = "the endpoint answered 410 Gone: it is disabled"
		o.disable = hyponema.WebhookDisabledGone
	case code >= 300 && code < 400:
		o.err = fmt.Sprintf("the endpoint answered %d; redirects are not followed, update the URL", code)
	default:
		o.err = fmt.Sprintf("the endpoint answered %d", code)
	}
	if !o.ok {
		o.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if readErr != nil && o.ok {
		o.ok, o.err = false, "the answer could not be read: "+describe(readErr)
	}
	return o
}

// describe words a transport error for the delivery log: the egress
// guard's message as it is (it is written for workspace users), otherwise
// the class of failure, never addresses of the server's network.
func describe(err error) string {
	var ge *egress.Error
	switch {
	case errors.As(err, &ge):
		return "refused by the egress guard: " + ge.Msg
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled: the server is shutting down"
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var dns *net.DNSError
	var tlsErr *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &dns):
		return "the host name did not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the connection was refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before an answer came"
	case errors.As(err, &tlsErr):
		return "the endpoint's TLS certificate is not valid"
	case errors.As(err, &rec):
		return "the endpoint does not speak TLS"
	}
	// Other transport errors may name addresses of the network between
	// the server and the endpoint: keep them for the server's log.
	return "the request failed"
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
