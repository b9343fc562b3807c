package hyponema

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ID prefixes of webhooks and events.
const (
	PrefixWebhook  = "whk_"
	PrefixDelivery = "dlv_"
	PrefixEvent    = "evt_"
)

// Event types that reach webhooks, besides the session event types of the
// same name (EventSessionCreated, EventSessionEnded, EventMessageCompleted).
const (
	EventWebhookTest             = "webhook.test"
	EventWebhookEndpointDisabled = "webhook.endpoint.disabled"
	EventToolFailed              = "tool.failed"
	// Not recorded yet: the post-session runners and evaluations that
	// make them are later work. Endpoints may subscribe already.
	EventPostSessionCompleted   = "post_session.completed"
	EventEvaluationRunCompleted = "evaluation.run.completed"
)

// WebhookEventTypes lists every event type a webhook may subscribe to.
var WebhookEventTypes = []string{
	EventSessionCreated,
	EventSessionEnded,
	EventMessageCompleted,
	EventToolFailed,
	EventPostSessionCompleted,
	EventEvaluationRunCompleted,
	EventWebhookTest,
	EventWebhookEndpointDisabled,
}

// Event is one thing that happened in a workspace, as webhooks deliver it
// and GET /workspaces/{ws}/events lists it. It is written in the same
// transaction as the change it reports (a transactional outbox), so no
// committed change lacks its event and no event reports a change that
// rolled back.
type Event struct {
	ID          string          `json:"id" doc:"Event ID (evt_…); the webhook-id header of its deliveries."`
	Type        string          `json:"type" doc:"What happened, e.g. session.ended."`
	CreatedAt   time.Time       `json:"created_at"`
	WorkspaceID string          `json:"workspace_id"`
	Data        json.RawMessage `json:"data" doc:"The object the event is about, as the API shows it."`
}

// NewEvent returns an event of type typ about data, which it renders as
// JSON.
func NewEvent(workspaceID, typ string, data any) (*Event, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", typ, err)
	}
	return &Event{ID: NewID(PrefixEvent), Type: typ, CreatedAt: time.Now().UTC(), WorkspaceID: workspaceID, Data: b}, nil
}

// EventRetention is how long the event log and the delivery log keep
// their entries.
const EventRetention = 30 * 24 * time.Hour

// Webhook limits.
const (
	MaxWebhookURLLen    = 2048
	MaxWebhookEvents    = 50
	WebhookSecretPrefix = "whsec_"

	// WebhookSecretOverlap is how long a rotated-out secret keeps signing
	// beside the new one, so receivers can switch without losing events.
	WebhookSecretOverlap = 24 * time.Hour

	// WebhookDisableAfter is how long an endpoint may fail every delivery
	// before it is disabled.
	WebhookDisableAfter = 5 * 24 * time.Hour
)

// Why an endpoint was disabled.
const (
	WebhookDisabledByUser    = "user"    // PATCH enabled=false
	WebhookDisabledGone      = "gone"    // the receiver answered 410 Gone
	WebhookDisabledFailing   = "failing" // every delivery failed for WebhookDisableAfter
	WebhookDisabledForbidden = "egress"  // the URL now resolves to a forbidden address
)

