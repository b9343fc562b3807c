-- Knowledge bases, their sources and the chunks that retrieval searches.
--
-- Same conventions as 0001: TEXT COLLATE "C" IDs, TIMESTAMPTZ times.

-- chunks_version counts the changes to the knowledge base's chunks
-- (ReplaceChunks, DeleteSource). A process that keeps the embeddings of a
-- knowledge base in memory reads it to know whether its copy is current,
-- whichever replica made the change. chunk_count is how many chunks it
-- has, which a search weighs to choose its plan.
CREATE TABLE knowledge_bases (
	id             TEXT COLLATE "C" PRIMARY KEY,
	workspace_id   TEXT COLLATE "C" NOT NULL REFERENCES workspaces (id),
	name           TEXT NOT NULL,
	description    TEXT NOT NULL,
	chunks_version BIGINT NOT NULL DEFAULT 0,
	chunk_count    BIGINT NOT NULL DEFAULT 0,
	created_at     TIMESTAMPTZ NOT NULL,
	updated_at     TIMESTAMPTZ NOT NULL,
	UNIQUE (workspace_id, id)
);

-- Deleting a knowledge base deletes its sources, which delete their
-- contents and chunks.
CREATE TABLE sources (
	id                TEXT COLLATE "C" PRIMARY KEY,
	workspace_id      TEXT COLLATE "C" NOT NULL,
	knowledge_base_id TEXT COLLATE "C" NOT NULL,
	type              TEXT NOT NULL,
	name              TEXT NOT NULL,
	url               TEXT NOT NULL,
	content_type      TEXT NOT NULL,
	size              BIGINT NOT NULL,
	status            TEXT NOT NULL,
	error             TEXT NOT NULL,
	chunk_count       INTEGER NOT NULL,
	created_at        TIMESTAMPTZ NOT NULL,
	updated_at        TIMESTAMPTZ NOT NULL,
	synced_at         TIMESTAMPTZ,
	UNIQUE (workspace_id, id),
	FOREIGN KEY (workspace_id, knowledge_base_id) REFERENCES knowledge_bases (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX sources_workspace_id_knowledge_base_id_id ON sources (workspace_id, knowledge_base_id, id);

-- The raw content of a source (the text given, or the uploaded file), apart
-- from sources so that listing sources never reads it.
CREATE TABLE source_contents (
	source_id TEXT COLLATE "C" PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
	content   BYTEA NOT NULL
);

-- seq is the chunk's row key, by which the search code refers to chunks.
-- embedding is the vector as little-endian float32s, or NULL: the same
-- bytes as on SQLite, scored in Go (pgvector is not assumed). tsv is the
-- full-text vector of the heading (weight A) and the text, with English
-- stemming ("returns" finds "return").
CREATE TABLE chunks (
	seq               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id                TEXT COLLATE "C" NOT NULL UNIQUE,
	workspace_id      TEXT COLLATE "C" NOT NULL,
	knowledge_base_id TEXT COLLATE "C" NOT NULL,
	source_id         TEXT COLLATE "C" NOT NULL,
	idx               INTEGER NOT NULL,
	heading           TEXT NOT NULL,
	text              TEXT NOT NULL,
	tokens            INTEGER NOT NULL,
	embedding         BYTEA,
	created_at        TIMESTAMPTZ NOT NULL,
	tsv               TSVECTOR GENERATED ALWAYS AS
		(setweight(to_tsvector('english', heading), 'A') || to_tsvector('english', text)) STORED,
	FOREIGN KEY (workspace_id, source_id) REFERENCES sources (workspace_id, id) ON DELETE CASCADE
);
-- Embeddings are random-looking bytes that do not compress: keep them out
-- of line uncompressed, so that the rows that full-text ranking reads stay
-- small.
ALTER TABLE chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;
CREATE INDEX chunks_workspace_id_source_id_id ON chunks (workspace_id, source_id, id);
CREATE INDEX chunks_workspace_id_knowledge_base_id_id ON chunks (workspace_id, knowledge_base_id, id);
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
