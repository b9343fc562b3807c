package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hyponema/hyponema"
)

// KnowledgeService stores knowledge bases, their sources and chunks, and
// searches the chunks: full-text search in the database (FTS5 on SQLite,
// tsvector on PostgreSQL) fused with cosine similarity computed in Go over
// the stored embeddings.
//
// The knowledge services of a DB keep the embeddings of the knowledge
// bases they search in memory, together, up to a budget
// (SetVectorCacheBytes), checked against a version that every change of
// chunks bumps in the database, so that a copy is never used once any
// replica changed the knowledge base.
type KnowledgeService struct {
	db *DB
	*knowledgeCaches
}

// knowledgeCaches are what the knowledge services of a DB share.
type knowledgeCaches struct {
	vecs   *vectorCache
	counts *termCounts  // SQLite
	stats  *lexemeStats // PostgreSQL
}

// SourceQueue queues the ingestion of a knowledge source inside the
// transaction that creates it or marks it pending again, so that a source
// is ingested if and only if that change commits. The knowledge package's
// Queue (River) implements it on the same database.
type SourceQueue interface {
	EnqueueIngest(ctx context.Context, tx *sql.Tx, workspaceID, kbID, sourceID string) error
}

// SetSourceQueue makes CreateSource and SetSourcePending queue the
// source's ingestion on q. Call it before serving; without it sources stay
// pending until something else ingests them.
func (db *DB) SetSourceQueue(q SourceQueue) { db.sourceQueue = q }

// enqueueIngest queues the source's ingestion in tx, if a queue is set.
func (db *DB) enqueueIngest(ctx context.Context, tx conn, workspaceID, kbID, sourceID string) error {
	if db.sourceQueue == nil || tx.tx == nil {
		return nil
	}
	if err := db.sourceQueue.EnqueueIngest(ctx, tx.tx, workspaceID, kbID, sourceID); err != nil {
		return fmt.Errorf("store: queue ingestion: %w", err)
	}
	return nil
}

var _ hyponema.KnowledgeService = (*KnowledgeService)(nil)

// DefaultVectorCacheBytes is how much memory a KnowledgeService spends on
// embeddings by default: 100,000 chunks of 256 dimensions take 100 MiB.
const DefaultVectorCacheBytes = 256 << 20

// NewKnowledgeService returns a knowledge service of db. Those of one DB
// share their caches.
func NewKnowledgeService(db *DB) *KnowledgeService {
	db.knowledgeOnce.Do(func() {
		db.knowledge = &knowledgeCaches{vecs: newVectorCache(DefaultVectorCacheBytes), counts: newTermCounts(),
			stats: &lexemeStats{}}
	})
	return &KnowledgeService{db: db, knowledgeCaches: db.knowledge}
}

// SetVectorCacheBytes sets the memory budget for the embeddings that the
// knowledge services of the DB keep between searches; 0 keeps none, so
// that every vector search reads them from the database. A knowledge base
// whose embeddings exceed the budget is always read from the database.
func (s *KnowledgeService) SetVectorCacheBytes(n int64) { s.vecs.setMax(n) }

func errKnowledgeBaseNotFound() error {
	return hyponema.Errorf(hyponema.ENOTFOUND, "knowledge base not found")
}

func errSourceNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "source not found") }

func errChunkNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "chunk not found") }

// maxSourceErrorLen bounds the reason that FailSource stores.
const maxSourceErrorLen = 1000

// knowledgeBaseColumns are those that CreateKnowledgeBase writes; reads
// add chunk_count, which the chunks' changes keep.
const knowledgeBaseColumns = `id, workspace_id, name, description, created_at, updated_at`

func scanKnowledgeBase(row scanner) (*hyponema.KnowledgeBase, error) {
	var kb hyponema.KnowledgeBase
	if err := row.Scan(&kb.ID, &kb.WorkspaceID, &kb.Name, &kb.Description,
		timeCol{&kb.CreatedAt}, timeCol{&kb.UpdatedAt}, &kb.ChunkCount); err != nil {
		return nil, err
	}
	return &kb, nil
}

