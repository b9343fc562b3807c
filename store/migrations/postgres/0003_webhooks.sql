-- Workspace events and outbound webhooks.
--
-- Same conventions as 0001: TEXT COLLATE "C" IDs, TIMESTAMPTZ times.

-- events is the transactional outbox: each row is written in the same
-- transaction as the change it reports, together with the job-queue rows
-- that deliver it. data is the object's JSON exactly as it is delivered,
-- hence TEXT rather than JSONB.
CREATE TABLE events (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	type         TEXT NOT NULL,
	data         TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX events_workspace_id_id ON events (workspace_id, id);
CREATE INDEX events_workspace_id_type_id ON events (workspace_id, type, id);

-- secret and previous_secret are sealed (encrypted with a key derived from
-- HYPONEMA_SECRET_KEY) by the webhook service; the store never sees them
-- in the clear. events is a JSON array of type filters.
CREATE TABLE webhook_endpoints (
	id                         TEXT COLLATE "C" PRIMARY KEY,
	workspace_id               TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	url                        TEXT NOT NULL,
	events                     JSONB NOT NULL,
	enabled                    BOOLEAN NOT NULL,
	description                TEXT NOT NULL,
	disabled_reason            TEXT NOT NULL DEFAULT '',
	failing_since              TIMESTAMPTZ,
	secret                     TEXT NOT NULL,
	previous_secret            TEXT NOT NULL DEFAULT '',
	previous_secret_expires_at TIMESTAMPTZ,
	created_at                 TIMESTAMPTZ NOT NULL,
	updated_at                 TIMESTAMPTZ NOT NULL,
	UNIQUE (workspace_id, id)
);

-- One row per try. Deleting an endpoint deletes its log.
CREATE TABLE webhook_deliveries (
	id              TEXT COLLATE "C" PRIMARY KEY,
	workspace_id    TEXT COLLATE "C" NOT NULL,
	webhook_id      TEXT COLLATE "C" NOT NULL,
	event_id        TEXT COLLATE "C" NOT NULL,
	event_type      TEXT NOT NULL,
	attempt         INTEGER NOT NULL,
	trigger         TEXT NOT NULL,
	status          TEXT NOT NULL,
	response_status INTEGER,
	response_body   TEXT NOT NULL,
	error           TEXT NOT NULL,
	latency_ms      INTEGER NOT NULL,
	next_retry_at   TIMESTAMPTZ,
	created_at      TIMESTAMPTZ NOT NULL,
	FOREIGN KEY (workspace_id, webhook_id) REFERENCES webhook_endpoints (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_webhook_id_id ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_webhook_id_event_id ON webhook_deliveries (webhook_id, event_id);
