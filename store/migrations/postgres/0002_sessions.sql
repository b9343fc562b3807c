-- Sessions: end users, sessions, their transcripts and event logs.
--
-- Same conventions as 0001: TEXT COLLATE "C" IDs, TIMESTAMPTZ times,
-- JSONB for JSON that the store decodes.

-- An end user is known by the customer's own ID, unique in the workspace.
CREATE TABLE end_users (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	external_id  TEXT NOT NULL,
	name         TEXT NOT NULL,
	metadata     JSONB NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	UNIQUE (workspace_id, external_id)
);

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
	id                         TEXT COLLATE "C" PRIMARY KEY,
	workspace_id               TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	agent_id                   TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
	agent_version_id           TEXT COLLATE "C" NOT NULL REFERENCES agent_versions (id),
	channel                    TEXT NOT NULL,
	status                     TEXT NOT NULL,
	ended_reason               TEXT NOT NULL DEFAULT '',
	user_id                    TEXT COLLATE "C" REFERENCES end_users (id),
	variables                  JSONB NOT NULL,
	metadata                   JSONB NOT NULL,
	inactivity_timeout_seconds INTEGER NOT NULL,
	max_duration_seconds       INTEGER NOT NULL,
	created_at                 TIMESTAMPTZ NOT NULL,
	last_activity_at           TIMESTAMPTZ NOT NULL,
	ended_at                   TIMESTAMPTZ,
	expires_at                 TIMESTAMPTZ,
	turn_id                    TEXT COLLATE "C",
	turn_lease_until           TIMESTAMPTZ,
	UNIQUE (workspace_id, id)
);
CREATE INDEX sessions_workspace_id_agent_id_id ON sessions (workspace_id, agent_id, id);
CREATE INDEX sessions_workspace_id_status_id ON sessions (workspace_id, status, id);
CREATE INDEX sessions_workspace_id_user_id_id ON sessions (workspace_id, user_id, id) WHERE user_id IS NOT NULL;
-- ListExpiredSessions: only active sessions are in it.
CREATE INDEX sessions_expires_at ON sessions (expires_at) WHERE status = 'active';
-- ReleaseExpiredTurns: only claimed sessions are in it.
CREATE INDEX sessions_turn_lease_until ON sessions (turn_lease_until) WHERE turn_id IS NOT NULL;

-- tool_calls is a JSON array, usage a JSON object or NULL.
CREATE TABLE messages (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL,
	session_id   TEXT COLLATE "C" NOT NULL,
	role         TEXT NOT NULL,
	text         TEXT NOT NULL,
	status       TEXT NOT NULL,
	tool_calls   JSONB NOT NULL,
	usage        JSONB,
	ttft_ms      INTEGER,
	latency_ms   INTEGER,
	error        TEXT NOT NULL DEFAULT '',
	created_at   TIMESTAMPTZ NOT NULL,
	FOREIGN KEY (workspace_id, session_id) REFERENCES sessions (workspace_id, id)
);
CREATE INDEX messages_session_id_id ON messages (session_id, id);

-- data is the event's JSON exactly as the caller gave it (SSE replays it
-- byte for byte): TEXT, because JSONB would reorder keys and drop spaces.
CREATE TABLE session_events (
	session_id   TEXT COLLATE "C" NOT NULL,
	seq          BIGINT NOT NULL,
	workspace_id TEXT COLLATE "C" NOT NULL,
	type         TEXT NOT NULL,
	data         TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (session_id, seq),
	FOREIGN KEY (workspace_id, session_id) REFERENCES sessions (workspace_id, id)
);