// CreateKnowledgeBase implements hyponema.KnowledgeService.
func (s *KnowledgeService) CreateKnowledgeBase(ctx context.Context, kb *hyponema.KnowledgeBase) error {
	kb.Name = strings.TrimSpace(kb.Name)
	if err := kb.Validate(); err != nil {
		return err
	}
	kb.ID, kb.CreatedAt = hyponema.NewID(hyponema.PrefixKnowledgeBase), now()
	kb.UpdatedAt = kb.CreatedAt
	at := s.db.d.timeArg(kb.CreatedAt)
	_, err := s.db.write().exec(ctx, `INSERT INTO knowledge_bases (`+knowledgeBaseColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		kb.ID, kb.WorkspaceID, kb.Name, kb.Description, at, at)
	switch {
	case err == nil:
		return nil
	case s.db.d.isForeignKey(err):
		return errWorkspaceNotFound()
	default:
		return fmt.Errorf("store: insert knowledge base: %w", err)
	}
}

// FindKnowledgeBase implements hyponema.KnowledgeService.
func (s *KnowledgeService) FindKnowledgeBase(ctx context.Context, workspaceID, id string) (*hyponema.KnowledgeBase, error) {
	return findKnowledgeBase(ctx, s.db.read(), workspaceID, id)
}

