-- Workspace secrets, which tools name in their header templates.
--
-- value is sealed (encrypted with a key derived from HYPONEMA_SECRET_KEY,
-- bound to the workspace and the name) by the secret service; a copy of
-- the database alone reveals none of the values. name is COLLATE "C" so
-- that secrets list in the same order as on SQLite.
CREATE TABLE secrets (
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	name         TEXT COLLATE "C" NOT NULL,
	value        TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (workspace_id, name)
);
