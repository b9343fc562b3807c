package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// Enqueuer puts delivery jobs in the job queue inside the transaction that
// records their events, so that an event is delivered if and only if the
// change that caused it commits. The job queue (River) implements it on the
// same database.
type Enqueuer interface {
	EnqueueDeliveries(ctx context.Context, tx *sql.Tx, jobs []hyponema.DeliveryJob) error
}

// SetEnqueuer makes every recorded event queue its deliveries on q. Call it
// before serving; without it events are recorded and listed but not
// delivered.
func (db *DB) SetEnqueuer(q Enqueuer) { db.enqueuer = q }

// WebhookService stores webhook endpoints, their deliveries and the
// workspace event log.
type WebhookService struct{ db *DB }

var (
	_ hyponema.WebhookService = (*WebhookService)(nil)
	_ hyponema.EventLog       = (*WebhookService)(nil)
)

// NewWebhookService returns the webhook service of db.
func NewWebhookService(db *DB) *WebhookService { return &WebhookService{db: db} }

func errWebhookNotFound() error {
	return hyponema.Errorf(hyponema.ENOTFOUND, "webhook endpoint not found")
}

const webhookColumns = `id, workspace_id, url, events, enabled, description, disabled_reason, failing_since,
	previous_secret_expires_at, created_at, updated_at`

