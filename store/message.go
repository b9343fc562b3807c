package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// MessageService stores session transcripts.
type MessageService struct{ db *DB }

var _ hyponema.MessageService = (*MessageService)(nil)

// NewMessageService returns the message service of db.
func NewMessageService(db *DB) *MessageService { return &MessageService{db: db} }

// Bounds on what the store keeps of one message. A user's message is held
// to hyponema.MaxMessageLen before it gets here; these only stop runaway
// text (a model that never stops, a tool that returns a file) from growing
// rows without end.
const (
	maxStoredMessageLen = 1 << 20 // bytes of text
	maxMessageErrorLen  = 10_000  // bytes of error
)

const messageColumns = `id, workspace_id, session_id, role, text, status, tool_calls, usage, ttft_ms, latency_ms, error, created_at, citations`

func scanMessage(row scanner) (*hyponema.Message, error) {
	var m hyponema.Message
	var toolCalls, usage, citations []byte
	var ttft, latency sql.NullInt64
	if err := row.Scan(&m.ID, &m.WorkspaceID, &m.SessionID, &m.Role, &m.Text, &m.Status, &toolCalls, &usage,
		&ttft, &latency, &m.Error, timeCol{&m.CreatedAt}, &citations); err != nil {
		return nil, err
	}
	if err := decodeJSON(toolCalls, &m.ToolCalls); err != nil {
		return nil, err
	}
	if err := decodeJSON(citations, &m.Citations); err != nil {
		return nil, err
	}
	if len(m.Citations) == 0 {
		m.Citations = nil // none: left out of the JSON
	}
	if m.ToolCalls == nil {
		m.ToolCalls = []hyponema.ToolCall{}
	}
	if usage != nil {
		m.Usage = new(hyponema.Usage)
		if err := decodeJSON(usage, m.Usage); err != nil {
			return nil, err
		}
	}
	if ttft.Valid {
		m.TTFTMS = new(int(ttft.Int64))
	}
	if latency.Valid {
		m.LatencyMS = new(int(latency.Int64))
	}
	return &m, nil
}

// messageRow is a message's values as its INSERT binds them.
type messageRow struct {
	toolCalls string
	usage     sql.NullString
	citations string
}

// prepareMessage checks m and puts it in the form that is stored: an ID
// and a creation time if it has none, the time rounded as the store keeps
// times, tool calls as an empty list rather than null.
func prepareMessage(m *hyponema.Message) (messageRow, error) {
	var v hyponema.Validation
	switch m.Role {
	case hyponema.RoleUser, hyponema.RoleAssistant, hyponema.RoleTool, hyponema.RoleSystem:
	default:
		v.Add("enum", "must be user, assistant, tool or system", "role")
	}
	switch m.Status {
	case hyponema.MessageComplete, hyponema.MessageIncomplete:
	default:
		v.Add("enum", "must be complete or incomplete", "status")
	}
	checkStoredText(&v, m.Text, maxStoredMessageLen, "text")
	checkStoredText(&v, m.Error, maxMessageErrorLen, "error")
	if m.TTFTMS != nil && *m.TTFTMS < 0 {
		v.Add("out_of_range", "must not be negative", "ttft_ms")
	}
	if m.LatencyMS != nil && *m.LatencyMS < 0 {
		v.Add("out_of_range", "must not be negative", "latency_ms")
	}
	if err := v.Err(); err != nil {
		return messageRow{}, err
	}
	if m.ID == "" {
		m.ID = hyponema.NewID(hyponema.PrefixMessage)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	} else {
		m.CreatedAt = storeTime(m.CreatedAt)
	}
	if m.ToolCalls == nil {
		m.ToolCalls = []hyponema.ToolCall{}
	}
	var r messageRow
	var err error
	if r.toolCalls, err = encodeJSON(m.ToolCalls); err != nil {
		return messageRow{}, err
	}
	r.citations = "[]"
	if len(m.Citations) > 0 {
		if r.citations, err = encodeJSON(m.Citations); err != nil {
			return messageRow{}, err
		}
	}
	if m.Usage != nil {
		u, err := encodeJSON(m.Usage)
		if err != nil {
			return messageRow{}, err
		}
		r.usage = sql.NullString{String: u, Valid: true}
	}
	return r, nil
}

// checkStoredText refuses what neither database can keep (invalid UTF-8,
// NUL characters) and text over max bytes. Bytes, not characters: the
// bound is about storage, and counting runes of a megabyte on every delta
// would be waste.
func checkStoredText(v *hyponema.Validation, s string, max int, path string) {
	switch {
	case len(s) > max:
		v.Add("too_long", fmt.Sprintf("must be at most %d bytes", max), path)
	case !utf8.ValidString(s):
		v.Add("invalid", "must be valid UTF-8", path)
	case strings.IndexByte(s, 0) >= 0:
		v.Add("invalid", "must not contain NUL characters", path)
	}
}

