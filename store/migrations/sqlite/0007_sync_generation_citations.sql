-- generation counts the syncs asked for of a source: ingestion's result
-- applies only to the generation it read, so that a sync asked for while
-- a job runs is never lost to that job's older document.
ALTER TABLE sources ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- citations is the JSON array of the knowledge-base passages an assistant
-- message was given ([] for others).
ALTER TABLE messages ADD COLUMN citations TEXT NOT NULL DEFAULT '[]';
