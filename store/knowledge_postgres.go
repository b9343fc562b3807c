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
// ranks at most: reading a chunk's row and scoring a question of five
// words (postgresLexicalQuery) cost about 8 µs here, so 1500 take about
// 12 ms. (A variable for tests.)
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
// the weights of the lexemes a chunk holds, each given as a tsquery, the
// same restricted to the heading (class A), which counts it twice, and a
// weight; scaled down for chunks longer than the average match as BM25
// does (k1 = 1.2, b = 0.75; a chunk's length is its count of distinct
// lexemes). All are lexemes already, so they are cast, not parsed again;
// the filter, a constant, is what the GIN index serves.
//
// Each chunk's tsvector is read once (concatenating the empty tsvector
// makes a plain copy; each operator would decompress a compressed one
// again), and only the scores go through the window that averages the
// lengths. OFFSET 0 keeps each level apart.
func postgresLexicalQuery(n int) string {
	var b strings.Builder
	b.WriteString(`SELECT seq, s * 2.2 / (1.3 + 0.9 * len / greatest(avg(len) OVER (), 1)) AS r
	FROM (SELECT seq, len, 0`)
	for range n {
		b.WriteString(` + CASE WHEN t @@ ?::tsquery THEN ?::float8 * CASE WHEN t @@ ?::tsquery THEN 2 ELSE 1 END ELSE 0 END`)
	}
	b.WriteString(` AS s
		FROM (SELECT seq, tsv || ''::tsvector AS t, length(tsv) AS len FROM chunks
			WHERE tsv @@ ?::tsquery AND workspace_id = ? AND knowledge_base_id = ANY(?) OFFSET 0) AS m
		OFFSET 0) AS scored
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
// The score is that of BM25 without term frequencies: each lexeme a chunk
// holds adds its inverse document frequency, ln(1 + (N − n + ½) / (n +
// ½)) for n of the N chunks searched holding it (twice if the heading
// holds it), so that a rare word of the question ("limescale") outweighs a
// common one ("warranty"), and long chunks weigh less. (ts_rank and
// ts_rank_cd weigh every word alike, and cost 10 to 30 µs a chunk.)
//
// n comes from ANALYZE's statistics (lexemeStats): the share of chunks
// that hold each of the most common lexemes, and half the smallest share
// listed for the others. Before the table's first ANALYZE, n is counted,
// up to postgresCountLimit, and kept while the knowledge bases' chunks
// stay the same.
//
// Ranking costs microseconds a matching chunk, so when the lexemes
// together are in more than postgresRankBudget of the chunks searched,
// only the rarest of them, as many as fit in the budget, select the chunks
// to rank; every lexeme still counts in their scores. A chunk that has
// none of the rarest but only the commonest words of the question is not
// found by words.
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
	rare := 1.0 // the share of chunks thought to hold a lexeme missing from the statistics
	for _, f := range freqs {
		rare = min(rare, f/2)
	}
	// The planner takes matching a tsvector for cheap, so with common
	// words it reads every chunk of the knowledge base, or of the table,
	// rather than the GIN index's few. For the rest of this read-only
	// transaction, sequential scans are off and operators cost 20 times
	// the default, which makes it weigh the rows it would test.
	if _, err := c.exec(ctx, postgresPlannerQuery); err != nil {
		return nil, fmt.Errorf("store: full-text search: %w", err)
	}
	n := make(map[string]int, len(lexemes))
	for _, l := range lexemes {
		if f, ok := freqs[l]; ok {
			n[l] = int(f * float64(searched))
			continue
		} else if len(freqs) > 0 {
			n[l] = int(rare * float64(searched))
			continue
		}
		counted, err := counts.get("pg\x00"+l, kbs, func() (int, error) {
			var count int
			err := c.queryRow(ctx, postgresCountQuery, quoteTSQuery(l), workspaceID, ids, postgresCountLimit).Scan(&count)
			if err != nil {
				return 0, fmt.Errorf("store: full-text search: count matches: %w", err)
			}
			return count, nil
		})
		if err != nil {
			return nil, err
		}
		n[l] = counted
	}
	filter := lexemes
	if len(lexemes) > 1 {
		filter, _ = pruneTerms(lexemes, postgresRankBudget, func(l string) (int, error) { return n[l], nil })
	}
	args := make([]any, 0, 3*len(lexemes)+5)
	args = append(args, pgx.QueryExecModeCacheDescribe)
	for _, l := range lexemes {
		k := float64(min(int64(n[l]), searched))
		idf := math.Log(1 + (float64(searched)-k+0.5)/(k+0.5))
		args = append(args, quoteTSQuery(l), idf, quoteTSQuery(l)+":A")
	}
	args = append(args, postgresTSQuery(filter), workspaceID, ids, limit)
	// Planned for its arguments every time (an unnamed statement, its
	// description cached): whether the GIN index or the knowledge base's
	// chunks should drive depends on how common the words are and how big
	// the knowledge bases, which a generic plan cannot know.
	rows, err := c.query(ctx, postgresLexicalQueries[len(lexemes)], args...)
	return scanRanked(rows, err, limit)
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
