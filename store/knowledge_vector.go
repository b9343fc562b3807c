package store

import (
	lru "container/list"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Embeddings are stored the same way on both databases: little-endian
// float32s, 4 bytes a dimension, in a BLOB or bytea column; NULL for none.

func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("store: stored embedding of %d bytes", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}

// unit returns v scaled to length 1, or nil if it has no direction (or is
// not finite).
func unit(v []float32) []float32 {
	var n float64
	for _, f := range v {
		n += float64(f) * float64(f)
	}
	if n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil
	}
	inv := 1 / math.Sqrt(n)
	u := make([]float32, len(v))
	for i, f := range v {
		u[i] = float32(float64(f) * inv)
	}
	return u
}

// dot is the inner product of two vectors of the same length, eight
// accumulators wide so that the additions overlap (about 0.6 ns a
// dimension here; Go does not vectorize it).
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(a) >= 8 && len(b) >= 8 {
		s0 += a[0] * b[0]
		s1 += a[1] * b[1]
		s2 += a[2] * b[2]
		s3 += a[3] * b[3]
		s4 += a[4] * b[4]
		s5 += a[5] * b[5]
		s6 += a[6] * b[6]
		s7 += a[7] * b[7]
		a, b = a[8:], b[8:]
	}
	for i := range a {
		s0 += a[i] * b[i]
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

// topK keeps the k best-scored chunks seen: a min-heap on score, so the
// worst kept is at the root.
type topK struct {
	k int
	h []ranked
}

func newTopK(k int) *topK { return &topK{k: k, h: make([]ranked, 0, k)} }

// worse orders the heap: lower score, then (for a stable result) higher
// seq, is worse.
func worse(a, b ranked) bool {
	return a.score < b.score || a.score == b.score && a.seq > b.seq
}

// byBest orders chunks best first (see worse), for slices.SortFunc.
func byBest(a, b ranked) int {
	switch {
	case worse(b, a):
		return -1
	case worse(a, b):
		return 1
	}
	return 0
}

func (t *topK) push(r ranked) {
	if len(t.h) < t.k {
		t.h = append(t.h, r)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !worse(t.h[i], t.h[p]) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if t.k == 0 || !worse(t.h[0], r) {
		return
	}
	t.h[0] = r
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(t.h) && worse(t.h[l], t.h[m]) {
			m = l
		}
		if r := l + 1; r < len(t.h) && worse(t.h[r], t.h[m]) {
			m = r
		}
		if m == i {
			return
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// min returns the worst score kept once k are kept: a score below it
// cannot enter.
func (t *topK) min() (float64, bool) {
	if len(t.h) < t.k || t.k == 0 {
		return 0, false
	}
	return t.h[0].score, true
}

// sorted returns the kept chunks, best first.
func (t *topK) sorted() []ranked {
	out := slices.Clone(t.h)
	slices.SortFunc(out, byBest)
	return out
}

// vectorSearch ranks by cosine similarity to emb the chunks of kbs whose
// embeddings have emb's dimension, and returns the best limit. Chunks at
// a similarity of 0 or less, unrelated to the query, are not ranked.
func (s *KnowledgeService) vectorSearch(ctx context.Context, c conn, workspaceID string, kbs []searchKB, emb []float32, limit int) ([]ranked, error) {
	q := unit(emb)
	if q == nil {
		return nil, nil // no direction: nothing is similar
	}
	top := newTopK(limit)
	for _, kb := range kbs {
		if err := s.scoreKnowledgeBase(ctx, c, workspaceID, kb, q, top); err != nil {
			return nil, err
		}
	}
	return top.sorted(), nil
}

// cachedVectorSearch returns what vectorSearch would, as a function that
// needs no database, if the cache holds the current embeddings of every
// knowledge base of kbs (or emb has no direction).
func (s *KnowledgeService) cachedVectorSearch(kbs []searchKB, emb []float32, limit int) (func() []ranked, bool) {
	q := unit(emb)
	if q == nil {
		return func() []ranked { return nil }, true
	}
	entries := make([]*vecEntry, len(kbs))
	for i, kb := range kbs {
		if entries[i] = s.vecs.loaded(vecKey{kb.id, len(q)}, kb.version); entries[i] == nil {
			return nil, false
		}
	}
	return func() []ranked {
		top := newTopK(limit)
		for _, e := range entries {
			scoreRows(e.seqs, e.vecs, q, top)
		}
		return top.sorted()
	}, true
}

// scoreKnowledgeBase scores the chunks of kb into top: from memory when
// the cache holds kb's embeddings at its current version, else from the
// database, keeping them for the next search if the budget allows. One
// search loads a knowledge base while the others that want it wait.
func (s *KnowledgeService) scoreKnowledgeBase(ctx context.Context, c conn, workspaceID string, kb searchKB, q []float32, top *topK) error {
	e, load := s.vecs.acquire(vecKey{kb.id, len(q)}, kb.version)
	switch {
	case e == nil:
		return scanVectors(ctx, c, workspaceID, kb.id, q, top, nil)
	case load:
		if n := min(kb.chunks, e.limit/int64(8+4*len(q))); n > 0 {
			e.seqs, e.vecs = make([]int64, 0, n), make([]float32, 0, n*int64(len(q)))
		}
		err := scanVectors(ctx, c, workspaceID, kb.id, q, top, e)
		s.vecs.finish(e, err)
		return err
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if e.tooBig || e.failed {
		return scanVectors(ctx, c, workspaceID, kb.id, q, top, nil)
	}
	scoreRows(e.seqs, e.vecs, q, top)
	return nil
}

const scanVectorsQuery = `SELECT seq, embedding FROM chunks
	WHERE workspace_id = ? AND knowledge_base_id = ? AND length(embedding) = ?`

// scanVectors reads the embeddings of kb's chunks of q's dimension (only
// their keys and vectors), scoring each into top; with fill, it also keeps
// them, as unit vectors, unless they exceed fill's budget.
func scanVectors(ctx context.Context, c conn, workspaceID, kbID string, q []float32, top *topK, fill *vecEntry) error {
	dim := len(q)
	rows, err := c.query(ctx, scanVectorsQuery, workspaceID, kbID, 4*dim)
	if err != nil {
		return fmt.Errorf("store: read embeddings: %w", err)
	}
	defer rows.Close()
	row := make([]float32, dim)
	var seq int64
	var raw sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&seq, &raw); err != nil {
			return fmt.Errorf("store: read embeddings: %w", err)
		}
		if len(raw) != 4*dim {
			continue
		}
		var n float64
		for i := range row {
			f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			row[i] = f
			n += float64(f) * float64(f)
		}
		if n == 0 {
			continue // no direction
		}
		inv := float32(1 / math.Sqrt(n))
		for i := range row {
			row[i] *= inv
		}
		if sc := float64(dot(q, row)); sc > 0 {
			top.push(ranked{seq, sc})
		}
		if fill != nil && !fill.tooBig {
			if fill.size += int64(8 + 4*dim); fill.size > fill.limit {
				fill.tooBig, fill.seqs, fill.vecs = true, nil, nil
			} else {
				fill.seqs = append(fill.seqs, seq)
				fill.vecs = append(fill.vecs, row...)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read embeddings: %w", err)
	}
	return nil
}

// parallelScoreWork is how many multiply-adds a search does on one
// goroutine before it splits the rows among the processors.
const parallelScoreWork = 1 << 20

// scoreRows scores rows of unit vectors (vecs holds them end to end) into
// top, split among the processors when there are many.
func scoreRows(seqs []int64, vecs, q []float32, top *topK) {
	dim := len(q)
	workers := min(runtime.GOMAXPROCS(0), len(seqs)*dim/parallelScoreWork)
	if workers <= 1 {
		scoreRange(seqs, vecs, q, top)
		return
	}
	tops := make([]*topK, workers)
	var wg sync.WaitGroup
	per := (len(seqs) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, len(seqs))
		tops[w] = newTopK(top.k)
		wg.Go(func() { scoreRange(seqs[lo:hi], vecs[lo*dim:hi*dim], q, tops[w]) })
	}
	wg.Wait()
	for _, t := range tops {
		for _, r := range t.h {
			top.push(r)
		}
	}
}

func scoreRange(seqs []int64, vecs, q []float32, top *topK) {
	dim := len(q)
	floor, full := top.min()
	for i, seq := range seqs {
		sc := float64(dot(q, vecs[i*dim:(i+1)*dim]))
		if sc <= 0 || full && sc < floor {
			continue // unrelated (or opposed) to the query, or not among the best
		}
		top.push(ranked{seq, sc})
		floor, full = top.min()
	}
}

// vecKey names the embeddings of one dimension of one knowledge base.
type vecKey struct {
	kb  string
	dim int
}

// vecEntry is a knowledge base's embeddings at one version of its chunks.
// Its fields are set by the search that loads it, before ready closes,
// and only read after.
type vecEntry struct {
	key     vecKey
	version int64
	limit   int64 // bytes it may hold
	ready   chan struct{}

	seqs   []int64
	vecs   []float32 // unit vectors, end to end
	size   int64
	tooBig bool // over the budget: searches read the database
	failed bool // the load failed: searches read the database

	elem *lru.Element // in the LRU list once loaded
}

// vectorCache keeps knowledge bases' embeddings in memory, up to max
// bytes, evicting the least recently searched.
type vectorCache struct {
	mu      sync.Mutex
	max     int64
	used    int64
	entries map[vecKey]*vecEntry
	order   lru.List // *vecEntry, most recent first
}

func newVectorCache(max int64) *vectorCache {
	return &vectorCache{max: max, entries: map[vecKey]*vecEntry{}}
}

// markerSize is what an entry that holds no vectors (too big) counts for.
const markerSize = 1 << 10

// acquire returns the entry of key at version, and whether the caller
// must load it (then it must call finish); nil if the cache is off.
func (c *vectorCache) acquire(key vecKey, version int64) (*vecEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 {
		return nil, false
	}
	if e := c.entries[key]; e != nil {
		switch {
		case e.version == version:
			if e.elem != nil {
				c.order.MoveToFront(e.elem)
			}
			return e, false
		case e.version > version:
			// The caller's snapshot predates the cached chunks: it reads
			// its own from the database.
			return nil, false
		}
		c.drop(e)
	}
	e := &vecEntry{key: key, version: version, limit: c.max, ready: make(chan struct{})}
	c.entries[key] = e
	return e, true
}

// loaded returns the entry of key at version if it is loaded and holds
// the vectors, else nil.
func (c *vectorCache) loaded(key vecKey, version int64) *vecEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.version != version || e.elem == nil || e.tooBig {
		return nil
	}
	c.order.MoveToFront(e.elem)
	return e
}

// finish publishes a loaded entry, or forgets it if the load failed.
func (c *vectorCache) finish(e *vecEntry, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		e.failed, e.seqs, e.vecs = true, nil, nil
	}
	if e.tooBig {
		e.size = markerSize
	}
	close(e.ready)
	if c.entries[e.key] != e {
		return // replaced by a newer version meanwhile
	}
	if e.failed {
		delete(c.entries, e.key)
		return
	}
	e.elem = c.order.PushFront(e)
	c.used += e.size
	c.evict()
}

// evict drops the least recently used entries until the cache is within
// its budget.
func (c *vectorCache) evict() {
	for c.used > c.max {
		back := c.order.Back()
		if back == nil {
			return
		}
		c.drop(back.Value.(*vecEntry))
	}
}

// drop removes e; searches that hold it may finish with it.
func (c *vectorCache) drop(e *vecEntry) {
	if c.entries[e.key] == e {
		delete(c.entries, e.key)
	}
	if e.elem != nil {
		c.order.Remove(e.elem)
		e.elem = nil
		c.used -= e.size
	}
}

// forget drops the entries of a deleted knowledge base.
func (c *vectorCache) forget(kbID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if k.kb == kbID {
			c.drop(e)
		}
	}
}

func (c *vectorCache) setMax(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.max = n
	c.evict()
}
