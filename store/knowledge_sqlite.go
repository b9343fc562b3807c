package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/hyponema/hyponema"
)

// sqliteTerms is the FTS5 query of chunks whose heading or text holds any
// of terms, each quoted.
func sqliteTerms(terms []string) string {
	var b strings.Builder
	b.WriteString("{heading text} : (")
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(quoteFTS5(t))
	}
	b.WriteString(")")
	return b.String()
}

// sqliteInKnowledgeBases adds to an FTS5 query that the chunks be of
// kbIDs: the ULID part of a knowledge base's ID is the one token of the
// knowledge_base_id column that tells it apart.
func sqliteInKnowledgeBases(kbIDs []string, query string) string {
	var b strings.Builder
	b.WriteString("knowledge_base_id : (")
	for i, id := range kbIDs {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(quoteFTS5(strings.TrimPrefix(id, hyponema.PrefixKnowledgeBase)))
	}
	b.WriteString(") AND ")
	b.WriteString(query)
	return b.String()
}

// The lexical queries of SQLite. bm25 weighs the heading twice the text
// and the knowledge_base_id column not at all (the rank configured in the
// migration); FTS5 sorts by it itself.
const (
	// sqliteLexicalQuery ranks the chunks that the MATCH expression
	// selects, knowledge bases and all.
	sqliteLexicalQuery = `SELECT rowid, rank FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY rank LIMIT ?`
	// sqliteLexicalJoinQuery ranks every knowledge base's matches and
	// keeps the workspace's chunks of a list of knowledge bases, looking
	// each up in rank order until it has enough.
	sqliteLexicalJoinQuery = `SELECT chunks_fts.rowid, chunks_fts.rank FROM chunks_fts
		JOIN chunks AS c ON c.seq = chunks_fts.rowid
		WHERE chunks_fts MATCH ? AND c.workspace_id = ? AND c.knowledge_base_id IN (SELECT value FROM json_each(?))
		ORDER BY chunks_fts.rank LIMIT ?`
	// sqliteCountQuery counts the matches of a MATCH expression, up to a
	// limit.
	sqliteCountQuery = `SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)`
	// sqliteIndexedRowsQuery reads the FTS5 index's averages record, whose
	// first varint is the number of rows indexed.
	sqliteIndexedRowsQuery = `SELECT block FROM chunks_fts_data WHERE id = 1`
)

// sqliteRankBudget is about how many matching chunks a lexical search
// ranks at most: bm25 costs 3 to 4 µs a chunk here, so 6000 take about
// 20 ms. (A variable for tests.)
var sqliteRankBudget = 6000

// sqliteLexical ranks the chunks of kbs (the workspace's, checked by the
// caller) whose heading or text holds any of terms by bm25, and returns
// the best limit, scores negated so that higher is better.
//
// Ranking costs a few microseconds a matching chunk, so it ranks as few
// as it can:
//
//   - When the knowledge bases searched hold under half the chunks
//     indexed, the FTS5 query itself keeps to them, by their IDs' tokens
//     (which costs a pass over their chunks in the index); else it ranks
//     every match and drops other knowledge bases' chunks by a lookup each.
//   - When the terms match more than sqliteRankBudget chunks together,
//     only the rarest terms whose matches fit in the budget select and
//     rank the chunks (see pruneTerms): a chunk that has none of them but
//     only the commonest words of the question is not found by words.
//     Counting a term's matches stops past the budget, and counts are
//     kept while the knowledge bases' chunks stay the same (counts; when
//     the FTS5 query ranks every knowledge base's matches, the counts are
//     too, and other knowledge bases' changes, a minority of the index,
//     do not renew them).
func sqliteLexical(ctx context.Context, c conn, counts *termCounts, workspaceID string, kbs []searchKB, terms []string, limit int) ([]ranked, error) {
	var searched int64
	ids := make([]string, len(kbs))
	for i, kb := range kbs {
		searched += kb.chunks
		ids[i] = kb.id
	}
	total, err := sqliteIndexedRows(ctx, c)
	if err != nil {
		return nil, err
	}
	join := total >= 0 && 2*searched >= total
	match := func(terms []string) string {
		if join {
			return sqliteTerms(terms)
		}
		return sqliteInKnowledgeBases(ids, sqliteTerms(terms))
	}
	terms, err = pruneTerms(terms, sqliteRankBudget, func(term string) (int, error) {
		m := match([]string{term})
		return counts.get(m, kbs, func() (int, error) {
			var n int
			if err := c.queryRow(ctx, sqliteCountQuery, m, sqliteRankBudget+1).Scan(&n); err != nil {
				return 0, fmt.Errorf("store: full-text search: count matches: %w", err)
			}
			return n, nil
		})
	})
	if err != nil {
		return nil, err
	}

	var rows *sql.Rows
	if join {
		var arg any
		if arg, err = c.db.anyArg(ids); err != nil {
			return nil, err
		}
		rows, err = c.query(ctx, sqliteLexicalJoinQuery, match(terms), workspaceID, arg, limit)
	} else {
		rows, err = c.query(ctx, sqliteLexicalQuery, match(terms), limit)
	}
	out, err := scanRanked(rows, err, limit)
	for i := range out {
		out[i].score = -out[i].score // bm25: lower is better
	}
	return out, err
}

// pruneTerms returns the terms that a search ranks by so that it ranks
// about budget chunks at most: all of them if count (of the chunks that
// match a term, counting no further than budget+1) says that they match no
// more together; else the rarest, as many as fit in the budget, and at
// least one.
func pruneTerms(terms []string, budget int, count func(term string) (int, error)) ([]string, error) {
	if len(terms) < 2 {
		return terms, nil
	}
	type term struct {
		t string
		n int
	}
	ts := make([]term, len(terms))
	sum := 0
	for i, t := range terms {
		n, err := count(t)
		if err != nil {
			return nil, err
		}
		ts[i] = term{t, n}
		sum += n
	}
	if sum <= budget {
		return terms, nil
	}
	slices.SortStableFunc(ts, func(a, b term) int { return a.n - b.n })
	kept, sum := []string{ts[0].t}, ts[0].n
	for _, t := range ts[1:] {
		if sum += t.n; sum > budget {
			break
		}
		kept = append(kept, t.t)
	}
	return kept, nil
}

// sqliteIndexedRows returns how many chunks the FTS5 index holds, from
// its averages record (a varint count of rows, then a varint count of
// tokens per column), or -1 if the record is missing or unreadable.
func sqliteIndexedRows(ctx context.Context, c conn) (int64, error) {
	var block []byte
	err := c.queryRow(ctx, sqliteIndexedRowsQuery).Scan(&block)
	if isNoRows(err) {
		return 0, nil // an empty index
	} else if err != nil {
		return 0, fmt.Errorf("store: read the full-text index's size: %w", err)
	}
	n, ok := sqliteVarint(block)
	if !ok {
		return -1, nil
	}
	return int64(n), nil
}

// sqliteVarint decodes an SQLite varint: big-endian groups of 7 bits, the
// high bit of each byte saying that another follows, except the ninth
// byte, whose 8 bits all count.
func sqliteVarint(b []byte) (uint64, bool) {
	var v uint64
	for i := 0; i < 9 && i < len(b); i++ {
		if i == 8 {
			return v<<8 | uint64(b[i]), true
		}
		v = v<<7 | uint64(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, true
		}
	}
	return 0, false
}
