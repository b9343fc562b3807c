package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// maxSearchKnowledgeBases bounds the knowledge bases of one search.
const maxSearchKnowledgeBases = 100

// rrfK is the constant of reciprocal rank fusion: a chunk's score is the
// sum over the rankings it appears in of 1/(rrfK + rank), rank from 1.
const rrfK = 60

// candidates is how deep each ranking goes before fusion: deep enough that
// a chunk ranked well by one and poorly by the other still meets.
func candidates(topK int) int { return max(50, 4*topK) }

// ranked is one chunk in a ranking: its row key and score.
type ranked struct {
	seq   int64
	score float64
}

// Search implements hyponema.KnowledgeService. All its queries read one
// snapshot of the database.
//
// Lexical: the query text is split into words; English stop words and
// punctuation are dropped, and the rest are ORed, each quoted, so that a
// question ("How long do I have to return a jacket?") finds the passages
// with any of its meaningful words, ranked by bm25 (SQLite FTS5) or
// BM25 without term frequencies (PostgreSQL; see postgresLexical), both
// stemming English. Nothing in the text is query syntax. When the words
// are so common that they match more chunks than the dialect ranks in
// time, the commonest stop selecting chunks (see sqliteLexical and
// postgresLexical).
//
// Vector: when q.Embedding is set, the chunks with an embedding of the
// same dimension are ranked by cosine similarity (those above 0), computed
// in Go over all of them, from memory once the knowledge base's embeddings
// are cached.
//
// With an embedding, a hit's Score is the reciprocal rank fusion (k = 60)
// of its ranks in the two rankings (each taken 4×TopK deep, at least 50);
// without one, it is the lexical score (bm25 negated, or postgresLexical's):
// higher is better. TopK defaults to DefaultTopK and is capped at
// MaxTopK. Knowledge bases that are not the workspace's are ignored.
func (s *KnowledgeService) Search(ctx context.Context, workspaceID string, q hyponema.SearchQuery) ([]hyponema.SearchHit, error) {
	if utf8.RuneCountInString(q.Text) > hyponema.MaxQueryLen {
		var v hyponema.Validation
		v.Add("too_long", fmt.Sprintf("must be at most %d characters", hyponema.MaxQueryLen), "query")
		return nil, v.Err()
	}
	topK := q.TopK
	if topK <= 0 {
		topK = hyponema.DefaultTopK
	}
	topK = min(topK, hyponema.MaxTopK)
	kbIDs := slices.Compact(slices.Sorted(slices.Values(q.KnowledgeBaseIDs)))
	if len(kbIDs) > maxSearchKnowledgeBases {
		var v hyponema.Validation
		v.Add("too_long", fmt.Sprintf("at most %d knowledge bases", maxSearchKnowledgeBases), "knowledge_base_ids")
		return nil, v.Err()
	}
	if len(kbIDs) == 0 {
		return []hyponema.SearchHit{}, nil
	}

	var hits []hyponema.SearchHit
	sq := s.db.searchSQL()
	err := s.db.inSnapshot(ctx, func(c conn) error {
		// Only the workspace's knowledge bases, with their chunks' versions.
		kbs, err := searchableKnowledgeBases(ctx, c, workspaceID, kbIDs)
		if err != nil || len(kbs) == 0 {
			return err
		}
		kbIDs = kbIDs[:0]
		for _, kb := range kbs {
			kbIDs = append(kbIDs, kb.id)
		}
		depth := candidates(topK)
		var lexical, vector, best []ranked
		// When the cache holds every embedding the search needs, they are
		// scored while the database ranks the words; else they are read in
		// this transaction, which runs one query at a time.
		var early chan error
		if len(q.Embedding) > 0 {
			if scored, ok := s.cachedVectorSearch(kbs, q.Embedding, depth); ok {
				early = make(chan error, 1)
				go func() { vector = scored(); early <- nil }()
			}
		}
		if terms := queryTerms(q.Text); len(terms) > 0 {
			if s.db.d.name == DialectSQLite {
				lexical, err = sqliteLexical(ctx, c, s.counts, workspaceID, kbs, terms, depth)
			} else {
				lexical, err = postgresLexical(ctx, c, s.stats, s.counts, workspaceID, kbs, terms, depth)
			}
		}
		if early != nil {
			<-early
		}
		if err != nil {
			return err
		}
		switch {
		case len(q.Embedding) == 0:
			best = lexical[:min(len(lexical), topK)]
		case early != nil:
			best = fuse(topK, lexical, vector)
		default:
			if vector, err = s.vectorSearch(ctx, c, workspaceID, kbs, q.Embedding, depth); err != nil {
				return err
			}
			best = fuse(topK, lexical, vector)
		}
		if len(best) == 0 {
			return nil
		}
		hits, err = s.hits(ctx, c, workspaceID, kbIDs, best)
		return err
	}, sq.prepare...)
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []hyponema.SearchHit{}
	}
	return hits, nil
}

