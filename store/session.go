package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// SessionService stores sessions, their end users and turn claims.
type SessionService struct{ db *DB }

var _ hyponema.SessionService = (*SessionService)(nil)

// NewSessionService returns the session service of db.
func NewSessionService(db *DB) *SessionService { return &SessionService{db: db} }

func errSessionNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "session not found") }

const sessionColumns = `id, workspace_id, agent_id, agent_version_id, channel, status, ended_reason, user_id,
	variables, metadata, inactivity_timeout_seconds, max_duration_seconds, created_at, last_activity_at, ended_at`

func scanSession(row scanner) (*hyponema.Session, error) {
	var s hyponema.Session
	var user sql.NullString
	var vars, meta []byte
	if err := row.Scan(&s.ID, &s.WorkspaceID, &s.AgentID, &s.AgentVersionID, &s.Channel, &s.Status, &s.EndedReason,
		&user, &vars, &meta, &s.InactivityTimeoutSeconds, &s.MaxDurationSeconds,
		timeCol{&s.CreatedAt}, timeCol{&s.LastActivityAt}, nullTimeCol{&s.EndedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(vars, &s.Variables); err != nil {
		return nil, err
	}
	if err := decodeJSON(meta, &s.Metadata); err != nil {
		return nil, err
	}
	if s.Variables == nil {
		s.Variables = map[string]string{}
	}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	s.UserID = user.String
	return &s, nil
}

// expiresAt is when a session whose last activity was at last ends: after
// its inactivity timeout or at its maximum duration, whichever comes first.
func expiresAt(created, last time.Time, inactivitySeconds, maxDurationSeconds int) time.Time {
	idle := last.Add(time.Duration(inactivitySeconds) * time.Second)
	if end := created.Add(time.Duration(maxDurationSeconds) * time.Second); end.Before(idle) {
		return end
	}
	return idle
}

// prepareSession checks a new session and puts it in the form that is
// stored: empty maps rather than nil, an ID and times if it has none,
// times rounded as the store keeps them, and the agent defaults for limits
// left at zero (a caller that copied them from a normalized agent version
// never leaves them so).
func prepareSession(s *hyponema.Session) error {
	if s.Variables == nil {
		s.Variables = map[string]string{}
	}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	if s.Status == "" {
		s.Status = hyponema.SessionActive
	}
	if s.InactivityTimeoutSeconds == 0 {
		s.InactivityTimeoutSeconds = hyponema.DefaultInactivityTimeoutSeconds
	}
	if s.MaxDurationSeconds == 0 {
		s.MaxDurationSeconds = hyponema.DefaultMaxDurationSeconds
	}
	if err := s.Validate(); err != nil {
		return err
	}
	var v hyponema.Validation
	if s.ID != "" && !hyponema.HasPrefix(s.ID, hyponema.PrefixSession) {
		v.Add("invalid", "must be a session ID (ses_…)", "id")
	}
	if s.AgentID == "" {
		v.Add("missing", "is required", "agent_id")
	}
	if s.AgentVersionID == "" {
		v.Add("missing", "is required", "agent_version_id")
	}
	if s.Status != hyponema.SessionActive {
		v.Add("invalid", "a new session must be active", "status")
	}
	if s.InactivityTimeoutSeconds < 0 {
		v.Add("out_of_range", "must not be negative", "inactivity_timeout_seconds")
	}
	if s.MaxDurationSeconds < 0 {
		v.Add("out_of_range", "must not be negative", "max_duration_seconds")
	}
	if err := v.Err(); err != nil {
		return err
	}
	if s.ID == "" {
		s.ID = hyponema.NewID(hyponema.PrefixSession)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now()
	}
	s.CreatedAt = storeTime(s.CreatedAt)
	if s.LastActivityAt.IsZero() {
		s.LastActivityAt = s.CreatedAt
	}
	s.LastActivityAt = storeTime(s.LastActivityAt)
	s.EndedReason, s.EndedAt = "", nil
	return nil
}

// prepareEndUser checks the session's end user, which belongs to the
// session's workspace whatever the caller set.
func prepareEndUser(u *hyponema.EndUser, workspaceID string) error {
	if u.Metadata == nil {
		u.Metadata = map[string]string{}
	}
	if err := u.Validate(); err != nil {
		return err
	}
	u.WorkspaceID = workspaceID
	if u.ID == "" {
		u.ID = hyponema.NewID(hyponema.PrefixEndUser)
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	u.CreatedAt = storeTime(u.CreatedAt)
	return nil
}

// CreateSession implements hyponema.SessionService. In one transaction it
// checks that the agent version is the workspace's, finds or creates the
// end user, and inserts the session, its first messages and the events
// that events returns (built from the session with its user ID).
//
// An end user found by external ID keeps its ID; its name and metadata
// change only to new values that are not empty, so that a session that
// names the user by external ID alone does not erase what is known.
func (s *SessionService) CreateSession(ctx context.Context, sess *hyponema.Session, user *hyponema.EndUser,
	msgs []*hyponema.Message, events func(*hyponema.Session) []*hyponema.SessionEvent) error {
	if err := prepareSession(sess); err != nil {
		return err
	}
	vars, err := encodeJSON(sess.Variables)
	if err != nil {
		return err
	}
	meta, err := encodeJSON(sess.Metadata)
	if err != nil {
		return err
	}
	var userMeta string
	if user != nil {
		if err := prepareEndUser(user, sess.WorkspaceID); err != nil {
			return err
		}
		if userMeta, err = encodeJSON(user.Metadata); err != nil {
			return err
		}
	}
	rows := make([]messageRow, len(msgs))
	for i, m := range msgs {
		if m.SessionID != "" && m.SessionID != sess.ID {
			return fmt.Errorf("store: message %s is not of session %s", m.ID, sess.ID)
		}
		m.SessionID, m.WorkspaceID = sess.ID, sess.WorkspaceID
		if rows[i], err = prepareMessage(m); err != nil {
			return err
		}
	}

	var stored *hyponema.EndUser
	callerUserID := sess.UserID
	err = s.db.inTx(ctx, func(tx conn) error {
		if err := checkAgentVersion(ctx, tx, sess.WorkspaceID, sess.AgentID, sess.AgentVersionID); err != nil {
			return err
		}
		switch {
		case user != nil:
			if stored, err = upsertEndUser(ctx, tx, user, userMeta); err != nil {
				return err
			}
			sess.UserID = stored.ID
		case sess.UserID != "":
			if err := checkEndUser(ctx, tx, sess.WorkspaceID, sess.UserID); err != nil {
				return err
			}
		}
		if err := insertSession(ctx, tx, sess, vars, meta); err != nil {
			return err
		}
		if err := s.db.recordObjectEvent(ctx, tx, sess.WorkspaceID, hyponema.EventSessionCreated, sess); err != nil {
			return err
		}
		for i, m := range msgs {
			_, err := tx.exec(ctx, insertMessageSQL, messageArgs(s.db.d, m, rows[i])...)
			if s.db.d.isUnique(err) {
				return hyponema.Errorf(hyponema.ECONFLICT, "a message with this ID exists already")
			} else if err != nil {
				return fmt.Errorf("store: insert message: %w", err)
			}
		}
		if events == nil {
			return nil
		}
		return insertSessionEvents(ctx, tx, sess, events(sess))
	})
	if err != nil {
		sess.UserID = callerUserID
		return err
	}
	if stored != nil {
		*user = *stored
	}
	return nil
}

// insertSessionEvents stores the events that a callback built for sess,
// filling in the session and workspace where the callback left them empty.
// An event for another session is a bug of the caller's.
func insertSessionEvents(ctx context.Context, tx conn, sess *hyponema.Session, evs []*hyponema.SessionEvent) error {
	for _, ev := range evs {
		if ev == nil {
			continue // prepareEvents reports it
		}
		if ev.SessionID == "" {
			ev.SessionID = sess.ID
		}
		if ev.WorkspaceID == "" {
			ev.WorkspaceID = sess.WorkspaceID
		}
		if ev.SessionID != sess.ID || ev.WorkspaceID != sess.WorkspaceID {
			return fmt.Errorf("store: event of session %s given for session %s", ev.SessionID, sess.ID)
		}
	}
	if err := prepareEvents(evs); err != nil {
		return err
	}
	return insertEvents(ctx, tx, evs)
}

// checkAgentVersion fails unless the version is one of the agent's in the
// workspace: ENOTFOUND when the workspace itself does not exist, EINVALID
// otherwise. Versions are immutable and never deleted, so no lock is
// needed.
func checkAgentVersion(ctx context.Context, tx conn, workspaceID, agentID, versionID string) error {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM agent_versions WHERE id = ? AND agent_id = ? AND workspace_id = ?`,
		versionID, agentID, workspaceID).Scan(&one)
	if err == nil {
		return nil
	} else if !isNoRows(err) {
		return fmt.Errorf("store: check agent version: %w", err)
	}
	err = tx.queryRow(ctx, `SELECT 1 FROM workspaces WHERE id = ?`, workspaceID).Scan(&one)
	if isNoRows(err) {
		return errWorkspaceNotFound()
	} else if err != nil {
		return fmt.Errorf("store: check workspace: %w", err)
	}
	var v hyponema.Validation
	v.Add("invalid", "is not a version of this agent", "agent_version_id")
	return v.Err()
}

// checkEndUser fails with EINVALID unless the user is the workspace's.
func checkEndUser(ctx context.Context, tx conn, workspaceID, userID string) error {
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM end_users WHERE workspace_id = ? AND id = ?`, workspaceID, userID).Scan(&one)
	if isNoRows(err) {
		var v hyponema.Validation
		v.Add("invalid", "no such user", "user_id")
		return v.Err()
	} else if err != nil {
		return fmt.Errorf("store: check end user: %w", err)
	}
	return nil
}

// upsertEndUser finds the workspace's user by external ID or creates u, in
// one statement that cannot race with another session naming the same new
// user: the unique (workspace_id, external_id) makes the second writer
// update the first one's row. It returns the user as stored.
func upsertEndUser(ctx context.Context, tx conn, u *hyponema.EndUser, meta string) (*hyponema.EndUser, error) {
	setMeta := 0
	if len(u.Metadata) > 0 {
		setMeta = 1
	}
	var got hyponema.EndUser
	var gotMeta []byte
	err := tx.queryRow(ctx, `INSERT INTO end_users (id, workspace_id, external_id, name, metadata, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (workspace_id, external_id) DO UPDATE SET
			name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE end_users.name END,
			metadata = CASE WHEN ? = 1 THEN excluded.metadata ELSE end_users.metadata END
		RETURNING id, workspace_id, external_id, name, metadata, created_at`,
		u.ID, u.WorkspaceID, u.ExternalID, u.Name, meta, tx.db.d.timeArg(u.CreatedAt), setMeta).
		Scan(&got.ID, &got.WorkspaceID, &got.ExternalID, &got.Name, &gotMeta, timeCol{&got.CreatedAt})
	switch {
	case err == nil:
	case tx.db.d.isForeignKey(err):
		return nil, errWorkspaceNotFound()
	case tx.db.d.isUnique(err): // the caller's new ID is another user's
		return nil, hyponema.Errorf(hyponema.ECONFLICT, "an end user with this ID exists already")
	default:
		return nil, fmt.Errorf("store: upsert end user: %w", err)
	}
	if err := decodeJSON(gotMeta, &got.Metadata); err != nil {
		return nil, err
	}
	if got.Metadata == nil {
		got.Metadata = map[string]string{}
	}
	return &got, nil
}

func insertSession(ctx context.Context, tx conn, s *hyponema.Session, vars, meta string) error {
	d := tx.db.d
	_, err := tx.exec(ctx, `INSERT INTO sessions (id, workspace_id, agent_id, agent_version_id, channel, status,
		user_id, variables, metadata, inactivity_timeout_seconds, max_duration_seconds, created_at, last_activity_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.WorkspaceID, s.AgentID, s.AgentVersionID, s.Channel, s.Status, nullString(s.UserID), vars, meta,
		s.InactivityTimeoutSeconds, s.MaxDurationSeconds, d.timeArg(s.CreatedAt), d.timeArg(s.LastActivityAt),
		d.timeArg(expiresAt(s.CreatedAt, s.LastActivityAt, s.InactivityTimeoutSeconds, s.MaxDurationSeconds)))
	switch {
	case err == nil:
		return nil
	case d.isUnique(err):
		return hyponema.Errorf(hyponema.ECONFLICT, "a session with this ID exists already")
	case d.isForeignKey(err):
		return errWorkspaceNotFound()
	}
	return fmt.Errorf("store: insert session: %w", err)
}

// FindSession implements hyponema.SessionService.
func (s *SessionService) FindSession(ctx context.Context, workspaceID, id string) (*hyponema.Session, error) {
	return findSession(ctx, s.db.read(), workspaceID, id, "")
}

// FindSessionByID implements hyponema.SessionService.
func (s *SessionService) FindSessionByID(ctx context.Context, id string) (*hyponema.Session, error) {
	sess, err := scanSession(s.db.read().queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if isNoRows(err) {
		return nil, errSessionNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	return sess, nil
}

// findSession reads a session, with lock (a dialect's forUpdate, or "")
// when the caller's transaction is about to change it.
func findSession(ctx context.Context, c conn, workspaceID, id, lock string) (*hyponema.Session, error) {
	sess, err := scanSession(c.queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE workspace_id = ? AND id = ?`+lock, workspaceID, id))
	if isNoRows(err) {
		return nil, errSessionNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find session: %w", err)
	}
	return sess, nil
}

// checkSession fails with ENOTFOUND unless the session is the workspace's.
func checkSession(ctx context.Context, c conn, workspaceID, id string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM sessions WHERE workspace_id = ? AND id = ?`, workspaceID, id).Scan(&one)
	if isNoRows(err) {
		return errSessionNotFound()
	} else if err != nil {
		return fmt.Errorf("store: find session: %w", err)
	}
	return nil
}

// ListSessions implements hyponema.SessionService. Each filter has an index
// that leads with (workspace_id, filter) and ends with id, the keyset.
func (s *SessionService) ListSessions(ctx context.Context, workspaceID string, f hyponema.SessionFilter, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Session], error) {
	q := `SELECT ` + sessionColumns + ` FROM sessions WHERE workspace_id = ?`
	args := []any{workspaceID}
	if f.AgentID != "" {
		q += ` AND agent_id = ?`
		args = append(args, f.AgentID)
	}
	switch f.Status {
	case "":
	case hyponema.SessionActive, hyponema.SessionEnded:
		q += ` AND status = ?`
		args = append(args, f.Status)
	default:
		return hyponema.Page[*hyponema.Session]{}, &hyponema.Error{Code: hyponema.EINVALID,
			Message: "status: must be active or ended", Fields: []hyponema.FieldError{
				{Loc: []string{"query", "status"}, Msg: "must be active or ended", Type: "enum"}}}
	}
	if f.UserID != "" {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	return list(ctx, s.db, opt, q, args, scanSession, func(s *hyponema.Session) string { return s.ID })
}

// maxEndedReasonLen bounds a reason; the known ones are short words.
const maxEndedReasonLen = 64

// EndSession implements hyponema.SessionService. The session's row lock
// (SQLite: the write lock) makes concurrent calls take turns, so exactly
// one of them ends the session and stores its events. Ending clears any
// turn claim: no reply may run on an ended session.
func (s *SessionService) EndSession(ctx context.Context, workspaceID, id, reason string, t time.Time,
	events func(*hyponema.Session) []*hyponema.SessionEvent) (*hyponema.Session, bool, error) {
	if reason == "" || len(reason) > maxEndedReasonLen || !utf8.ValidString(reason) || strings.ContainsRune(reason, 0) {
		var v hyponema.Validation
		v.Add("invalid", fmt.Sprintf("must be 1 to %d bytes of text", maxEndedReasonLen), "ended_reason")
		return nil, false, v.Err()
	}
	t = storeTime(t)
	var sess *hyponema.Session
	var ended bool
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if sess, err = findSession(ctx, tx, workspaceID, id, s.db.d.forUpdate); err != nil {
			return err
		}
		if sess.Status == hyponema.SessionEnded {
			return nil
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET status = ?, ended_reason = ?, ended_at = ?,
			expires_at = NULL, turn_id = NULL, turn_lease_until = NULL WHERE id = ?`,
			hyponema.SessionEnded, reason, s.db.d.timeArg(t), sess.ID); err != nil {
			return fmt.Errorf("store: end session: %w", err)
		}
		sess.Status, sess.EndedReason, sess.EndedAt, ended = hyponema.SessionEnded, reason, &t, true
		if err := s.db.recordObjectEvent(ctx, tx, sess.WorkspaceID, hyponema.EventSessionEnded, sess); err != nil {
			return err
		}
		if events == nil {
			return nil
		}
		return insertSessionEvents(ctx, tx, sess, events(sess))
	})
	if err != nil {
		return nil, false, err
	}
	return sess, ended, nil
}

