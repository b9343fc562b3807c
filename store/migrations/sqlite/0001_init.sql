-- The first schema: workspaces, API keys, personas, agents, their versions
-- and publications, and idempotency records.
--
-- Times are TEXT in UTC with exactly six fractional digits
-- (2026-11-29T06:36:28.123456Z): fixed width, so they compare and sort as
-- text, and they keep the microseconds that the store rounds to.
-- IDs are TEXT (prefix + lower-case ULID); lists page through them by id.
-- Tables are STRICT, so a value of the wrong type fails loudly.

CREATE TABLE workspaces (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	hash         TEXT NOT NULL, -- hex SHA-256 of the secret; the secret itself is never stored
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	revoked_at   TEXT
) STRICT;
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
CREATE INDEX api_keys_workspace_id_id ON api_keys (workspace_id, id);

-- A persona's draft is its config (the whole hyponema.PersonaConfig as
-- JSON); name is copied out of it for people reading the table.
CREATE TABLE personas (
	id                   TEXT PRIMARY KEY,
	workspace_id         TEXT NOT NULL REFERENCES workspaces (id),
	name                 TEXT NOT NULL,
	config               TEXT NOT NULL,
	published_version_id TEXT REFERENCES persona_versions (id),
	created_at           TEXT NOT NULL,
	updated_at           TEXT NOT NULL,
	deleted_at           TEXT
) STRICT;
CREATE INDEX personas_workspace_id_id ON personas (workspace_id, id);

CREATE TABLE persona_versions (
	id           TEXT PRIMARY KEY,
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	persona_id   TEXT NOT NULL REFERENCES personas (id),
	number       INTEGER NOT NULL,
	note         TEXT NOT NULL,
	config       TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	UNIQUE (persona_id, number)
) STRICT;
CREATE INDEX persona_versions_persona_id_id ON persona_versions (persona_id, id);

-- Every publish appends a row; the live version is the newest row that was
-- not rolled back (mirrored in personas.published_version_id).
CREATE TABLE persona_publications (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	persona_id     TEXT NOT NULL REFERENCES personas (id),
	version_id     TEXT NOT NULL REFERENCES persona_versions (id),
	published_at   TEXT NOT NULL,
	rolled_back_at TEXT
) STRICT;
CREATE INDEX persona_publications_persona_id_id ON persona_publications (persona_id, id);

-- An agent's draft is its config (the whole hyponema.AgentConfig as JSON);
-- name and persona_id are copied out of it so that they can be queried.
CREATE TABLE agents (
	id                   TEXT PRIMARY KEY,
	workspace_id         TEXT NOT NULL REFERENCES workspaces (id),
	name                 TEXT NOT NULL,
	persona_id           TEXT REFERENCES personas (id),
	config               TEXT NOT NULL,
	published_version_id TEXT REFERENCES agent_versions (id),
	created_at           TEXT NOT NULL,
	updated_at           TEXT NOT NULL,
	deleted_at           TEXT
) STRICT;
CREATE INDEX agents_workspace_id_id ON agents (workspace_id, id);
-- For DeletePersona: is a live agent's draft using this persona?
CREATE INDEX agents_persona_id ON agents (persona_id) WHERE deleted_at IS NULL;

CREATE TABLE agent_versions (
	id                 TEXT PRIMARY KEY,
	workspace_id       TEXT NOT NULL REFERENCES workspaces (id),
	agent_id           TEXT NOT NULL REFERENCES agents (id),
	number             INTEGER NOT NULL,
	note               TEXT NOT NULL,
	persona_version_id TEXT REFERENCES persona_versions (id),
	config             TEXT NOT NULL,
	created_at         TEXT NOT NULL,
	UNIQUE (agent_id, number)
) STRICT;
CREATE INDEX agent_versions_agent_id_id ON agent_versions (agent_id, id);

CREATE TABLE agent_publications (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	agent_id       TEXT NOT NULL REFERENCES agents (id),
	version_id     TEXT NOT NULL REFERENCES agent_versions (id),
	published_at   TEXT NOT NULL,
	rolled_back_at TEXT
) STRICT;
CREATE INDEX agent_publications_agent_id_id ON agent_publications (agent_id, id);

-- scope is the credential's workspace; a key means nothing outside it.
CREATE TABLE idempotency_keys (
	scope           TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	request_hash    TEXT NOT NULL,
	done            INTEGER NOT NULL DEFAULT 0,
	status          INTEGER NOT NULL DEFAULT 0,
	content_type    TEXT NOT NULL DEFAULT '',
	body            BLOB,
	created_at      TEXT NOT NULL,
	locked_at       TEXT NOT NULL,
	PRIMARY KEY (scope, idempotency_key)
) STRICT;
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