// WebhookEndpoint is a URL that receives a workspace's events.
type WebhookEndpoint struct {
	ID          string   `json:"id" doc:"Webhook endpoint ID (whk_…)."`
	WorkspaceID string   `json:"workspace_id"`
	URL         string   `json:"url" doc:"Where events are POSTed: an absolute http or https URL."`
	Events      []string `json:"events" doc:"The event types it receives; empty means all. \"session.*\" matches every type that starts with \"session.\"."`
	Enabled     bool     `json:"enabled"`
	Description string   `json:"description"`

	DisabledReason string     `json:"disabled_reason" doc:"Why it is disabled: user, gone (the receiver answered 410), failing (every delivery failed for 5 days) or egress; empty while enabled."`
	FailingSince   *time.Time `json:"failing_since" doc:"The first failed delivery since the last success; null while deliveries succeed."`

	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at" doc:"After a rotation, the old secret signs beside the new one until then."`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate checks the endpoint's fields. It does not resolve the host: the
// egress guard does that when the URL is saved and at every delivery.
func (w *WebhookEndpoint) Validate() error {
	var v Validation
	validateWebhookURL(&v, w.URL, "url")
	validateEventFilter(&v, w.Events, "events")
	validateText(&v, w.Description, MaxDescriptionLen, "description")
	return v.Err()
}

func validateWebhookURL(v *Validation, s string, path ...string) {
	if strings.TrimSpace(s) == "" {
		v.Add("missing", "is required", path...)
		return
	}
	if len(s) > MaxWebhookURLLen {
		v.Add("too_long", fmt.Sprintf("must be at most %d bytes", MaxWebhookURLLen), path...)
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		v.Add("invalid", "must be an absolute http or https URL", path...)
		return
	}
	if u.User != nil {
		v.Add("invalid", "must not contain a user name or password", path...)
	}
	if u.Fragment != "" || strings.ContainsAny(s, " \t\r\n\x00") {
		v.Add("invalid", "must not contain a fragment or white space", path...)
	}
}

// validateEventFilter accepts known event types, "prefix.*" patterns that
// match at least one known type, and "*".
func validateEventFilter(v *Validation, events []string, path string) {
	if len(events) > MaxWebhookEvents {
		v.Add("too_long", fmt.Sprintf("must list at most %d event types", MaxWebhookEvents), path)
		return
	}
	for i, e := range events {
		ok := e == "*" || slices.Contains(WebhookEventTypes, e)
		if p, wild := strings.CutSuffix(e, ".*"); wild && p != "" {
			for _, t := range WebhookEventTypes {
				ok = ok || strings.HasPrefix(t, p+".")
			}
		}
		if !ok {
			v.Add("invalid", fmt.Sprintf("%q is not an event type; known types: %s", e, strings.Join(WebhookEventTypes, ", ")), path, fmt.Sprint(i))
		}
	}
}

// Wants reports whether the endpoint's filter lets events of type typ
// through. webhook.test is always sent: it is aimed at one endpoint.
func (w *WebhookEndpoint) Wants(typ string) bool {
	if len(w.Events) == 0 || typ == EventWebhookTest {
		return true
	}
	for _, e := range w.Events {
		if e == "*" || e == typ {
			return true
		}
		if p, ok := strings.CutSuffix(e, ".*"); ok && strings.HasPrefix(typ, p+".") {
			return true
		}
	}
	return false
}

// WebhookPatch changes some of an endpoint's fields; nil fields stay.
// Enabling a disabled endpoint clears its disabled reason and failure
// streak.
type WebhookPatch struct {
	URL         *string
	Events      *[]string
	Enabled     *bool
	Description *string
}

// Validate checks the fields that the patch sets.
func (p *WebhookPatch) Validate() error {
	var v Validation
	if p.URL != nil {
		validateWebhookURL(&v, *p.URL, "url")
	}
	if p.Events != nil {
		validateEventFilter(&v, *p.Events, "events")
	}
	if p.Description != nil {
		validateText(&v, *p.Description, MaxDescriptionLen, "description")
	}
	return v.Err()
}

// NewWebhookSecret returns a fresh signing secret: "whsec_" and the base64
// of 32 random bytes, as the Standard Webhooks specification describes.
func NewWebhookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// WebhookSecrets are an endpoint's signing secrets as stored: sealed
// (encrypted) by the webhook service, opaque to the store.
type WebhookSecrets struct {
	Current       string
	Previous      string    // "" unless a rotation is recent
	PreviousUntil time.Time // Previous signs until then
}

// Delivery statuses.
const (
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Delivery triggers.
const (
	DeliveryAuto   = "auto"   // the event's own delivery and its retries
	DeliveryManual = "manual" // POST …/deliveries/{id}/redeliver
)

// MaxDeliveryResponseBytes is how much of a receiver's answer a delivery
// record keeps.
const MaxDeliveryResponseBytes = 1024

// WebhookDelivery is one try to deliver an event to an endpoint.
type WebhookDelivery struct {
	ID             string     `json:"id" doc:"Delivery ID (dlv_…)."`
	WorkspaceID    string     `json:"workspace_id"`
	WebhookID      string     `json:"webhook_id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Attempt        int        `json:"attempt" doc:"1 for the first try of the event at this endpoint, 2 for the first retry, …; a redelivery counts on."`
	Trigger        string     `json:"trigger" enum:"auto,manual" doc:"auto: the event's delivery or a retry; manual: a redelivery."`
	Status         string     `json:"status" enum:"succeeded,failed"`
	ResponseStatus *int       `json:"response_status" doc:"The receiver's HTTP status; null when no response came."`
	ResponseBody   string     `json:"response_body" doc:"The first bytes of the receiver's answer."`
	Error          string     `json:"error" doc:"Why it failed; empty on success."`
	LatencyMS      int        `json:"latency_ms"`
	NextRetryAt    *time.Time `json:"next_retry_at" doc:"When the next try is due; null if none will be made."`
	CreatedAt      time.Time  `json:"created_at"`
}

// DeliveryJob asks the job queue to deliver one event to one endpoint.
type DeliveryJob struct {
	WorkspaceID string
	WebhookID   string
	EventID     string
	Manual      bool // a redelivery: one try, no retries
}

// DeliveryFilter narrows a list of deliveries; empty fields match all.
type DeliveryFilter struct {
	EventID string
	Status  string
}

// EventFilter narrows a list of events; empty fields match all.
type EventFilter struct {
	Type  string
	Since time.Time // created at or after
}

// WebhookService stores webhook endpoints and their deliveries.
type WebhookService interface {
	// CreateWebhook stores w with its sealed secret. Returns EINVALID.
	CreateWebhook(ctx context.Context, w *WebhookEndpoint, sealedSecret string) error
	// FindWebhook returns ENOTFOUND.
	FindWebhook(ctx context.Context, workspaceID, id string) (*WebhookEndpoint, error)
	ListWebhooks(ctx context.Context, workspaceID string, opt PageOptions) (Page[*WebhookEndpoint], error)
	// UpdateWebhook applies p. Returns ENOTFOUND, EINVALID.
	UpdateWebhook(ctx context.Context, workspaceID, id string, p WebhookPatch) (*WebhookEndpoint, error)
	// DeleteWebhook deletes the endpoint and its delivery log; its pending
	// deliveries are dropped. Returns ENOTFOUND.
	DeleteWebhook(ctx context.Context, workspaceID, id string) error
	// RotateWebhookSecret makes sealed the current secret; the current one
	// becomes the previous, signing until previousUntil. Returns ENOTFOUND.
	RotateWebhookSecret(ctx context.Context, workspaceID, id, sealed string, previousUntil time.Time) (*WebhookEndpoint, error)
	// FindWebhookByID returns an endpoint by its ID alone, for the delivery
	// worker. Returns ENOTFOUND.
	FindWebhookByID(ctx context.Context, id string) (*WebhookEndpoint, error)
	// WebhookSecrets returns the sealed secrets of an endpoint, for signing.
	WebhookSecrets(ctx context.Context, id string) (WebhookSecrets, error)

	// SendTestEvent records a webhook.test event for the endpoint alone and
	// queues its delivery. Returns ENOTFOUND.
	SendTestEvent(ctx context.Context, workspaceID, id string) (*Event, error)

	// RecordDelivery stores a try and updates the endpoint's failure
	// streak: a success clears it, a failure starts it. A failure disables
	// the endpoint when disable is not "" (see WebhookDisabled…), or when
	// the streak began WebhookDisableAfter before d.CreatedAt; it then
	// records a webhook.endpoint.disabled event. Reports whether this try
	// disabled the endpoint.
	RecordDelivery(ctx context.Context, d *WebhookDelivery, disable string) (disabled bool, err error)

	// ListDeliveries lists an endpoint's tries, newest first by default.
	// Returns ENOTFOUND for another workspace's endpoint.
	ListDeliveries(ctx context.Context, workspaceID, webhookID string, f DeliveryFilter, opt PageOptions) (Page[*WebhookDelivery], error)
	// FindDelivery returns ENOTFOUND.
	FindDelivery(ctx context.Context, workspaceID, webhookID, id string) (*WebhookDelivery, error)
	// Redeliver queues one more try of the delivery's event at its
	// endpoint. Returns ENOTFOUND.
	Redeliver(ctx context.Context, workspaceID, webhookID, deliveryID string) error
}

// EventLog stores a workspace's events.
type EventLog interface {
	// FindEvent returns ENOTFOUND, also for another workspace's event.
	FindEvent(ctx context.Context, workspaceID, id string) (*Event, error)
	// FindEventByID returns an event by its ID alone, for the delivery
	// worker. Returns ENOTFOUND.
	FindEventByID(ctx context.Context, id string) (*Event, error)
	// RecordEvents stores events and queues their deliveries to every
	// enabled endpoint of their workspace that wants them.
	RecordEvents(ctx context.Context, evs []*Event) error
	// DeleteEventsBefore deletes events, and deliveries, created before t:
	// the log keeps EventRetention.
	DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error)
	// ListWorkspaceEvents lists the workspace's events, newest first by default.
	ListWorkspaceEvents(ctx context.Context, workspaceID string, f EventFilter, opt PageOptions) (Page[*Event], error)
}

// WebhookAdmin is what creates, changes and rotates endpoints: it makes the
// signing secrets (shown once, sealed before they are stored) and checks
// URLs with the egress guard.
type WebhookAdmin interface {
	// CreateWebhook stores w with a new secret, which it returns. Returns
	// EINVALID.
	CreateWebhook(ctx context.Context, w *WebhookEndpoint) (secret string, err error)
	// UpdateWebhook applies p. Returns ENOTFOUND, EINVALID.
	UpdateWebhook(ctx context.Context, workspaceID, id string, p WebhookPatch) (*WebhookEndpoint, error)
	// RotateWebhookSecret gives the endpoint a new secret, which it
	// returns; the old one signs beside it for WebhookSecretOverlap.
	// Returns ENOTFOUND.
	RotateWebhookSecret(ctx context.Context, workspaceID, id string) (w *WebhookEndpoint, secret string, err error)
}
