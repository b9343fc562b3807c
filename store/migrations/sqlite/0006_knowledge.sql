-- Knowledge bases, their sources and the chunks that retrieval searches.
--
-- Same conventions as 0001: TEXT times in UTC with six fractional digits,
-- TEXT IDs, STRICT tables.

-- chunks_version counts the changes to the knowledge base's chunks
-- (ReplaceChunks, DeleteSource). A process that keeps the embeddings of a
-- knowledge base in memory reads it to know whether its copy is current,
-- whichever replica made the change. chunk_count is how many chunks it
-- has, which a search weighs to choose its plan.
CREATE TABLE knowledge_bases (
	id             TEXT PRIMARY KEY,
	workspace_id   TEXT NOT NULL REFERENCES workspaces (id),
	name           TEXT NOT NULL,
	description    TEXT NOT NULL,
	chunks_version INTEGER NOT NULL DEFAULT 0,
	chunk_count    INTEGER NOT NULL DEFAULT 0,
	created_at     TEXT NOT NULL,
	updated_at     TEXT NOT NULL,
	UNIQUE (workspace_id, id)
) STRICT;

-- Deleting a knowledge base deletes its sources, which delete their
-- contents and chunks.
CREATE TABLE sources (
	id                TEXT PRIMARY KEY,
	workspace_id      TEXT NOT NULL,
	knowledge_base_id TEXT NOT NULL,
	type              TEXT NOT NULL,
	name              TEXT NOT NULL,
	url               TEXT NOT NULL,
	content_type      TEXT NOT NULL,
	size              INTEGER NOT NULL,
	status            TEXT NOT NULL,
	error             TEXT NOT NULL,
	chunk_count       INTEGER NOT NULL,
	created_at        TEXT NOT NULL,
	updated_at        TEXT NOT NULL,
	synced_at         TEXT,
	UNIQUE (workspace_id, id),
	FOREIGN KEY (workspace_id, knowledge_base_id) REFERENCES knowledge_bases (workspace_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX sources_workspace_id_knowledge_base_id_id ON sources (workspace_id, knowledge_base_id, id);

-- The raw content of a source (the text given, or the uploaded file), apart
-- from sources so that listing sources never reads it.
CREATE TABLE source_contents (
	source_id TEXT PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
	content   BLOB NOT NULL
) STRICT;

-- seq is the chunk's row ID: the full-text index (external content) and
-- the search code refer to chunks by it. AUTOINCREMENT keeps a deleted
-- chunk's seq from being reused. embedding is the vector as little-endian
-- float32s, or NULL.
CREATE TABLE chunks (
	seq               INTEGER PRIMARY KEY AUTOINCREMENT,
	id                TEXT NOT NULL UNIQUE,
	workspace_id      TEXT NOT NULL,
	knowledge_base_id TEXT NOT NULL,
	source_id         TEXT NOT NULL,
	idx               INTEGER NOT NULL,
	heading           TEXT NOT NULL,
	text              TEXT NOT NULL,
	tokens            INTEGER NOT NULL,
	embedding         BLOB,
	created_at        TEXT NOT NULL,
	FOREIGN KEY (workspace_id, source_id) REFERENCES sources (workspace_id, id) ON DELETE CASCADE
) STRICT;
CREATE INDEX chunks_workspace_id_source_id_id ON chunks (workspace_id, source_id, id);
CREATE INDEX chunks_workspace_id_knowledge_base_id_id ON chunks (workspace_id, knowledge_base_id, id);

-- The full-text index of chunks' headings and texts, with English stemming
-- ("returns" finds "return"). knowledge_base_id is indexed too, so that a
-- search filters by knowledge base inside the index instead of ranking
-- every workspace's matches; its weight in the ranking is 0. The triggers
-- keep the index in step with chunks, including the deletes that cascade
-- from sources and knowledge bases.
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
	knowledge_base_id, heading, text,
	content = 'chunks', content_rowid = 'seq',
	tokenize = 'porter unicode61 remove_diacritics 2'
);
INSERT INTO chunks_fts (chunks_fts, rank) VALUES ('rank', 'bm25(0.0, 2.0, 1.0)');

CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
	INSERT INTO chunks_fts (rowid, knowledge_base_id, heading, text)
	VALUES (new.seq, new.knowledge_base_id, new.heading, new.text);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
	INSERT INTO chunks_fts (chunks_fts, rowid, knowledge_base_id, heading, text)
	VALUES ('delete', old.seq, old.knowledge_base_id, old.heading, old.text);
END;
CREATE TRIGGER chunks_fts_update AFTER UPDATE OF knowledge_base_id, heading, text ON chunks BEGIN
	INSERT INTO chunks_fts (chunks_fts, rowid, knowledge_base_id, heading, text)
	VALUES ('delete', old.seq, old.knowledge_base_id, old.heading, old.text);
	INSERT INTO chunks_fts (rowid, knowledge_base_id, heading, text)
	VALUES (new.seq, new.knowledge_base_id, new.heading, new.text);
END;
