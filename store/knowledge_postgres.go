package store

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresRankBudget is about how many matching chunks a lexical search
// ranks at most: scoring a question of five words (postgresLexicalQuery)
// and the visit of each chunk's row cost several microseconds a chunk
// here, so 1500 take about 10 ms. (A variable for tests.)
var postgresRankBudget = 1500

// postgresCountLimit is how far counting a lexeme's chunks goes: past it a
// word is common enough that its weight hardly changes.
const postgresCountLimit = 10_000

// postgresLexemesQuery turns the words of a search into the lexemes of
// the english configuration: stemmed, its stop words dropped, sorted.
const postgresLexemesQuery = `SELECT unnest(tsvector_to_array(to_tsvector('english', ?)))`

// postgresLexemeStatsQuery reads the lexemes that ANALYZE found the most
// common in chunks (pg_stats.most_common_elems; up to 1000 by default)
// with the fraction of chunks that hold each.
const postgresLexemeStatsQuery = `SELECT e.lexeme, e.freq FROM pg_stats AS st,
		unnest(st.most_common_elems::text::text[], st.most_common_elem_freqs) AS e (lexeme, freq)
	WHERE st.schemaname = current_schema() AND st.tablename = 'chunks' AND st.attname = 'tsv'
		AND e.lexeme IS NOT NULL`

// lexemeStatsTTL is how long a process keeps the statistics of lexemes
// before it reads them again: they change when ANALYZE runs.
const lexemeStatsTTL = time.Minute

// lexemeStats keeps postgresLexemeStatsQuery's answer.
type lexemeStats struct {
	mu   sync.Mutex
	at   time.Time
	freq map[string]float64
}

// get returns the fractions of chunks that hold the most common lexemes,
// reading them on c when they are older than lexemeStatsTTL.
func (ls *lexemeStats) get(ctx context.Context, c conn) (map[string]float64, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.freq != nil && time.Since(ls.at) < lexemeStatsTTL {
		return ls.freq, nil
	}
	rows, err := c.query(ctx, postgresLexemeStatsQuery)
	if err != nil {
		return nil, fmt.Errorf("store: full-text search: lexeme statistics: %w", err)
	}
	defer rows.Close()
	freq := map[string]float64{}
	for rows.Next() {
		var l string
		var f float64
		if err := rows.Scan(&l, &f); err != nil {
			return nil, fmt.Errorf("store: full-text search: lexeme statistics: %w", err)
		}
		freq[l] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: full-text search: lexeme statistics: %w", err)
	}
	ls.freq, ls.at = freq, time.Now()
	return freq, nil
}

// postgresLexicalQuery returns the query that filters the chunks by one
// tsquery and scores them for n lexemes (see postgresLexical): the sum of
// the weights of the lexemes a chunk holds (each a tsquery and a weight),
// scaled down for chunks longer than the average match as BM25 does (k1 =
// 1.2, b = 0.75; a chunk's length is its count of distinct lexemes), plus
// ts_rank of the query of all of them, the heading (class A) counting
// twice the text (class D). All are lexemes already, so they are cast, not
// parsed again; the filter, a constant, is what the GIN index serves.
func postgresLexicalQuery(n int) string {
	var b strings.Builder
	b.WriteString(`SELECT seq, (0`)
	for range n {
		b.WriteString(` + CASE WHEN tsv @@ ?::tsquery THEN ?::float8 * CASE WHEN tsv @@ ?::tsquery THEN 2 ELSE 1 END ELSE 0 END`)
	}
	b.WriteString(`) * 2.2 / (1.3 + 0.9 * len / greatest(avg(len) OVER (), 1))
		+ ts_rank('{0.1, 0.1, 0.1, 0.2}', tsv, ?::tsquery) AS r
	FROM (SELECT seq, tsv, length(tsv) AS len FROM chunks
		WHERE tsv @@ ?::tsquery AND workspace_id = ? AND knowledge_base_id = ANY(?)) AS m
	ORDER BY r DESC, seq LIMIT ?`)
	return b.String()
}

// postgresLexicalQueries are the queries of up to maxQueryTerms lexemes
// (index: lexemes); a question's words are rarely more lexemes than that.
var postgresLexicalQueries = func() []string {
	qs := make([]string, maxQueryTerms+1)
	for i := range qs {
		qs[i] = postgresLexicalQuery(i)
	}
	return qs
}()

// postgresCountQuery counts a tsquery's chunks of the workspace's
// knowledge bases, up to a limit.
const postgresCountQuery = `SELECT count(*) FROM (SELECT 1 FROM chunks
	WHERE tsv @@ ?::tsquery AND workspace_id = ? AND knowledge_base_id = ANY(?) LIMIT ?) AS m`

const postgresPlannerQuery = `SELECT set_config('enable_seqscan', 'off', true), set_config('cpu_operator_cost', '0.05', true)`