func findKnowledgeBase(ctx context.Context, c conn, workspaceID, id string) (*hyponema.KnowledgeBase, error) {
	kb, err := scanKnowledgeBase(c.queryRow(ctx, `SELECT `+knowledgeBaseColumns+`, chunk_count FROM knowledge_bases
		WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if isNoRows(err) {
		return nil, errKnowledgeBaseNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find knowledge base: %w", err)
	}
	return kb, nil
}

// ListKnowledgeBases implements hyponema.KnowledgeService.
func (s *KnowledgeService) ListKnowledgeBases(ctx context.Context, workspaceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.KnowledgeBase], error) {
	return list(ctx, s.db, opt, `SELECT `+knowledgeBaseColumns+`, chunk_count FROM knowledge_bases WHERE workspace_id = ?`,
		[]any{workspaceID}, scanKnowledgeBase, func(kb *hyponema.KnowledgeBase) string { return kb.ID })
}

// DeleteKnowledgeBase implements hyponema.KnowledgeService. Its sources,
// their contents and chunks go with it (ON DELETE CASCADE, which on SQLite
// also fires the triggers that keep the full-text index in step), and it
// leaves the drafts of the agents that it was attached to (their versions
// keep it in their lists; searches skip a knowledge base that is gone).
func (s *KnowledgeService) DeleteKnowledgeBase(ctx context.Context, workspaceID, id string) error {
	err := s.db.inTx(ctx, func(tx conn) error {
		if err := detachKnowledgeBase(ctx, tx, workspaceID, id); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM knowledge_bases WHERE workspace_id = ? AND id = ?`, workspaceID, id)
		if err != nil {
			return fmt.Errorf("store: delete knowledge base: %w", err)
		}
		if n, err := rowsAffected(res); err != nil {
			return err
		} else if n == 0 {
			return errKnowledgeBaseNotFound()
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.vecs.forget(id)
	return nil
}

// detachKnowledgeBase removes kbID from the drafts of the workspace's
// agents, each under its row lock, taken before the knowledge base's as
// AttachKnowledgeBase takes them. The text match only narrows the agents
// read; the decoded list decides.
func detachKnowledgeBase(ctx context.Context, tx conn, workspaceID, kbID string) error {
	rows, err := tx.query(ctx, `SELECT id FROM agents WHERE workspace_id = ? AND deleted_at IS NULL
		AND CAST(config AS TEXT) LIKE ?`, workspaceID, `%"`+kbID+`"%`)
	if err != nil {
		return fmt.Errorf("store: find agents of a knowledge base: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("store: find agents of a knowledge base: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: find agents of a knowledge base: %w", err)
	}
	for _, id := range ids {
		a, err := findAgent(ctx, tx, workspaceID, id, tx.db.d.forUpdate)
		if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
			continue // deleted meanwhile
		} else if err != nil {
			return err
		}
		if !slices.Contains(a.KnowledgeBaseIDs, kbID) {
			continue
		}
		a.KnowledgeBaseIDs = slices.DeleteFunc(slices.Clone(a.KnowledgeBaseIDs), func(k string) bool { return k == kbID })
		cfg, err := encodeJSON(a.AgentConfig)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE agents SET config = ?, updated_at = ? WHERE id = ?`,
			cfg, tx.db.d.timeArg(now()), a.ID); err != nil {
			return fmt.Errorf("store: detach knowledge base: %w", err)
		}
	}
	return nil
}

const sourceColumns = `id, workspace_id, knowledge_base_id, type, name, url, content_type, size, status, error,
	chunk_count, created_at, updated_at, synced_at, generation`

func scanSource(row scanner) (*hyponema.Source, error) {
	var src hyponema.Source
	if err := row.Scan(&src.ID, &src.WorkspaceID, &src.KnowledgeBaseID, &src.Type, &src.Name, &src.URL,
		&src.ContentType, &src.Size, &src.Status, &src.Error, &src.ChunkCount,
		timeCol{&src.CreatedAt}, timeCol{&src.UpdatedAt}, nullTimeCol{&src.SyncedAt}, &src.Generation); err != nil {
		return nil, err
	}
	return &src, nil
}

// CreateSource implements hyponema.KnowledgeService. The source starts
// pending, with Size the length of content; its content is stored apart
// (none for a url source). Its ingestion is queued (SetSourceQueue).
func (s *KnowledgeService) CreateSource(ctx context.Context, src *hyponema.Source, content []byte) error {
	src.Normalize()
	if err := src.Validate(content); err != nil {
		return err
	}
	src.ID, src.CreatedAt = hyponema.NewID(hyponema.PrefixSource), now()
	src.UpdatedAt, src.SyncedAt = src.CreatedAt, nil
	src.Status, src.Error, src.ChunkCount, src.Size = hyponema.SourcePending, "", 0, int64(len(content))
	switch {
	case src.Type == hyponema.SourceText && src.ContentType == "":
		src.ContentType = "text/plain"
	case src.Type == hyponema.SourceURL:
		src.ContentType = ""
	}
	at := s.db.d.timeArg(src.CreatedAt)
	return s.db.inTx(ctx, func(tx conn) error {
		_, err := tx.exec(ctx, `INSERT INTO sources (`+sourceColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			src.ID, src.WorkspaceID, src.KnowledgeBaseID, src.Type, src.Name, src.URL, src.ContentType, src.Size,
			src.Status, src.Error, src.ChunkCount, at, at, nil, 0)
		if s.db.d.isForeignKey(err) {
			return errKnowledgeBaseNotFound()
		} else if err != nil {
			return fmt.Errorf("store: insert source: %w", err)
		}
		if content != nil {
			if _, err := tx.exec(ctx, `INSERT INTO source_contents (source_id, content) VALUES (?, ?)`, src.ID, content); err != nil {
				return fmt.Errorf("store: insert source content: %w", err)
			}
		}
		return s.db.enqueueIngest(ctx, tx, src.WorkspaceID, src.KnowledgeBaseID, src.ID)
	})
}

// FindSource implements hyponema.KnowledgeService.
func (s *KnowledgeService) FindSource(ctx context.Context, workspaceID, kbID, id string) (*hyponema.Source, error) {
	src, err := findSource(ctx, s.db.read(), workspaceID, id, "")
	if err != nil {
		return nil, err
	}
	if src.KnowledgeBaseID != kbID {
		return nil, errSourceNotFound()
	}
	return src, nil
}

func findSource(ctx context.Context, c conn, workspaceID, id, lock string) (*hyponema.Source, error) {
	src, err := scanSource(c.queryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE workspace_id = ? AND id = ?`+lock,
		workspaceID, id))
	if isNoRows(err) {
		return nil, errSourceNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find source: %w", err)
	}
	return src, nil
}

// ListSources implements hyponema.KnowledgeService.
func (s *KnowledgeService) ListSources(ctx context.Context, workspaceID, kbID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Source], error) {
	if _, err := findKnowledgeBase(ctx, s.db.read(), workspaceID, kbID); err != nil {
		return hyponema.Page[*hyponema.Source]{}, err
	}
	return list(ctx, s.db, opt, `SELECT `+sourceColumns+` FROM sources WHERE workspace_id = ? AND knowledge_base_id = ?`,
		[]any{workspaceID, kbID}, scanSource, func(src *hyponema.Source) string { return src.ID })
}

// SourceContent implements hyponema.KnowledgeService. A url source has no
// content: nil.
func (s *KnowledgeService) SourceContent(ctx context.Context, workspaceID, id string) ([]byte, error) {
	var content []byte
	err := s.db.read().queryRow(ctx, `SELECT c.content FROM sources s LEFT JOIN source_contents c ON c.source_id = s.id
		WHERE s.workspace_id = ? AND s.id = ?`, workspaceID, id).Scan(&content)
	if isNoRows(err) {
		return nil, errSourceNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: read source content: %w", err)
	}
	return content, nil
}

// bumpChunksVersion records, in tx, that the knowledge base's chunks
// change; it also takes the knowledge base's row lock first, the order in
// which DeleteKnowledgeBase's cascade takes locks. It returns false if the
// knowledge base is not the workspace's.
func bumpChunksVersion(ctx context.Context, tx conn, workspaceID, kbID string) (bool, error) {
	res, err := tx.exec(ctx, `UPDATE knowledge_bases SET chunks_version = chunks_version + 1
		WHERE workspace_id = ? AND id = ?`, workspaceID, kbID)
	if err != nil {
		return false, fmt.Errorf("store: bump chunks version: %w", err)
	}
	n, err := rowsAffected(res)
	return n == 1, err
}

// DeleteSource implements hyponema.KnowledgeService. Its content and
// chunks go with it (ON DELETE CASCADE).
func (s *KnowledgeService) DeleteSource(ctx context.Context, workspaceID, kbID, id string) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if ok, err := bumpChunksVersion(ctx, tx, workspaceID, kbID); err != nil {
			return err
		} else if !ok {
			return errSourceNotFound()
		}
		var chunks int64
		err := tx.queryRow(ctx, `DELETE FROM sources WHERE workspace_id = ? AND knowledge_base_id = ? AND id = ?
			RETURNING chunk_count`, workspaceID, kbID, id).Scan(&chunks)
		if isNoRows(err) {
			return errSourceNotFound() // and the bump rolls back
		} else if err != nil {
			return fmt.Errorf("store: delete source: %w", err)
		}
		return addChunkCount(ctx, tx, kbID, -chunks)
	})
}

