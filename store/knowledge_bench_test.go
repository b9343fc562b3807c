package store_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// The knowledge benchmarks run only with -bench:
//
//	HYPONEMA_TEST_POSTGRES_URL=postgres://… go test ./store -run '^$' \
//		-bench 'Knowledge' -benchtime 300x
//
// The corpus: chunks of about 100 words, drawn from a 20,000-word made-up
// vocabulary with Zipf frequencies (P(k) ∝ (100+k)^-1.07: the content words
// of English, whose head the function words take) mixed with English
// function words at about the rate of real prose (40%): the most common
// vocabulary word is in about one chunk in eight, under a two- to four-word
// heading, with an embedding of benchDim dimensions (Gaussian, so every
// chunk is scored). Queries are questions around three to five vocabulary
// words ("how do I … the … ?"), with an embedding near a random chunk's.
const (
	benchDim          = 256
	benchVocabulary   = 20_000
	benchSourceChunks = 1000 // chunks per source (one ReplaceChunks)
)

var benchFunctionWords = strings.Fields(`the the the a a an of of of to to and and in in is it that for on with as
	by at from this be are or not can you your we our`)

// benchCorpus makes deterministic text and vectors.
type benchCorpus struct {
	rng   *rand.Rand
	zipf  *rand.Zipf
	vocab []string
}

func newBenchCorpus(seed uint64) *benchCorpus {
	rng := rand.New(rand.NewPCG(seed, 1))
	c := &benchCorpus{rng: rng, zipf: rand.NewZipf(rng, 1.07, 100, benchVocabulary-1)}
	syllables := strings.Fields(`ka lo mi ne ru sa te vi zo pa re di fu go ha ji ko lu ma no pe qui ra si tu ve wa xe ya zu
		bar cen dor fel gan hil jor kel lom mar nor pil ran sel tor vel wen yor zin ber`)
	seen := map[string]bool{}
	for len(c.vocab) < benchVocabulary {
		var b strings.Builder
		for range 2 + rng.IntN(3) {
			b.WriteString(syllables[rng.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			c.vocab = append(c.vocab, w)
		}
	}
	return c
}

func (c *benchCorpus) word() string { return c.vocab[c.zipf.Uint64()] }

func (c *benchCorpus) text(words int) string {
	var b strings.Builder
	for i := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		if c.rng.IntN(10) < 4 {
			b.WriteString(benchFunctionWords[c.rng.IntN(len(benchFunctionWords))])
		} else {
			b.WriteString(c.word())
		}
		if i%15 == 14 {
			b.WriteByte('.')
		}
	}
	b.WriteByte('.')
	return b.String()
}

func (c *benchCorpus) vector() []float32 {
	v := make([]float32, benchDim)
	for i := range v {
		v[i] = float32(c.rng.NormFloat64())
	}
	return v
}

func (c *benchCorpus) chunks(n int) []*hyponema.Chunk {
	cs := make([]*hyponema.Chunk, n)
	for i := range cs {
		words := 80 + c.rng.IntN(41)
		cs[i] = &hyponema.Chunk{Heading: c.text(2 + c.rng.IntN(3)), Text: c.text(words), Tokens: words * 4 / 3,
			Embedding: c.vector()}
	}
	return cs
}

// near returns v moved a little at random.
func (c *benchCorpus) near(v []float32) []float32 {
	out := slices.Clone(v)
	for i := range out {
		out[i] += float32(c.rng.NormFloat64() * 0.5)
	}
	return out
}

func (c *benchCorpus) question() string {
	words := make([]string, 3+c.rng.IntN(3))
	for i := range words {
		words[i] = c.word()
	}
	return "How do I " + words[0] + " the " + strings.Join(words[1:], " ") + "?"
}

// benchKnowledge is a knowledge base of n chunks and the queries to ask it.
type benchKnowledge struct {
	ks      *store.KnowledgeService
	ws      string
	kb      string
	queries []hyponema.SearchQuery
}

func setupBenchKnowledge(b *testing.B, db *store.DB, n int) *benchKnowledge {
	ctx := b.Context()
	ks := store.NewKnowledgeService(db)
	ws := mustWorkspace(b, db)
	kb := mustKnowledgeBase(b, ks, ws.ID, "Bench")
	// Another workspace's knowledge base of the same words, which a search
	// must skip.
	noise := mustKnowledgeBase(b, ks, mustWorkspace(b, db).ID, "Noise")
	c := newBenchCorpus(uint64(n))
	var embs [][]float32
	var ingest time.Duration
	for done := 0; done < n; done += benchSourceChunks {
		chunks := c.chunks(min(benchSourceChunks, n-done))
		for _, ch := range chunks[:10] {
			embs = append(embs, ch.Embedding)
		}
		src := mustTextSource(b, ks, kb, fmt.Sprint("source ", done), "…")
		start := time.Now()
		must(b, ks.ReplaceChunks(ctx, ws.ID, src.ID, 0, chunks, "text/plain", 1))
		ingest += time.Since(start)
	}
	mustChunks(b, ks, mustTextSource(b, ks, noise, "noise", "…"), []string{c.text(100), c.text(100)}, c.vector(), c.vector())
	if db.Dialect() == store.DialectPostgres {
		// The steady state: autovacuum vacuums and analyzes a table that
		// grew this much within a minute (setting the hint bits that the
		// first reads of fresh rows would write), and the search reads
		// its statistics.
		if _, err := db.Writer().ExecContext(ctx, `VACUUM ANALYZE chunks`); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%s: ingested %d chunks of %d dimensions in %v: %.0f chunks/s", db.Dialect(), n, benchDim,
		ingest.Round(time.Millisecond), float64(n)/ingest.Seconds())

	bk := &benchKnowledge{ks: ks, ws: ws.ID, kb: kb.ID}
	for range 512 {
		bk.queries = append(bk.queries, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: c.question(),
			Embedding: c.near(embs[c.rng.IntN(len(embs))]), TopK: hyponema.DefaultTopK})
	}
	return bk
}