// inSnapshot runs fn in a read-only transaction on the readers, so that
// all its queries see the same state of the database: a search that ranks
// chunks in one query and reads them in another never misses chunks that
// a concurrent ReplaceChunks swapped in between. queries are prepared
// first (as prepareForTx does for writes) where the dialect wants it.
func (db *DB) inSnapshot(ctx context.Context, fn func(c conn) error, queries ...string) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.d.name == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	if db.d.prepare {
		for _, q := range queries {
			_, _ = db.stmt(ctx, db.reader, db.rebind(q))
		}
	}
	tx, err := db.reader.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(conn{db: db, q: tx, pool: db.reader, tx: tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// scanRanked reads the (seq, score) rows of a lexical search's query,
// which err says failed if it is not nil.
func scanRanked(rows *sql.Rows, err error, limit int) ([]ranked, error) {
	if err != nil {
		return nil, fmt.Errorf("store: full-text search: %w", err)
	}
	defer rows.Close()
	out := make([]ranked, 0, limit)
	for rows.Next() {
		var r ranked
		if err := rows.Scan(&r.seq, &r.score); err != nil {
			return nil, fmt.Errorf("store: full-text search: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: full-text search: %w", err)
	}
	return out, nil
}

// fuse combines rankings by reciprocal rank fusion and returns the best
// topK, ties broken by row key for a stable order.
func fuse(topK int, rankings ...[]ranked) []ranked {
	scores := map[int64]float64{}
	for _, r := range rankings {
		for i, c := range r {
			scores[c.seq] += 1 / float64(rrfK+i+1)
		}
	}
	out := make([]ranked, 0, len(scores))
	for seq, sc := range scores {
		out = append(out, ranked{seq, sc})
	}
	slices.SortFunc(out, byBest)
	return out[:min(len(out), topK)]
}

// searchSQL holds the queries of a search in a dialect's words. Lists of
// values are one parameter (see anyArg), so that each query is one
// constant string whatever the number of values, and prepared statements
// are not made per count.
type searchSQL struct {
	// knowledgeBases takes the workspace and a list of IDs.
	knowledgeBases string
	// hits takes a list of seqs, the workspace and a list of knowledge
	// base IDs, and looks up each seq.
	hits string
	// prepare lists every query of a search, to prepare.
	prepare []string
}

var (
	sqliteSearchSQL = searchSQL{
		knowledgeBases: `SELECT id, chunks_version, chunk_count FROM knowledge_bases
			WHERE workspace_id = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY id`,
		hits: `SELECT c.seq, c.id, c.source_id, c.knowledge_base_id, c.heading, c.text
			FROM json_each(?) AS j CROSS JOIN chunks AS c ON c.seq = j.value
			WHERE c.workspace_id = ? AND c.knowledge_base_id IN (SELECT value FROM json_each(?))`,
	}
	postgresSearchSQL = searchSQL{
		knowledgeBases: `SELECT id, chunks_version, chunk_count FROM knowledge_bases
			WHERE workspace_id = ? AND id = ANY(?) ORDER BY id`,
		hits: `SELECT seq, id, source_id, knowledge_base_id, heading, text FROM chunks
			WHERE seq = ANY(?) AND workspace_id = ? AND knowledge_base_id = ANY(?)`,
	}
)

func init() {
	sqliteSearchSQL.prepare = []string{sqliteSearchSQL.knowledgeBases, sqliteSearchSQL.hits, scanVectorsQuery,
		sqliteLexicalQuery, sqliteLexicalJoinQuery, sqliteIndexedRowsQuery, sqliteCountQuery}
	postgresSearchSQL.prepare = []string{postgresSearchSQL.knowledgeBases, postgresSearchSQL.hits, scanVectorsQuery,
		postgresLexemesQuery, postgresCountQuery, postgresLexemeStatsQuery, postgresPlannerQuery}
}

func (db *DB) searchSQL() *searchSQL {
	if db.d.name == DialectPostgres {
		return &postgresSearchSQL
	}
	return &sqliteSearchSQL
}

type searchKB struct {
	id      string
	version int64
	chunks  int64
}

// searchableKnowledgeBases returns those of ids that are the workspace's.
func searchableKnowledgeBases(ctx context.Context, c conn, workspaceID string, ids []string) ([]searchKB, error) {
	arg, err := c.db.anyArg(ids)
	if err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, c.db.searchSQL().knowledgeBases, workspaceID, arg)
	if err != nil {
		return nil, fmt.Errorf("store: search: find knowledge bases: %w", err)
	}
	defer rows.Close()
	var kbs []searchKB
	for rows.Next() {
		var kb searchKB
		if err := rows.Scan(&kb.id, &kb.version, &kb.chunks); err != nil {
			return nil, fmt.Errorf("store: search: find knowledge bases: %w", err)
		}
		kbs = append(kbs, kb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search: find knowledge bases: %w", err)
	}
	return kbs, nil
}

// hits reads the chunks of best, in its order, checking again that each is
// in the workspace and one of its knowledge bases kbIDs. A chunk deleted
// since it was ranked is left out.
func (s *KnowledgeService) hits(ctx context.Context, c conn, workspaceID string, kbIDs []string, best []ranked) ([]hyponema.SearchHit, error) {
	seqs := make([]int64, len(best))
	for i, b := range best {
		seqs[i] = b.seq
	}
	kbArg, err := c.db.anyArg(kbIDs)
	if err != nil {
		return nil, err
	}
	seqArg, err := c.db.anyArg(seqs)
	if err != nil {
		return nil, err
	}
	rows, err := c.query(ctx, c.db.searchSQL().hits, seqArg, workspaceID, kbArg)
	if err != nil {
		return nil, fmt.Errorf("store: search: read chunks: %w", err)
	}
	defer rows.Close()
	found := make(map[int64]hyponema.SearchHit, len(best))
	for rows.Next() {
		var seq int64
		var h hyponema.SearchHit
		if err := rows.Scan(&seq, &h.ChunkID, &h.SourceID, &h.KnowledgeBaseID, &h.Heading, &h.Text); err != nil {
			return nil, fmt.Errorf("store: search: read chunks: %w", err)
		}
		found[seq] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: search: read chunks: %w", err)
	}
	hits := make([]hyponema.SearchHit, 0, len(best))
	for _, b := range best {
		if h, ok := found[b.seq]; ok {
			h.Score = b.score
			hits = append(hits, h)
		}
	}
	return hits, nil
}

// anyArg makes the parameter that a searchSQL's "one of" condition takes
// from a []string or []int64: an array on PostgreSQL, JSON text on SQLite.
func (db *DB) anyArg(vals any) (any, error) {
	if db.d.name == DialectPostgres {
		return vals, nil
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return nil, fmt.Errorf("store: encode a list: %w", err)
	}
	return string(b), nil
}