func scanWebhook(row scanner) (*hyponema.WebhookEndpoint, error) {
	var w hyponema.WebhookEndpoint
	var events []byte
	if err := row.Scan(&w.ID, &w.WorkspaceID, &w.URL, &events, &w.Enabled, &w.Description, &w.DisabledReason,
		nullTimeCol{&w.FailingSince}, nullTimeCol{&w.PreviousSecretExpiresAt},
		timeCol{&w.CreatedAt}, timeCol{&w.UpdatedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(events, &w.Events); err != nil {
		return nil, err
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	// An expired previous secret no longer signs: don't show its end.
	if w.PreviousSecretExpiresAt != nil && !w.PreviousSecretExpiresAt.After(time.Now()) {
		w.PreviousSecretExpiresAt = nil
	}
	return &w, nil
}

// CreateWebhook implements hyponema.WebhookService.
func (s *WebhookService) CreateWebhook(ctx context.Context, w *hyponema.WebhookEndpoint, sealedSecret string) error {
	if err := w.Validate(); err != nil {
		return err
	}
	if sealedSecret == "" {
		return fmt.Errorf("store: webhook endpoint without a secret")
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	events, err := encodeJSON(w.Events)
	if err != nil {
		return err
	}
	if !hyponema.HasPrefix(w.ID, hyponema.PrefixWebhook) {
		// The caller may choose the ID (the webhook service seals the
		// secret for it); anything else gets a fresh one.
		w.ID = hyponema.NewID(hyponema.PrefixWebhook)
	}
	w.CreatedAt = now()
	w.UpdatedAt, w.FailingSince, w.PreviousSecretExpiresAt = w.CreatedAt, nil, nil
	w.DisabledReason = ""
	if !w.Enabled {
		w.DisabledReason = hyponema.WebhookDisabledByUser
	}
	t := s.db.d.timeArg(w.CreatedAt)
	_, err = s.db.write().exec(ctx, `INSERT INTO webhook_endpoints (id, workspace_id, url, events, enabled,
		description, disabled_reason, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		w.ID, w.WorkspaceID, w.URL, events, w.Enabled, w.Description, w.DisabledReason, sealedSecret, t, t)
	switch {
	case err == nil:
		return nil
	case s.db.d.isForeignKey(err):
		return errWorkspaceNotFound()
	case s.db.d.isUnique(err):
		return hyponema.Errorf(hyponema.ECONFLICT, "a webhook endpoint with this ID exists already")
	default:
		return fmt.Errorf("store: insert webhook endpoint: %w", err)
	}
}

// FindWebhook implements hyponema.WebhookService.
func (s *WebhookService) FindWebhook(ctx context.Context, workspaceID, id string) (*hyponema.WebhookEndpoint, error) {
	return findWebhook(ctx, s.db.read(), workspaceID, id, "")
}

// FindWebhookByID implements hyponema.WebhookService.
func (s *WebhookService) FindWebhookByID(ctx context.Context, id string) (*hyponema.WebhookEndpoint, error) {
	w, err := scanWebhook(s.db.read().queryRow(ctx, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE id = ?`, id))
	if isNoRows(err) {
		return nil, errWebhookNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find webhook endpoint: %w", err)
	}
	return w, nil
}

func findWebhook(ctx context.Context, c conn, workspaceID, id, lock string) (*hyponema.WebhookEndpoint, error) {
	w, err := scanWebhook(c.queryRow(ctx, `SELECT `+webhookColumns+` FROM webhook_endpoints
		WHERE workspace_id = ? AND id = ?`+lock, workspaceID, id))
	if isNoRows(err) {
		return nil, errWebhookNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find webhook endpoint: %w", err)
	}
	return w, nil
}

// ListWebhooks implements hyponema.WebhookService.
func (s *WebhookService) ListWebhooks(ctx context.Context, workspaceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.WebhookEndpoint], error) {
	return list(ctx, s.db, opt, `SELECT `+webhookColumns+` FROM webhook_endpoints WHERE workspace_id = ?`,
		[]any{workspaceID}, scanWebhook, func(w *hyponema.WebhookEndpoint) string { return w.ID })
}

// UpdateWebhook implements hyponema.WebhookService.
func (s *WebhookService) UpdateWebhook(ctx context.Context, workspaceID, id string, p hyponema.WebhookPatch) (*hyponema.WebhookEndpoint, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var w *hyponema.WebhookEndpoint
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if w, err = findWebhook(ctx, tx, workspaceID, id, s.db.d.forUpdate); err != nil {
			return err
		}
		if p.URL != nil {
			w.URL = *p.URL
		}
		if p.Events != nil {
			w.Events = *p.Events
			if w.Events == nil {
				w.Events = []string{}
			}
		}
		if p.Description != nil {
			w.Description = *p.Description
		}
		if p.Enabled != nil && *p.Enabled != w.Enabled {
			w.Enabled = *p.Enabled
			if w.Enabled {
				// A fresh start: the failure streak that disabled it is over.
				w.DisabledReason, w.FailingSince = "", nil
			} else {
				w.DisabledReason = hyponema.WebhookDisabledByUser
			}
		}
		events, err := encodeJSON(w.Events)
		if err != nil {
			return err
		}
		w.UpdatedAt = now()
		var failing any
		if w.FailingSince != nil {
			failing = s.db.d.timeArg(*w.FailingSince)
		}
		if _, err := tx.exec(ctx, `UPDATE webhook_endpoints SET url = ?, events = ?, enabled = ?, description = ?,
			disabled_reason = ?, failing_since = ?, updated_at = ? WHERE id = ?`,
			w.URL, events, w.Enabled, w.Description, w.DisabledReason, failing, s.db.d.timeArg(w.UpdatedAt), w.ID); err != nil {
			return fmt.Errorf("store: update webhook endpoint: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// DeleteWebhook implements hyponema.WebhookService. Its deliveries go with
// it (ON DELETE CASCADE); queued jobs find it gone and stop.
func (s *WebhookService) DeleteWebhook(ctx context.Context, workspaceID, id string) error {
	return execOne(ctx, s.db.write(), "delete webhook endpoint", errWebhookNotFound(),
		`DELETE FROM webhook_endpoints WHERE workspace_id = ? AND id = ?`, workspaceID, id)
}

// RotateWebhookSecret implements hyponema.WebhookService.
func (s *WebhookService) RotateWebhookSecret(ctx context.Context, workspaceID, id, sealed string, previousUntil time.Time) (*hyponema.WebhookEndpoint, error) {
	if sealed == "" {
		return nil, fmt.Errorf("store: rotate to an empty secret")
	}
	previousUntil = storeTime(previousUntil)
	var w *hyponema.WebhookEndpoint
	err := s.db.inTx(ctx, func(tx conn) error {
		res, err := tx.exec(ctx, `UPDATE webhook_endpoints SET previous_secret = secret, secret = ?,
			previous_secret_expires_at = ?, updated_at = ? WHERE workspace_id = ? AND id = ?`,
			sealed, s.db.d.timeArg(previousUntil), s.db.d.timeArg(now()), workspaceID, id)
		if err != nil {
			return fmt.Errorf("store: rotate webhook secret: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return errWebhookNotFound()
		}
		w, err = findWebhook(ctx, tx, workspaceID, id, "")
		return err
	})
	return w, err
}

// WebhookSecrets implements hyponema.WebhookService.
func (s *WebhookService) WebhookSecrets(ctx context.Context, id string) (hyponema.WebhookSecrets, error) {
	var sec hyponema.WebhookSecrets
	var until *time.Time
	err := s.db.read().queryRow(ctx, `SELECT secret, previous_secret, previous_secret_expires_at
		FROM webhook_endpoints WHERE id = ?`, id).Scan(&sec.Current, &sec.Previous, nullTimeCol{&until})
	if isNoRows(err) {
		return sec, errWebhookNotFound()
	} else if err != nil {
		return sec, fmt.Errorf("store: read webhook secrets: %w", err)
	}
	if until == nil || !until.After(time.Now()) {
		sec.Previous = ""
	} else {
		sec.PreviousUntil = *until
	}
	return sec, nil
}

// SendTestEvent implements hyponema.WebhookService. The test goes to the
// endpoint whether or not it is enabled, so that a receiver can be tried
// before it is switched on.
func (s *WebhookService) SendTestEvent(ctx context.Context, workspaceID, id string) (*hyponema.Event, error) {
	var ev *hyponema.Event
	err := s.db.inTx(ctx, func(tx conn) error {
		w, err := findWebhook(ctx, tx, workspaceID, id, s.db.d.forShare)
		if err != nil {
			return err
		}
		if ev, err = hyponema.NewEvent(workspaceID, hyponema.EventWebhookTest, map[string]any{
			"webhook_id": w.ID,
			"message":    "A test event from Hyponema: this endpoint receives and verifies deliveries.",
		}); err != nil {
			return err
		}
		return s.db.recordEvents(ctx, tx, []*hyponema.Event{ev}, w.ID)
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}

// RecordEvents implements hyponema.EventLog.
func (s *WebhookService) RecordEvents(ctx context.Context, evs []*hyponema.Event) error {
	return s.db.inTx(ctx, func(tx conn) error { return s.db.recordEvents(ctx, tx, evs, "") })
}

// maxEventDataBytes caps an event's data. The webhook worker caps what it
// sends further (see the webhook package); this keeps one event from
// filling the database.
const maxEventDataBytes = 1 << 20

// recordEvents stores evs in tx and queues a delivery for each enabled
// endpoint of the event's workspace that wants it, or only for the
// endpoint target (enabled or not) when target is not "".
func (db *DB) recordEvents(ctx context.Context, tx conn, evs []*hyponema.Event, target string) error {
	for _, ev := range evs {
		switch {
		case ev == nil:
			return fmt.Errorf("store: nil event")
		case !hyponema.HasPrefix(ev.ID, hyponema.PrefixEvent):
			return fmt.Errorf("store: event ID %q is not an evt_ ID", ev.ID)
		case ev.Type == "" || len(ev.Type) > maxEventTypeLen:
			return fmt.Errorf("store: bad event type %q", ev.Type)
		case len(ev.Data) > maxEventDataBytes:
			return hyponema.Errorf(hyponema.ETOOLARGE, "the event's data is over %d bytes", maxEventDataBytes)
		case len(ev.Data) == 0:
			ev.Data = json.RawMessage("null")
		case !json.Valid(ev.Data) || !utf8.Valid(ev.Data) || hasEscapedNUL(string(ev.Data)):
			return fmt.Errorf("store: event %s data is not valid JSON text", ev.ID)
		}
		if ev.CreatedAt.IsZero() {
			ev.CreatedAt = now()
		}
		ev.CreatedAt = storeTime(ev.CreatedAt)
		if _, err := tx.exec(ctx, `INSERT INTO events (id, workspace_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)`,
			ev.ID, ev.WorkspaceID, ev.Type, string(ev.Data), db.d.timeArg(ev.CreatedAt)); err != nil {
			if db.d.isForeignKey(err) {
				return errWorkspaceNotFound()
			}
			return fmt.Errorf("store: insert event: %w", err)
		}
	}
	if db.enqueuer == nil || tx.tx == nil {
		return nil
	}
	var jobs []hyponema.DeliveryJob
	endpoints := map[string][]*hyponema.WebhookEndpoint{} // by workspace
	for _, ev := range evs {
		eps, ok := endpoints[ev.WorkspaceID]
		if !ok {
			var err error
			if eps, err = deliveryTargets(ctx, tx, ev.WorkspaceID, target); err != nil {
				return err
			}
			endpoints[ev.WorkspaceID] = eps
		}
		for _, w := range eps {
			if target != "" || w.Wants(ev.Type) {
				jobs = append(jobs, hyponema.DeliveryJob{WorkspaceID: ev.WorkspaceID, WebhookID: w.ID, EventID: ev.ID})
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	if err := db.enqueuer.EnqueueDeliveries(ctx, tx.tx, jobs); err != nil {
		return fmt.Errorf("store: queue deliveries: %w", err)
	}
	return nil
}

// recordObjectEvent records an event of type typ about obj, which it
// renders as the API shows it.
func (db *DB) recordObjectEvent(ctx context.Context, tx conn, workspaceID, typ string, obj any) error {
	ev, err := hyponema.NewEvent(workspaceID, typ, obj)
	if err != nil {
		return err
	}
	return db.recordEvents(ctx, tx, []*hyponema.Event{ev}, "")
}

// deliveryTargets returns the workspace's enabled endpoints, or the target
// endpoint alone.
func deliveryTargets(ctx context.Context, tx conn, workspaceID, target string) ([]*hyponema.WebhookEndpoint, error) {
	q, args := `SELECT id, events FROM webhook_endpoints WHERE workspace_id = ? AND enabled = ?`, []any{workspaceID, true}
	if target != "" {
		q, args = `SELECT id, events FROM webhook_endpoints WHERE workspace_id = ? AND id = ?`, []any{workspaceID, target}
	}
	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list delivery targets: %w", err)
	}
	defer rows.Close()
	var eps []*hyponema.WebhookEndpoint
	for rows.Next() {
		var w hyponema.WebhookEndpoint
		var events []byte
		if err := rows.Scan(&w.ID, &events); err != nil {
			return nil, fmt.Errorf("store: list delivery targets: %w", err)
		}
		if err := decodeJSON(events, &w.Events); err != nil {
			return nil, err
		}
		eps = append(eps, &w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list delivery targets: %w", err)
	}
	return eps, nil
}

const eventColumns = `id, workspace_id, type, data, created_at`

func scanEvent(row scanner) (*hyponema.Event, error) {
	var ev hyponema.Event
	var data string
	if err := row.Scan(&ev.ID, &ev.WorkspaceID, &ev.Type, &data, timeCol{&ev.CreatedAt}); err != nil {
		return nil, err
	}
	ev.Data = json.RawMessage(data)
	return &ev, nil
}

func errEventNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "event not found") }

// FindEvent implements hyponema.EventLog.
func (s *WebhookService) FindEvent(ctx context.Context, workspaceID, id string) (*hyponema.Event, error) {
	ev, err := scanEvent(s.db.read().queryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if isNoRows(err) {
		return nil, errEventNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find event: %w", err)
	}
	return ev, nil
}

// FindEventByID implements hyponema.EventLog.
func (s *WebhookService) FindEventByID(ctx context.Context, id string) (*hyponema.Event, error) {
	ev, err := scanEvent(s.db.read().queryRow(ctx, `SELECT `+eventColumns+` FROM events WHERE id = ?`, id))
	if isNoRows(err) {
		return nil, errEventNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find event: %w", err)
	}
	return ev, nil
}

// DeleteEventsBefore implements hyponema.EventLog. A job still queued for
// a deleted event finds it gone and stops.
func (s *WebhookService) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	at := s.db.d.timeArg(storeTime(t))
	var n int64
	err := s.db.inTx(ctx, func(tx conn) error {
		if _, err := tx.exec(ctx, `DELETE FROM webhook_deliveries WHERE created_at < ?`, at); err != nil {
			return fmt.Errorf("store: delete old deliveries: %w", err)
		}
		res, err := tx.exec(ctx, `DELETE FROM events WHERE created_at < ?`, at)
		if err != nil {
			return fmt.Errorf("store: delete old events: %w", err)
		}
		n, err = rowsAffected(res)
		return err
	})
	return n, err
}

// ListWorkspaceEvents implements hyponema.EventLog.
func (s *WebhookService) ListWorkspaceEvents(ctx context.Context, workspaceID string, f hyponema.EventFilter, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Event], error) {
	q, args := `SELECT `+eventColumns+` FROM events WHERE workspace_id = ?`, []any{workspaceID}
	if f.Type != "" {
		q += ` AND type = ?`
		args = append(args, f.Type)
	}
	if !f.Since.IsZero() {
		q += ` AND created_at >= ?`
		args = append(args, s.db.d.timeArg(storeTime(f.Since)))
	}
	return list(ctx, s.db, opt, q, args, scanEvent, func(ev *hyponema.Event) string { return ev.ID })
}

const deliveryColumns = `id, workspace_id, webhook_id, event_id, event_type, attempt, trigger, status,
	response_status, response_body, error, latency_ms, next_retry_at, created_at`

func scanDelivery(row scanner) (*hyponema.WebhookDelivery, error) {
	var d hyponema.WebhookDelivery
	var code sql.NullInt64
	if err := row.Scan(&d.ID, &d.WorkspaceID, &d.WebhookID, &d.EventID, &d.EventType, &d.Attempt, &d.Trigger,
		&d.Status, &code, &d.ResponseBody, &d.Error, &d.LatencyMS, nullTimeCol{&d.NextRetryAt}, timeCol{&d.CreatedAt}); err != nil {
		return nil, err
	}
	if code.Valid {
		c := int(code.Int64)
		d.ResponseStatus = &c
	}
	return &d, nil
}

// maxDeliveryErrorLen bounds a delivery's error text.
const maxDeliveryErrorLen = 1000

// RecordDelivery implements hyponema.WebhookService. The attempt number is
// the count of tries of the event at the endpoint so far, plus one.
func (s *WebhookService) RecordDelivery(ctx context.Context, d *hyponema.WebhookDelivery, disable string) (bool, error) {
	return s.RecordDeliveryTx(ctx, d, disable, nil)
}

// RecordDeliveryTx is RecordDelivery that also runs inTx, if not nil, in
// its transaction: the job queue marks the delivery's job done there, so
// that a crash cannot leave a logged success whose job runs again.
func (s *WebhookService) RecordDeliveryTx(ctx context.Context, d *hyponema.WebhookDelivery, disable string, inTx func(*sql.Tx) error) (bool, error) {
	if d.Status != hyponema.DeliverySucceeded && d.Status != hyponema.DeliveryFailed {
		return false, fmt.Errorf("store: delivery status %q", d.Status)
	}
	if d.Trigger == "" {
		d.Trigger = hyponema.DeliveryAuto
	}
	d.ID = hyponema.NewID(hyponema.PrefixDelivery)
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now()
	}
	d.CreatedAt = storeTime(d.CreatedAt)
	d.ResponseBody = cleanText(d.ResponseBody, hyponema.MaxDeliveryResponseBytes)
	d.Error = cleanText(d.Error, maxDeliveryErrorLen)
	var disabled bool
	err := s.db.inTx(ctx, func(tx conn) error {
		w, err := findWebhook(ctx, tx, d.WorkspaceID, d.WebhookID, s.db.d.forUpdate)
		if err != nil {
			return err
		}
		var attempt int
		if err := tx.queryRow(ctx, `SELECT COALESCE(MAX(attempt), 0) + 1 FROM webhook_deliveries
			WHERE webhook_id = ? AND event_id = ?`, d.WebhookID, d.EventID).Scan(&attempt); err != nil {
			return fmt.Errorf("store: count deliveries: %w", err)
		}
		d.Attempt = attempt

		var failing any
		if d.Status == hyponema.DeliveryFailed {
			since := d.CreatedAt
			if w.FailingSince != nil {
				since = *w.FailingSince
			}
			failing = s.db.d.timeArg(since)
			if disable == "" && d.CreatedAt.Sub(since) >= hyponema.WebhookDisableAfter {
				disable = hyponema.WebhookDisabledFailing
			}
			if disable != "" && w.Enabled {
				disabled = true
				d.NextRetryAt = nil
			}
		}
		var next any
		if d.NextRetryAt != nil {
			next = s.db.d.timeArg(storeTime(*d.NextRetryAt))
		}
		var code any
		if d.ResponseStatus != nil {
			code = *d.ResponseStatus
		}
		if _, err := tx.exec(ctx, `INSERT INTO webhook_deliveries (`+deliveryColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.ID, d.WorkspaceID, d.WebhookID, d.EventID, d.EventType, d.Attempt, d.Trigger, d.Status,
			code, d.ResponseBody, d.Error, d.LatencyMS, next, s.db.d.timeArg(d.CreatedAt)); err != nil {
			return fmt.Errorf("store: insert delivery: %w", err)
		}

		if inTx != nil {
			if err := inTx(tx.tx); err != nil {
				return err
			}
		}
		switch {
		case disabled:
			t := now()
			w.Enabled, w.DisabledReason, w.UpdatedAt = false, disable, t
			if _, err := tx.exec(ctx, `UPDATE webhook_endpoints SET enabled = ?, disabled_reason = ?,
				failing_since = ?, updated_at = ? WHERE id = ?`, false, disable, failing, s.db.d.timeArg(t), w.ID); err != nil {
				return fmt.Errorf("store: disable webhook endpoint: %w", err)
			}
			ev, err := hyponema.NewEvent(w.WorkspaceID, hyponema.EventWebhookEndpointDisabled, w)
			if err != nil {
				return err
			}
			return s.db.recordEvents(ctx, tx, []*hyponema.Event{ev}, "")
		case d.Status == hyponema.DeliveryFailed && w.FailingSince == nil:
			if _, err := tx.exec(ctx, `UPDATE webhook_endpoints SET failing_since = ? WHERE id = ?`, failing, w.ID); err != nil {
				return fmt.Errorf("store: mark webhook endpoint failing: %w", err)
			}
		case d.Status == hyponema.DeliverySucceeded && w.FailingSince != nil:
			if _, err := tx.exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?`, w.ID); err != nil {
				return fmt.Errorf("store: clear webhook endpoint failures: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return disabled, nil
}

// cleanText makes s storable in both databases: valid UTF-8 without NUL,
// at most max bytes, cut at a character boundary.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// ListDeliveries implements hyponema.WebhookService.
func (s *WebhookService) ListDeliveries(ctx context.Context, workspaceID, webhookID string, f hyponema.DeliveryFilter, opt hyponema.PageOptions) (hyponema.Page[*hyponema.WebhookDelivery], error) {
	if _, err := findWebhook(ctx, s.db.read(), workspaceID, webhookID, ""); err != nil {
		return hyponema.Page[*hyponema.WebhookDelivery]{}, err
	}
	q, args := `SELECT `+deliveryColumns+` FROM webhook_deliveries WHERE webhook_id = ?`, []any{webhookID}
	if f.EventID != "" {
		q += ` AND event_id = ?`
		args = append(args, f.EventID)
	}
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	return list(ctx, s.db, opt, q, args, scanDelivery, func(d *hyponema.WebhookDelivery) string { return d.ID })
}

func errDeliveryNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "delivery not found") }

// FindDelivery implements hyponema.WebhookService.
func (s *WebhookService) FindDelivery(ctx context.Context, workspaceID, webhookID, id string) (*hyponema.WebhookDelivery, error) {
	return findDelivery(ctx, s.db.read(), workspaceID, webhookID, id)
}

func findDelivery(ctx context.Context, c conn, workspaceID, webhookID, id string) (*hyponema.WebhookDelivery, error) {
	d, err := scanDelivery(c.queryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE workspace_id = ? AND webhook_id = ? AND id = ?`, workspaceID, webhookID, id))
	if isNoRows(err) {
		return nil, errDeliveryNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find delivery: %w", err)
	}
	return d, nil
}

// Redeliver implements hyponema.WebhookService.
func (s *WebhookService) Redeliver(ctx context.Context, workspaceID, webhookID, deliveryID string) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if _, err := findWebhook(ctx, tx, workspaceID, webhookID, s.db.d.forShare); err != nil {
			return err
		}
		d, err := findDelivery(ctx, tx, workspaceID, webhookID, deliveryID)
		if err != nil {
			return err
		}
		if s.db.enqueuer == nil {
			return hyponema.Errorf(hyponema.EUNAVAILABLE, "webhook delivery is not running on this server")
		}
		var one int
		if err := tx.queryRow(ctx, `SELECT 1 FROM events WHERE id = ?`, d.EventID).Scan(&one); isNoRows(err) {
			return hyponema.Errorf(hyponema.ENOTFOUND, "the delivery's event is no longer kept")
		} else if err != nil {
			return fmt.Errorf("store: find event: %w", err)
		}
		err = s.db.enqueuer.EnqueueDeliveries(ctx, tx.tx, []hyponema.DeliveryJob{{
			WorkspaceID: workspaceID, WebhookID: webhookID, EventID: d.EventID, Manual: true}})
		if err != nil {
			return fmt.Errorf("store: queue redelivery: %w", err)
		}
		return nil
	})
}