// run measures searches, reporting the median and 99th percentile
// latency; hybrid keeps the query's embedding.
func (bk *benchKnowledge) run(b *testing.B, ks *store.KnowledgeService, hybrid bool) {
	ctx := b.Context()
	query := func(i int) hyponema.SearchQuery {
		q := bk.queries[i%len(bk.queries)]
		if !hybrid {
			q.Embedding = nil
		}
		return q
	}
	// One search first: it loads the vector cache (reported by the
	// hybrid benchmarks as cold-ms, the price of the first search after a
	// change) and warms the database's own caches.
	start := time.Now()
	if _, err := ks.Search(ctx, bk.ws, query(0)); err != nil {
		b.Fatal(err)
	}
	cold := time.Since(start)
	lat := make([]time.Duration, 0, b.N)
	hits := 0
	i := 0
	for b.Loop() {
		start := time.Now()
		hs, err := ks.Search(ctx, bk.ws, query(i))
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		hits += len(hs)
		i++
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)]) / 1e6
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(hits)/float64(len(lat)), "hits/op")
	if hybrid {
		b.ReportMetric(float64(cold)/1e6, "cold-ms")
	}
}

func benchDialects(b *testing.B, fn func(b *testing.B, db *store.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.MustOpenSQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.MustOpenPostgres(b)) })
}

// BenchmarkKnowledgeSearch searches knowledge bases of 10k and 100k
// chunks: by words only, hybrid (words and vectors, the vectors held in
// memory after the first search, whose time is cold-ms), and, at 10k,
// hybrid reading the vectors from the database every time (nocache; at
// 100k that is what cold-ms measures).
func BenchmarkKnowledgeSearch(b *testing.B) {
	benchDialects(b, func(b *testing.B, db *store.DB) {
		for _, n := range []int{10_000, 100_000} {
			b.Run(fmt.Sprintf("%dk", n/1000), func(b *testing.B) {
				bk := setupBenchKnowledge(b, db, n)
				b.Run("lexical", func(b *testing.B) { bk.run(b, bk.ks, false) })
				b.Run("hybrid", func(b *testing.B) { bk.run(b, bk.ks, true) })
				if n > 10_000 {
					return
				}
				b.Run("hybrid-nocache", func(b *testing.B) {
					ks := store.NewKnowledgeService(db)
					ks.SetVectorCacheBytes(0) // for every service of db
					defer ks.SetVectorCacheBytes(store.DefaultVectorCacheBytes)
					bk.run(b, ks, true)
				})
			})
		}
	})
}

// BenchmarkKnowledgeIngest measures ReplaceChunks: each op stores a new
// source's 1000 chunks with their embeddings in a growing knowledge base.
func BenchmarkKnowledgeIngest(b *testing.B) {
	benchDialects(b, func(b *testing.B, db *store.DB) {
		ctx := b.Context()
		ks := store.NewKnowledgeService(db)
		ws := mustWorkspace(b, db)
		kb := mustKnowledgeBase(b, ks, ws.ID, "Bench")
		c := newBenchCorpus(1)
		batch := c.chunks(benchSourceChunks)
		var total time.Duration
		for b.Loop() {
			b.StopTimer()
			src := mustTextSource(b, ks, kb, "source", "…")
			b.StartTimer()
			start := time.Now()
			must(b, ks.ReplaceChunks(ctx, ws.ID, src.ID, 0, batch, "text/plain", 1))
			total += time.Since(start)
		}
		b.ReportMetric(float64(b.N*benchSourceChunks)/total.Seconds(), "chunks/s")
	})
}