// addChunkCount adds n to the knowledge base's count of chunks, in the
// transaction that bumped its version (and so holds its lock).
func addChunkCount(ctx context.Context, tx conn, kbID string, n int64) error {
	if n == 0 {
		return nil
	}
	if _, err := tx.exec(ctx, `UPDATE knowledge_bases SET chunk_count = chunk_count + ? WHERE id = ?`, n, kbID); err != nil {
		return fmt.Errorf("store: count chunks: %w", err)
	}
	return nil
}

// stalePending is how long a source may stay pending before a sync asked
// for it queues another job although one should be on its way: longer than
// the three tries of a job (knowledge.Ingester) take. A second job is
// harmless; a source left pending for good would not be.
const stalePending = 30 * time.Minute

// SetSourcePending implements hyponema.KnowledgeService. It queues the
// source's ingestion (SetSourceQueue) unless the source is pending already:
// then the job on its way reads the new Generation, or, if it read the old
// one, finds its result refused and ingests again. The source keeps its
// chunks, which stay searchable until ReplaceChunks replaces them.
func (s *KnowledgeService) SetSourcePending(ctx context.Context, workspaceID, id string) error {
	return s.db.inTx(ctx, func(tx conn) error {
		src, err := findSource(ctx, tx, workspaceID, id, s.db.d.forUpdate)
		if err != nil {
			return err
		}
		queued := src.Status == hyponema.SourcePending && now().Sub(src.UpdatedAt) < stalePending
		updatedAt := now()
		if queued {
			updatedAt = src.UpdatedAt // how long it has waited
		}
		if _, err := tx.exec(ctx, `UPDATE sources SET status = ?, error = '', generation = generation + 1, updated_at = ?
			WHERE id = ?`, hyponema.SourcePending, s.db.d.timeArg(updatedAt), id); err != nil {
			return fmt.Errorf("store: set source pending: %w", err)
		}
		if queued {
			return nil
		}
		return s.db.enqueueIngest(ctx, tx, workspaceID, src.KnowledgeBaseID, id)
	})
}

