-- generation counts the syncs asked for of a source: ingestion's result
-- applies only to the generation it read, so that a sync asked for while
-- a job runs is never lost to that job's older document.
ALTER TABLE sources ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

-- citations is the JSON array of the knowledge-base passages an assistant
-- message was given ([] for others).
ALTER TABLE messages ADD COLUMN citations JSONB NOT NULL DEFAULT '[]';

-- Lexical search reads the tsv of every chunk it ranks: keep it in the
-- row (compressed if need be) rather than out of line, which costs a
-- TOAST index lookup per chunk; the text, read only for the hits, goes out
-- of line first when a row is too wide.
ALTER TABLE chunks ALTER COLUMN tsv SET STORAGE MAIN;
