-- The first schema: workspaces, API keys, personas, agents, their versions
-- and publications, and idempotency records.
--
-- IDs are TEXT COLLATE "C" (prefix + lower-case ULID): lists page through
-- them by id, which must compare byte by byte whatever the database's
-- locale. Times are TIMESTAMPTZ (microseconds, what the store rounds to).

CREATE TABLE workspaces (
	id         TEXT COLLATE "C" PRIMARY KEY,
	name       TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	hash         TEXT COLLATE "C" NOT NULL, -- hex SHA-256 of the secret; the secret itself is never stored
	created_at   TIMESTAMPTZ NOT NULL,
	last_used_at TIMESTAMPTZ,
	revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX api_keys_hash ON api_keys (hash);
CREATE INDEX api_keys_workspace_id_id ON api_keys (workspace_id, id);

-- A persona's draft is its config (the whole hyponema.PersonaConfig as
-- JSON); name is copied out of it for people reading the table.
CREATE TABLE personas (
	id                   TEXT COLLATE "C" PRIMARY KEY,
	workspace_id         TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	name                 TEXT NOT NULL,
	config               JSONB NOT NULL,
	published_version_id TEXT COLLATE "C", -- references persona_versions, below
	created_at           TIMESTAMPTZ NOT NULL,
	updated_at           TIMESTAMPTZ NOT NULL,
	deleted_at           TIMESTAMPTZ
);
CREATE INDEX personas_workspace_id_id ON personas (workspace_id, id);

CREATE TABLE persona_versions (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	persona_id   TEXT COLLATE "C" NOT NULL REFERENCES personas (id),
	number       INTEGER NOT NULL,
	note         TEXT NOT NULL,
	config       JSONB NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	UNIQUE (persona_id, number)
);
CREATE INDEX persona_versions_persona_id_id ON persona_versions (persona_id, id);
ALTER TABLE personas ADD CONSTRAINT personas_published_version_id_fkey
	FOREIGN KEY (published_version_id) REFERENCES persona_versions (id);

-- Every publish appends a row; the live version is the newest row that was
-- not rolled back (mirrored in personas.published_version_id).
CREATE TABLE persona_publications (
	id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	persona_id     TEXT COLLATE "C" NOT NULL REFERENCES personas (id),
	version_id     TEXT COLLATE "C" NOT NULL REFERENCES persona_versions (id),
	published_at   TIMESTAMPTZ NOT NULL,
	rolled_back_at TIMESTAMPTZ
);
CREATE INDEX persona_publications_persona_id_id ON persona_publications (persona_id, id);

-- An agent's draft is its config (the whole hyponema.AgentConfig as JSON);
-- name and persona_id are copied out of it so that they can be queried.
CREATE TABLE agents (
	id                   TEXT COLLATE "C" PRIMARY KEY,
	workspace_id         TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	name                 TEXT NOT NULL,
	persona_id           TEXT COLLATE "C" REFERENCES personas (id),
	config               JSONB NOT NULL,
	published_version_id TEXT COLLATE "C", -- references agent_versions, below
	created_at           TIMESTAMPTZ NOT NULL,
	updated_at           TIMESTAMPTZ NOT NULL,
	deleted_at           TIMESTAMPTZ
);
CREATE INDEX agents_workspace_id_id ON agents (workspace_id, id);
-- For DeletePersona: is a live agent's draft using this persona?
CREATE INDEX agents_persona_id ON agents (persona_id) WHERE deleted_at IS NULL;

CREATE TABLE agent_versions (
	id                 TEXT COLLATE "C" PRIMARY KEY,
	workspace_id       TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	agent_id           TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
	number             INTEGER NOT NULL,
	note               TEXT NOT NULL,
	persona_version_id TEXT COLLATE "C" REFERENCES persona_versions (id),
	config             JSONB NOT NULL,
	created_at         TIMESTAMPTZ NOT NULL,
	UNIQUE (agent_id, number)
);
CREATE INDEX agent_versions_agent_id_id ON agent_versions (agent_id, id);
ALTER TABLE agents ADD CONSTRAINT agents_published_version_id_fkey
	FOREIGN KEY (published_version_id) REFERENCES agent_versions (id);

CREATE TABLE agent_publications (
	id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	agent_id       TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
	version_id     TEXT COLLATE "C" NOT NULL REFERENCES agent_versions (id),
	published_at   TIMESTAMPTZ NOT NULL,
	rolled_back_at TIMESTAMPTZ
);
CREATE INDEX agent_publications_agent_id_id ON agent_publications (agent_id, id);

-- scope is the credential's workspace; a key means nothing outside it.
CREATE TABLE idempotency_keys (
	scope           TEXT NOT NULL,
	idempotency_key TEXT NOT NULL,
	request_hash    TEXT NOT NULL,
	done            BOOLEAN NOT NULL DEFAULT FALSE,
	status          INTEGER NOT NULL DEFAULT 0,
	content_type    TEXT NOT NULL DEFAULT '',
	body            BYTEA,
	created_at      TIMESTAMPTZ NOT NULL,
	locked_at       TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