// TransferSession implements hyponema.SessionService.
func (s *SessionService) TransferSession(ctx context.Context, workspaceID, sessionID, agentID, versionID string) (*hyponema.Session, error) {
	var sess *hyponema.Session
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if sess, err = findSession(ctx, tx, workspaceID, sessionID, s.db.d.forUpdate); err != nil {
			return err
		}
		if sess.Status == hyponema.SessionEnded {
			return errSessionEnded()
		}
		if err := checkAgentVersion(ctx, tx, workspaceID, agentID, versionID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE sessions SET agent_id = ?, agent_version_id = ? WHERE id = ?`,
			agentID, versionID, sess.ID); err != nil {
			return fmt.Errorf("store: transfer session: %w", err)
		}
		sess.AgentID, sess.AgentVersionID = agentID, versionID
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// Bounds of ListExpiredSessions' limit, for a caller that passes none.
const (
	defaultExpiredLimit = 100
	maxExpiredLimit     = 1000
)

// ListExpiredSessions implements hyponema.SessionService. expires_at holds
// each active session's deadline (see the 0002 migration), so this is a
// range scan of the partial index on active sessions, soonest first,
// however many sessions are active. The status is a literal so that
// SQLite's planner matches the partial index.
func (s *SessionService) ListExpiredSessions(ctx context.Context, now time.Time, limit int) ([]*hyponema.Session, error) {
	if limit <= 0 {
		limit = defaultExpiredLimit
	}
	limit = min(limit, maxExpiredLimit)
	rows, err := s.db.read().query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE status = 'active' AND expires_at < ? ORDER BY expires_at LIMIT ?`, s.db.d.timeArg(storeTime(now)), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list expired sessions: %w", err)
	}
	defer rows.Close()
	out := []*hyponema.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("store: read session: %w", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list expired sessions: %w", err)
	}
	return out, nil
}