// FailSource implements hyponema.KnowledgeService. The reason is cut to
// 1000 bytes. The source keeps the chunks of its last successful sync.
func (s *KnowledgeService) FailSource(ctx context.Context, workspaceID, id string, generation int64, reason string) error {
	reason = cleanText(strings.TrimSpace(reason), maxSourceErrorLen)
	if reason == "" {
		reason = "ingestion failed"
	}
	return s.db.inTx(ctx, func(tx conn) error {
		if _, err := findCurrentSource(ctx, tx, workspaceID, id, generation); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE sources SET status = ?, error = ?, updated_at = ? WHERE id = ?`,
			hyponema.SourceFailed, reason, s.db.d.timeArg(now()), id); err != nil {
			return fmt.Errorf("store: fail source: %w", err)
		}
		return nil
	})
}

// findCurrentSource reads the source for update in tx, and returns
// ECONFLICT if a sync was asked for since generation.
func findCurrentSource(ctx context.Context, tx conn, workspaceID, id string, generation int64) (*hyponema.Source, error) {
	src, err := findSource(ctx, tx, workspaceID, id, tx.db.d.forUpdate)
	if err != nil {
		return nil, err
	}
	if src.Generation != generation {
		return nil, hyponema.Errorf(hyponema.ECONFLICT, "the source was asked to sync again meanwhile")
	}
	return src, nil
}

// chunkInsertColumns are the columns that ReplaceChunks writes: seq is the
// database's.
const chunkInsertColumns = `id, workspace_id, knowledge_base_id, source_id, idx, heading, text, tokens, embedding, created_at`

const chunkInsertWidth = 10

// maxChunkBatch is the most rows of one INSERT: 2560 parameters, well
// under both databases' limits. Shorter batches are powers of two, so that
// only a few distinct statements exist for the statement caches.
const maxChunkBatch = 256

// chunkInsertQuery returns the INSERT of n chunks.
func chunkInsertQuery(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO chunks (` + chunkInsertColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	return b.String()
}

var fullChunkBatch = chunkInsertQuery(maxChunkBatch)

// ReplaceChunks implements hyponema.KnowledgeService. It gives each chunk
// a new ID, its place in chunks as Index, the source's workspace and
// knowledge base, and a creation time; texts are made storable (valid
// UTF-8, no NUL). Chunks whose IDs sort in their order mean that a list
// of a source's chunks by ID, oldest first, is in index order.
func (s *KnowledgeService) ReplaceChunks(ctx context.Context, workspaceID, sourceID string, generation int64, chunks []*hyponema.Chunk, contentType string, size int64) error {
	for i, c := range chunks {
		if c == nil {
			return fmt.Errorf("store: chunk %d is nil", i)
		}
		for _, v := range c.Embedding {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("store: chunk %d: embedding holds %v", i, v)
			}
		}
	}
	contentType = cleanText(contentType, hyponema.MaxNameLen)
	s.db.prepareForTx(ctx, fullChunkBatch)
	return s.db.inTx(ctx, func(tx conn) error {
		src, err := findSource(ctx, tx, workspaceID, sourceID, "")
		if err != nil {
			return err
		}
		// The knowledge base's lock first (see bumpChunksVersion), then the
		// source's.
		if ok, err := bumpChunksVersion(ctx, tx, workspaceID, src.KnowledgeBaseID); err != nil {
			return err
		} else if !ok {
			return errSourceNotFound()
		}
		if _, err := findCurrentSource(ctx, tx, workspaceID, sourceID, generation); err != nil {
			return err
		}
		res, err := tx.exec(ctx, `DELETE FROM chunks WHERE workspace_id = ? AND source_id = ?`, workspaceID, sourceID)
		if err != nil {
			return fmt.Errorf("store: delete chunks: %w", err)
		}
		deleted, err := rowsAffected(res)
		if err != nil {
			return err
		}
		t := now()
		at := s.db.d.timeArg(t)
		args := make([]any, 0, min(len(chunks), maxChunkBatch)*chunkInsertWidth)
		for done := 0; done < len(chunks); {
			n := min(len(chunks)-done, maxChunkBatch)
			if n < maxChunkBatch {
				n = 1 << (bitsLen(n) - 1) // the largest power of two ≤ n
			}
			args = args[:0]
			for i, c := range chunks[done : done+n] {
				c.ID, c.WorkspaceID, c.KnowledgeBaseID, c.SourceID = hyponema.NewID(hyponema.PrefixChunk), workspaceID, src.KnowledgeBaseID, sourceID
				c.Index, c.CreatedAt = done+i, t
				c.Heading = cleanText(c.Heading, hyponema.MaxSourceTextLen)
				c.Text = cleanText(c.Text, hyponema.MaxSourceTextLen)
				c.Tokens = max(c.Tokens, 0)
				var emb any
				if len(c.Embedding) > 0 {
					emb = encodeVector(c.Embedding)
				}
				args = append(args, c.ID, c.WorkspaceID, c.KnowledgeBaseID, c.SourceID, c.Index, c.Heading, c.Text, c.Tokens, emb, at)
			}
			q := fullChunkBatch
			if n != maxChunkBatch {
				q = chunkInsertQuery(n)
			}
			if _, err := tx.exec(ctx, q, args...); err != nil {
				return fmt.Errorf("store: insert chunks: %w", err)
			}
			done += n
		}
		if _, err := tx.exec(ctx, `UPDATE sources SET status = ?, error = '', chunk_count = ?, content_type = ?, size = ?,
			synced_at = ?, updated_at = ? WHERE id = ?`,
			hyponema.SourceReady, len(chunks), contentType, max(size, 0), at, at, sourceID); err != nil {
			return fmt.Errorf("store: mark source ready: %w", err)
		}
		return addChunkCount(ctx, tx, src.KnowledgeBaseID, int64(len(chunks))-deleted)
	})
}

// bitsLen is bits.Len for positive ints.
func bitsLen(n int) int {
	l := 0
	for ; n > 0; n >>= 1 {
		l++
	}
	return l
}

// chunkColumns leaves the embedding out: lists never need it.
const chunkColumns = `id, workspace_id, knowledge_base_id, source_id, idx, heading, text, tokens, created_at`

func scanChunk(row scanner) (*hyponema.Chunk, error) {
	var c hyponema.Chunk
	if err := row.Scan(&c.ID, &c.WorkspaceID, &c.KnowledgeBaseID, &c.SourceID, &c.Index, &c.Heading, &c.Text,
		&c.Tokens, timeCol{&c.CreatedAt}); err != nil {
		return nil, err
	}
	return &c, nil
}

// ListChunks implements hyponema.KnowledgeService: the chunks of the
// knowledge base, or of one of its sources when sourceID is not "", by ID.
// A source's chunks are made in index order, so oldest first (Asc) lists
// them in that order. Embedding is left nil.
func (s *KnowledgeService) ListChunks(ctx context.Context, workspaceID, kbID, sourceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Chunk], error) {
	var none hyponema.Page[*hyponema.Chunk]
	if _, err := findKnowledgeBase(ctx, s.db.read(), workspaceID, kbID); err != nil {
		return none, err
	}
	if sourceID == "" {
		return list(ctx, s.db, opt, `SELECT `+chunkColumns+` FROM chunks WHERE workspace_id = ? AND knowledge_base_id = ?`,
			[]any{workspaceID, kbID}, scanChunk, func(c *hyponema.Chunk) string { return c.ID })
	}
	if _, err := s.FindSource(ctx, workspaceID, kbID, sourceID); err != nil {
		return none, err
	}
	return list(ctx, s.db, opt, `SELECT `+chunkColumns+` FROM chunks WHERE workspace_id = ? AND source_id = ?`,
		[]any{workspaceID, sourceID}, scanChunk, func(c *hyponema.Chunk) string { return c.ID })
}

// FindChunk implements hyponema.KnowledgeService. It fills Embedding.
func (s *KnowledgeService) FindChunk(ctx context.Context, workspaceID, kbID, id string) (*hyponema.Chunk, error) {
	var c hyponema.Chunk
	var emb []byte
	err := s.db.read().queryRow(ctx, `SELECT `+chunkColumns+`, embedding FROM chunks
		WHERE workspace_id = ? AND knowledge_base_id = ? AND id = ?`, workspaceID, kbID, id).
		Scan(&c.ID, &c.WorkspaceID, &c.KnowledgeBaseID, &c.SourceID, &c.Index, &c.Heading, &c.Text,
			&c.Tokens, timeCol{&c.CreatedAt}, &emb)
	if isNoRows(err) {
		return nil, errChunkNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find chunk: %w", err)
	}
	if len(emb) > 0 {
		if c.Embedding, err = decodeVector(emb); err != nil {
			return nil, err
		}
	}
	return &c, nil
}