// insertMessageSQL inserts a message. CreateSession uses it bare; SaveMessage
// adds upsertMessageSQL's conflict clause.
const insertMessageSQL = `INSERT INTO messages (` + messageColumns + `)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// upsertMessageSQL inserts a message or updates what may change of it: its
// text, status, tool calls, usage, timings, error and citations, never its role,
// session or creation time. The WHERE of the update keeps a message ID from
// being reused across sessions or workspaces: then no row is returned. On
// insert the foreign key checks that the session is the workspace's.
const upsertMessageSQL = insertMessageSQL + `
	ON CONFLICT (id) DO UPDATE SET text = excluded.text, status = excluded.status, tool_calls = excluded.tool_calls,
		usage = excluded.usage, ttft_ms = excluded.ttft_ms, latency_ms = excluded.latency_ms, error = excluded.error,
		citations = excluded.citations
	WHERE messages.session_id = excluded.session_id AND messages.workspace_id = excluded.workspace_id
	RETURNING role, created_at`

func messageArgs(d *dialect, m *hyponema.Message, r messageRow) []any {
	return []any{m.ID, m.WorkspaceID, m.SessionID, m.Role, m.Text, m.Status, r.toolCalls, r.usage,
		nullInt(m.TTFTMS), nullInt(m.LatencyMS), m.Error, d.timeArg(m.CreatedAt), r.citations}
}

func nullInt(p *int) sql.NullInt64 {
	if p == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: int64(*p), Valid: true}
}

// Queries of SaveMessage for user messages, which move the session's
// inactivity deadline; see touchSession. An ended session keeps its NULL
// deadline (ELSE expires_at, which also gives PostgreSQL the parameter's
// type).
const (
	sessionDeadlinesSQL = `SELECT created_at, inactivity_timeout_seconds, max_duration_seconds
		FROM sessions WHERE workspace_id = ? AND id = ?`
	touchSessionSQL = `UPDATE sessions SET last_activity_at = ?,
		expires_at = CASE WHEN status = 'active' THEN ? ELSE expires_at END
		WHERE id = ? AND last_activity_at < ?`
)

// SaveMessage implements hyponema.MessageService in one short transaction:
// the message's upsert and one multi-row INSERT of the events; a user
// message also reads the session's limits and moves its last activity.
//
// Last activity only moves forward (to m.CreatedAt if that is later), so
// saving an existing user message again leaves it as it is, and so do
// replicas whose clocks differ slightly.
func (s *MessageService) SaveMessage(ctx context.Context, m *hyponema.Message, events []*hyponema.SessionEvent) error {
	return s.saveMessage(ctx, m, events, turnOps{})
}

// turnOps are what a save does to the session's turn claim besides.
type turnOps struct {
	claim   string    // claim the session for this turn first
	lease   time.Time // until then
	release string    // release this turn's claim after
}

// errClaimLost makes StartTurn's transaction roll back when the claim fails.
var errClaimLost = errors.New("store: claim lost")

// StartTurn implements hyponema.MessageService: ClaimTurn and SaveMessage
// in one transaction, so that a turn's start costs one write.
func (s *MessageService) StartTurn(ctx context.Context, m *hyponema.Message, events []*hyponema.SessionEvent, turnID string, leaseUntil time.Time) error {
	if turnID == "" {
		return fmt.Errorf("store: StartTurn without a turn ID")
	}
	err := s.saveMessage(ctx, m, events, turnOps{claim: turnID, lease: leaseUntil})
	if errors.Is(err, errClaimLost) {
		return claimError(ctx, s.db, m.WorkspaceID, m.SessionID)
	}
	return err
}

// releaseTurnSQL clears a turn's claim if it still holds the session.
const releaseTurnSQL = `UPDATE sessions SET turn_id = NULL, turn_lease_until = NULL WHERE id = ? AND turn_id = ?`

// FinishTurn implements hyponema.MessageService: SaveMessage and the
// release of the turn's claim, in one transaction.
func (s *MessageService) FinishTurn(ctx context.Context, m *hyponema.Message, events []*hyponema.SessionEvent, turnID string) error {
	if turnID == "" {
		return fmt.Errorf("store: FinishTurn without a turn ID")
	}
	return s.saveMessage(ctx, m, events, turnOps{release: turnID})
}

func (s *MessageService) saveMessage(ctx context.Context, m *hyponema.Message, events []*hyponema.SessionEvent, ops turnOps) error {
	r, err := prepareMessage(m)
	if err != nil {
		return err
	}
	if err := prepareEvents(events); err != nil {
		return err
	}
	user := m.Role == hyponema.RoleUser
	qs := append(eventStatements(len(events)), upsertMessageSQL)
	if user {
		qs = append(qs, sessionDeadlinesSQL, touchSessionSQL)
	}
	if ops.release != "" {
		qs = append(qs, releaseTurnSQL)
	}
	if ops.claim != "" {
		qs = append(qs, claimTurnSQL)
	}
	s.db.prepareForTx(ctx, qs...)

	var role string
	var created time.Time
	err = s.db.inTx(ctx, func(tx conn) error {
		if ops.claim != "" {
			t := now()
			res, err := tx.exec(ctx, claimTurnSQL, ops.claim, s.db.d.timeArg(storeTime(ops.lease)),
				m.WorkspaceID, m.SessionID, ops.claim, s.db.d.timeArg(t))
			if err != nil {
				return fmt.Errorf("store: claim turn: %w", err)
			}
			if n, err := rowsAffected(res); err != nil {
				return err
			} else if n == 0 {
				return errClaimLost
			}
		}
		if user {
			if err := touchSession(ctx, tx, m.WorkspaceID, m.SessionID, m.CreatedAt); err != nil {
				return err
			}
		}
		err := tx.queryRow(ctx, upsertMessageSQL, messageArgs(s.db.d, m, r)...).Scan(&role, timeCol{&created})
		switch {
		case err == nil:
		case isNoRows(err):
			return errMessageTaken()
		case s.db.d.isForeignKey(err):
			return errSessionNotFound()
		default:
			return fmt.Errorf("store: save message: %w", err)
		}
		if err := insertEvents(ctx, tx, events); err != nil {
			return err
		}
		if ops.release != "" && role == hyponema.RoleAssistant {
			// The turn's reply is final: tell the webhooks.
			done := *m
			done.Role, done.CreatedAt = role, created
			if err := s.db.recordObjectEvent(ctx, tx, m.WorkspaceID, hyponema.EventMessageCompleted, &done); err != nil {
				return err
			}
		}
		if ops.release != "" {
			if _, err := tx.exec(ctx, releaseTurnSQL, m.SessionID, ops.release); err != nil {
				return fmt.Errorf("store: release turn: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// An update keeps the stored role and creation time.
	m.Role, m.CreatedAt = role, created
	return nil
}

// errMessageTaken is what saving a message whose ID another session's
// message has gets. IDs are random, so only a caller's bug gets here.
func errMessageTaken() error {
	return hyponema.Errorf(hyponema.ECONFLICT, "a message with this ID belongs to another session")
}

// touchSession moves the session's last activity to t if t is later, and
// its expiry deadline with it; ENOTFOUND unless the session is the
// workspace's.
func touchSession(ctx context.Context, tx conn, workspaceID, sessionID string, t time.Time) error {
	var created time.Time
	var inactivity, maxDuration int
	err := tx.queryRow(ctx, sessionDeadlinesSQL, workspaceID, sessionID).Scan(timeCol{&created}, &inactivity, &maxDuration)
	if isNoRows(err) {
		return errSessionNotFound()
	} else if err != nil {
		return fmt.Errorf("store: read session: %w", err)
	}
	at := tx.db.d.timeArg(t)
	if _, err := tx.exec(ctx, touchSessionSQL, at, tx.db.d.timeArg(expiresAt(created, t, inactivity, maxDuration)),
		sessionID, at); err != nil {
		return fmt.Errorf("store: update session activity: %w", err)
	}
	return nil
}

// ListMessages implements hyponema.MessageService. The order is the
// caller's PageOptions: the HTTP layer asks for oldest first (Asc) unless
// the client says otherwise.
func (s *MessageService) ListMessages(ctx context.Context, workspaceID, sessionID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Message], error) {
	if err := checkSession(ctx, s.db.read(), workspaceID, sessionID); err != nil {
		return hyponema.Page[*hyponema.Message]{}, err
	}
	return list(ctx, s.db, opt, `SELECT `+messageColumns+` FROM messages WHERE session_id = ?`,
		[]any{sessionID}, scanMessage, func(m *hyponema.Message) string { return m.ID })
}

// RecentMessages implements hyponema.MessageService: the newest limit
// messages by the (session_id, id) index, turned oldest first.
func (s *MessageService) RecentMessages(ctx context.Context, sessionID string, limit int) ([]*hyponema.Message, error) {
	msgs := []*hyponema.Message{}
	if limit <= 0 {
		return msgs, nil
	}
	rows, err := s.db.read().query(ctx, `SELECT `+messageColumns+` FROM messages
		WHERE session_id = ? ORDER BY id DESC LIMIT ?`, sessionID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: read message: %w", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: recent messages: %w", err)
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, nil
}