// claimAttempts bounds ClaimTurn's retries when a claim it lost to
// vanished before it could say who held it.
const claimAttempts = 3

// ClaimTurn implements hyponema.SessionService with one conditional
// UPDATE: it sets the claim only if the session is the workspace's, active,
// and unclaimed, claimed by this same turn, or claimed under a lease that
// ended. The database makes that atomic (PostgreSQL re-checks the WHERE on
// the row after a concurrent update commits; SQLite has one writer), so of
// any number of concurrent claims exactly one wins. Only when no row
// changed does it read the session to say why.
//
// The interface passes only the new lease's end, so a lease is compared
// with this process's clock, the one that the engine's leases come from.
func (s *SessionService) ClaimTurn(ctx context.Context, workspaceID, sessionID, turnID string, leaseUntil time.Time) error {
	if turnID == "" {
		return fmt.Errorf("store: ClaimTurn without a turn ID")
	}
	lease := s.db.d.timeArg(storeTime(leaseUntil))
	for attempt := 1; ; attempt++ {
		t := now()
		res, err := s.db.write().exec(ctx, claimTurnSQL, turnID, lease, workspaceID, sessionID, turnID, s.db.d.timeArg(t))
		if err != nil {
			return fmt.Errorf("store: claim turn: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 1 {
			return nil
		}
		err = claimError(ctx, s.db, workspaceID, sessionID)
		if hyponema.ErrorCode(err) != hyponema.ECONFLICT || attempt == claimAttempts {
			return err
		}
		// Unless someone holds it now, the claim was released between the
		// UPDATE and the read: try again.
		var holder sql.NullString
		if err := s.db.read().queryRow(ctx, `SELECT turn_id FROM sessions WHERE id = ?`, sessionID).Scan(&holder); err != nil || holder.Valid {
			return hyponema.Errorf(hyponema.ECONFLICT, "a reply is already being generated in this session")
		}
	}
}

// claimTurnSQL sets a turn's claim if the session is the workspace's,
// active, and unclaimed, claimed by this same turn, or claimed under a
// lease that ended.
const claimTurnSQL = `UPDATE sessions SET turn_id = ?, turn_lease_until = ?
	WHERE workspace_id = ? AND id = ? AND status = 'active'
		AND (turn_id IS NULL OR turn_id = ? OR turn_lease_until < ?)`

// claimError says why a claim failed: ENOTFOUND, ESESSIONENDED, or
// ECONFLICT (another turn holds the session).
func claimError(ctx context.Context, db *DB, workspaceID, sessionID string) error {
	var status string
	err := db.read().queryRow(ctx, `SELECT status FROM sessions WHERE workspace_id = ? AND id = ?`, workspaceID, sessionID).Scan(&status)
	switch {
	case isNoRows(err):
		return errSessionNotFound()
	case err != nil:
		return fmt.Errorf("store: read turn claim: %w", err)
	case status != hyponema.SessionActive:
		return errSessionEnded()
	}
	return hyponema.Errorf(hyponema.ECONFLICT, "a reply is already being generated in this session")
}

func errSessionEnded() error { return hyponema.Errorf(hyponema.ESESSIONENDED, "the session has ended") }

// RenewTurn implements hyponema.SessionService. It renews a claim that the
// turn still holds even if its lease ran out, as long as no other turn took
// the session over in the meantime (and ReleaseExpiredTurns did not clear
// it).
func (s *SessionService) RenewTurn(ctx context.Context, sessionID, turnID string, leaseUntil time.Time) error {
	res, err := s.db.write().exec(ctx, `UPDATE sessions SET turn_lease_until = ? WHERE id = ? AND turn_id = ?`,
		s.db.d.timeArg(storeTime(leaseUntil)), sessionID, turnID)
	if err != nil {
		return fmt.Errorf("store: renew turn: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return hyponema.Errorf(hyponema.ECONFLICT, "the turn no longer holds the session")
	}
	return nil
}

// ReleaseTurn implements hyponema.SessionService: a turn that no longer
// holds the claim changes nothing.
func (s *SessionService) ReleaseTurn(ctx context.Context, sessionID, turnID string) error {
	if _, err := s.db.write().exec(ctx, `UPDATE sessions SET turn_id = NULL, turn_lease_until = NULL
		WHERE id = ? AND turn_id = ?`, sessionID, turnID); err != nil {
		return fmt.Errorf("store: release turn: %w", err)
	}
	return nil
}

// ReleaseExpiredTurns implements hyponema.SessionService with one UPDATE …
// RETURNING (both databases have it) over the partial index of claimed
// sessions.
func (s *SessionService) ReleaseExpiredTurns(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := s.db.write().query(ctx, `UPDATE sessions SET turn_id = NULL, turn_lease_until = NULL
		WHERE turn_id IS NOT NULL AND turn_lease_until < ? RETURNING id`, s.db.d.timeArg(storeTime(now)))
	if err != nil {
		return nil, fmt.Errorf("store: release expired turns: %w", err)
	}
	defer rows.Close()
	ids := []string{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: release expired turns: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: release expired turns: %w", err)
	}
	return ids, nil
}
