package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// EventService stores session event logs, what SSE streams replay.
type EventService struct{ db *DB }

var _ hyponema.EventService = (*EventService)(nil)

// NewEventService returns the event service of db.
func NewEventService(db *DB) *EventService { return &EventService{db: db} }

// Limits of ListEvents: a caller that asks for no limit gets a page big
// enough for any replay in one go, and no caller can make the store read a
// whole long session's log into memory at once.
const (
	defaultEventLimit = 1000
	maxEventLimit     = 10_000
)

// maxEventTypeLen bounds an event's type; the types are short constants.
const maxEventTypeLen = 64

// maxEventsPerInsert is how many events one INSERT writes. Deltas come in
// batches of tens, so a batch is nearly always one statement; the bound
// keeps the number of distinct statements (one per row count, each cached
// and prepared) small, and the placeholders far under both databases'
// limits.
const maxEventsPerInsert = 64

// insertEventsSQL[n] inserts n events, built once.
var insertEventsSQL = func() (qs [maxEventsPerInsert + 1]string) {
	const head = `INSERT INTO session_events (session_id, seq, workspace_id, type, data, created_at) VALUES `
	const row = `(?, ?, ?, ?, ?, ?)`
	for n := 1; n <= maxEventsPerInsert; n++ {
		var b strings.Builder
		b.WriteString(head)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
		}
		qs[n] = b.String()
	}
	return qs
}()

// eventStatements returns the INSERTs that insertEvents runs for n events.
func eventStatements(n int) []string {
	var qs []string
	for ; n > 0; n -= maxEventsPerInsert {
		qs = append(qs, insertEventsSQL[min(n, maxEventsPerInsert)])
	}
	return qs
}

// prepareEvents checks events and puts them in the form that is stored: the
// time rounded as the store keeps times (so what the caller publishes equals
// what a replay reads), nil data as JSON null. The data must be valid JSON
// in UTF-8, since streams and webhooks send it on as it is.
func prepareEvents(events []*hyponema.SessionEvent) error {
	for _, ev := range events {
		if ev == nil {
			return fmt.Errorf("store: nil session event")
		}
		var v hyponema.Validation
		switch {
		case ev.SessionID == "":
			v.Add("missing", "is required", "session_id")
		case ev.Seq < 1:
			v.Add("out_of_range", "must be at least 1", "seq")
		case ev.Type == "" || len(ev.Type) > maxEventTypeLen || !utf8.ValidString(ev.Type) || strings.ContainsRune(ev.Type, 0):
			v.Add("invalid", fmt.Sprintf("must be 1 to %d bytes of text", maxEventTypeLen), "type")
		}
		if len(ev.Data) == 0 {
			ev.Data = json.RawMessage("null")
		} else if !json.Valid(ev.Data) || !utf8.Valid(ev.Data) {
			v.Add("invalid", "must be valid JSON in UTF-8", "data")
		}
		if err := v.Err(); err != nil {
			return err
		}
		if ev.CreatedAt.IsZero() {
			ev.CreatedAt = now()
		} else {
			ev.CreatedAt = storeTime(ev.CreatedAt)
		}
	}
	return nil
}

// insertEvents writes events, already checked by prepareEvents, with
// multi-row INSERTs. A taken seq is ECONFLICT; a session that does not
// exist in the events' workspace is ENOTFOUND (the foreign key on
// (workspace_id, session_id) refuses it).
func insertEvents(ctx context.Context, c conn, events []*hyponema.SessionEvent) error {
	args := make([]any, 0, 6*min(len(events), maxEventsPerInsert))
	for len(events) > 0 {
		n := min(len(events), maxEventsPerInsert)
		args = args[:0]
		for _, ev := range events[:n] {
			args = append(args, ev.SessionID, ev.Seq, ev.WorkspaceID, ev.Type, string(ev.Data), c.db.d.timeArg(ev.CreatedAt))
		}
		_, err := c.exec(ctx, insertEventsSQL[n], args...)
		switch {
		case err == nil:
		case c.db.d.isUnique(err):
			return hyponema.Errorf(hyponema.ECONFLICT, "an event with this sequence number exists already")
		case c.db.d.isForeignKey(err):
			return errSessionNotFound()
		default:
			return fmt.Errorf("store: insert session events: %w", err)
		}
		events = events[n:]
	}
	return nil
}

// AppendEvents implements hyponema.EventService. Up to maxEventsPerInsert
// events are one INSERT, atomic by itself, so the common batch needs no
// transaction (on PostgreSQL that saves two round trips); a bigger batch
// runs in one transaction.
func (s *EventService) AppendEvents(ctx context.Context, events []*hyponema.SessionEvent) error {
	if len(events) == 0 {
		return nil
	}
	if err := prepareEvents(events); err != nil {
		return err
	}
	if len(events) <= maxEventsPerInsert {
		return insertEvents(ctx, s.db.write(), events)
	}
	s.db.prepareForTx(ctx, eventStatements(len(events))...)
	return s.db.inTx(ctx, func(tx conn) error { return insertEvents(ctx, tx, events) })
}

// ListEvents implements hyponema.EventService. A limit of 0 or less means
// defaultEventLimit; it is at most maxEventLimit.
func (s *EventService) ListEvents(ctx context.Context, sessionID string, after int64, limit int) ([]*hyponema.SessionEvent, error) {
	if limit <= 0 {
		limit = defaultEventLimit
	}
	limit = min(limit, maxEventLimit)
	rows, err := s.db.read().query(ctx, `SELECT session_id, seq, workspace_id, type, data, created_at
		FROM session_events WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?`, sessionID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list session events: %w", err)
	}
	defer rows.Close()
	events := []*hyponema.SessionEvent{}
	for rows.Next() {
		var ev hyponema.SessionEvent
		var data []byte
		if err := rows.Scan(&ev.SessionID, &ev.Seq, &ev.WorkspaceID, &ev.Type, &data, timeCol{&ev.CreatedAt}); err != nil {
			return nil, fmt.Errorf("store: read session event: %w", err)
		}
		ev.Data = data
		events = append(events, &ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list session events: %w", err)
	}
	return events, nil
}

// LastEventSeq implements hyponema.EventService: one descent of the
// primary key.
func (s *EventService) LastEventSeq(ctx context.Context, sessionID string) (int64, error) {
	var seq int64
	if err := s.db.read().queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM session_events WHERE session_id = ?`,
		sessionID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last event seq: %w", err)
	}
	return seq, nil
}
