-- Tools, their attachment to agents' drafts, and the copy that each agent
-- version keeps of the tools attached when it was made.

-- parameters is the JSON Schema exactly as given; config is the http or
-- mcp configuration as JSON. Header values hold templates that name
-- workspace secrets, never the secrets themselves.
CREATE TABLE tools (
	id           TEXT COLLATE "C" PRIMARY KEY,
	workspace_id TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	name         TEXT NOT NULL,
	description  TEXT NOT NULL,
	type         TEXT NOT NULL,
	parameters   TEXT NOT NULL,
	config       TEXT NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	updated_at   TIMESTAMPTZ NOT NULL,
	UNIQUE (workspace_id, name),
	UNIQUE (workspace_id, id)
);

-- position orders an agent's tools as they were attached.
CREATE TABLE agent_tools (
	agent_id     TEXT COLLATE "C" NOT NULL REFERENCES agents (id),
	tool_id      TEXT COLLATE "C" NOT NULL REFERENCES tools (id) ON DELETE CASCADE,
	workspace_id TEXT COLLATE "C" NOT NULL,
	position     INTEGER NOT NULL,
	created_at   TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (agent_id, tool_id)
);
CREATE INDEX agent_tools_tool_id ON agent_tools (tool_id);

ALTER TABLE agent_versions ADD COLUMN tools TEXT NOT NULL DEFAULT '[]';
