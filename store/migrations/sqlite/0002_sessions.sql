-- Sessions: end users, sessions, their transcripts and event logs.
--
-- Same conventions as 0001: TEXT times in UTC with six fractional digits,
-- TEXT IDs, STRICT tables.

-- An end user is known by the customer's own ID, unique in the workspace.
CREATE TABLE end_users (
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	external_id  TEXT NOT NULL,
	name         TEXT NOT NULL,
	metadata     TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	UNIQUE (workspace_id, external_id)
) STRICT;

-- expires_at is min(last_activity_at + inactivity_timeout_seconds,
-- created_at + max_duration_seconds), kept by the store whenever
-- last_activity_at moves. Time arithmetic on columns is not portable
-- (SQLite holds times as text), so the deadline is computed in Go and
-- stored; expiry is then one range scan of a small partial index.
--
-- turn_id and turn_lease_until record which turn (one reply being
-- generated) holds the session, and until when.
--
-- UNIQUE (workspace_id, id) is the index that lists a workspace's
-- sessions, and the key that messages and events reference, so that a
-- message or event can never name another workspace's session.
CREATE TABLE sessions (
	id                         TEXT PRIMARY KEY,
	workspace_id               TEXT NOT NULL REFERENCES workspaces (id),
	agent_id                   TEXT NOT NULL REFERENCES agents (id),
	agent_version_id           TEXT NOT NULL REFERENCES agent_versions (id),
	channel                    TEXT NOT NULL,
	status                     TEXT NOT NULL,
	ended_reason               TEXT NOT NULL DEFAULT '',
	user_id                    TEXT REFERENCES end_users (id),
	variables                  TEXT NOT NULL,
	metadata                   TEXT NOT NULL,
	inactivity_timeout_seconds INTEGER NOT NULL,
	max_duration_seconds       INTEGER NOT NULL,
	created_at                 TEXT NOT NULL,
	last_activity_at           TEXT NOT NULL,
	ended_at                   TEXT,
	expires_at                 TEXT,
	turn_id                    TEXT,
	turn_lease_until           TEXT,
	UNIQUE (workspace_id, id)
) STRICT;
CREATE INDEX sessions_workspace_id_agent_id_id ON sessions (workspace_id, agent_id, id);
CREATE INDEX sessions_workspace_id_status_id ON sessions (workspace_id, status, id);
CREATE INDEX sessions_workspace_id_user_id_id ON sessions (workspace_id, user_id, id) WHERE user_id IS NOT NULL;
-- ListExpiredSessions: only active sessions are in it.
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE status = 'active';
-- ReleaseExpiredTurns: only claimed sessions are in it.
CREATE INDEX sessions_turn_lease_until ON sessions (turn_lease_until) WHERE turn_id IS NOT NULL;

-- tool_calls is a JSON array, usage a JSON object or NULL.
CREATE TABLE messages (
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL,
	session_id   TEXT NOT NULL,
	role         TEXT NOT NULL,
	text         TEXT NOT NULL,
	status       TEXT NOT NULL,
	tool_calls   TEXT NOT NULL,
	usage        TEXT,
	ttft_ms      INTEGER,
	latency_ms   INTEGER,
	error        TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	FOREIGN KEY (workspace_id, session_id) REFERENCES sessions (workspace_id, id)
) STRICT;
CREATE INDEX messages_session_id_id ON messages (session_id, id);

-- data is the event's JSON exactly as the caller gave it (SSE replays it
-- byte for byte), hence TEXT rather than a JSON type.
CREATE TABLE session_events (
	session_id   TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	workspace_id TEXT NOT NULL,
	type         TEXT NOT NULL,
	data         TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	PRIMARY KEY (session_id, seq),
	FOREIGN KEY (workspace_id, session_id) REFERENCES sessions (workspace_id, id)
) STRICT;
