-- Workspace secrets, which tools name in their header templates.
--
-- value is sealed (encrypted with a key derived from HYPONEMA_SECRET_KEY,
-- bound to the workspace and the name) by the secret service; a copy of
-- the database alone reveals none of the values.
CREATE TABLE secrets (
	workspace_id TEXT NOT NULL REFERENCES workspaces (id),
	name         TEXT NOT NULL,
	value        TEXT NOT NULL,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	PRIMARY KEY (workspace_id, name)
) STRICT;