// postgresTSQuery builds a tsquery of any of lexemes, each quoted.
func postgresTSQuery(lexemes []string) string {
	quoted := make([]string, len(lexemes))
	for i, t := range lexemes {
		quoted[i] = quoteTSQuery(t)
	}
	return strings.Join(quoted, " | ")
}

// postgresLexical ranks the workspace's chunks of kbs whose text or
// heading holds any of terms (stemmed by the english configuration), and
// returns the best limit.
//
// The score is that of BM25 without its term frequencies: each lexeme a
// chunk holds adds its inverse document frequency, ln(1 + (N − n + ½) /
// (n + ½)) for n of the N chunks searched holding it, so that a rare word
// of the question ("limescale") outweighs a common one ("warranty"); then
// ts_rank, always under 1, orders chunks that hold the same lexemes by how
// often and how densely. (ts_rank and ts_rank_cd alone weigh every word
// alike.) n comes from ANALYZE's statistics for the most common lexemes,
// and is counted, up to postgresCountLimit, for the others; counts are
// kept while the knowledge bases' chunks stay the same.
//
// Ranking costs several microseconds a matching chunk, so when ANALYZE's
// statistics (lexemeStats) say that the lexemes together are in more than
// postgresRankBudget of the chunks searched, only the rarest of them,
// as many as fit in the budget, select the chunks to rank; every lexeme
// still counts in their ranks. A chunk that has none of the rarest but
// only the commonest words of the question is not found by words.
func postgresLexical(ctx context.Context, c conn, stats *lexemeStats, counts *termCounts, workspaceID string, kbs []searchKB, terms []string, limit int) ([]ranked, error) {
	var searched int64
	ids := make([]string, len(kbs))
	for i, kb := range kbs {
		searched += kb.chunks
		ids[i] = kb.id
	}
	lexemes, err := postgresLexemes(ctx, c, terms)
	if err != nil || len(lexemes) == 0 {
		return nil, err
	}
	lexemes = lexemes[:min(len(lexemes), maxQueryTerms)]
	freqs, err := stats.get(ctx, c)
	if err != nil {
		return nil, err
	}
	rank := postgresTSQuery(lexemes)
	filter := rank
	if len(lexemes) > 1 {
		pruned, _ := pruneTerms(lexemes, postgresRankBudget, func(l string) (int, error) {
			return int(freqs[l] * float64(searched)), nil
		})
		filter = postgresTSQuery(pruned)
	}
	// The planner takes matching and ranking a tsvector for cheap (they
	// cost 3 and 13 µs here), so with common words it reads every chunk
	// of the knowledge base, or of the table, rather than the GIN index's
	// few. For the rest of this read-only transaction, sequential scans
	// are off and operators cost 20 times the default, which makes it
	// weigh the rows it would test.
	if _, err := c.exec(ctx, postgresPlannerQuery); err != nil {
		return nil, fmt.Errorf("store: full-text search: %w", err)
	}
	args := make([]any, 0, 2*len(lexemes)+6)
	args = append(args, pgx.QueryExecModeCacheDescribe)
	for _, l := range lexemes {
		n, known := freqs[l]
		n *= float64(searched)
		if !known {
			counted, err := counts.get("pg\x00"+l, kbs, func() (int, error) {
				var n int
				err := c.queryRow(ctx, postgresCountQuery, quoteTSQuery(l), workspaceID, ids, postgresCountLimit).Scan(&n)
				if err != nil {
					return 0, fmt.Errorf("store: full-text search: count matches: %w", err)
				}
				return n, nil
			})
			if err != nil {
				return nil, err
			}
			n = float64(counted)
		}
		n = min(n, float64(searched))
		idf := math.Log(1 + (float64(searched)-n+0.5)/(n+0.5))
		args = append(args, quoteTSQuery(l), idf, quoteTSQuery(l)+":A")
	}
	args = append(args, rank, filter, workspaceID, ids, limit)
	// Planned for its arguments every time (an unnamed statement, its
	// description cached): whether the GIN index or the knowledge base's
	// chunks should drive depends on how common the words are and how big
	// the knowledge bases, which a generic plan cannot know.
	rows, err := c.query(ctx, postgresLexicalQueries[len(lexemes)], args...)
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

// postgresLexemes returns the lexemes of terms.
func postgresLexemes(ctx context.Context, c conn, terms []string) ([]string, error) {
	rows, err := c.query(ctx, postgresLexemesQuery, strings.Join(terms, " "))
	if err != nil {
		return nil, fmt.Errorf("store: full-text search: lexemes: %w", err)
	}
	defer rows.Close()
	var lexemes []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return nil, fmt.Errorf("store: full-text search: lexemes: %w", err)
		}
		lexemes = append(lexemes, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: full-text search: lexemes: %w", err)
	}
	return lexemes, nil
}
