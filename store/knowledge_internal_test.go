package store

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestQueryTerms(t *testing.T) {
	for text, want := range map[string][]string{
		"How long do I have to return a jacket?": {"long", "return", "jacket"},
		`"return" AND (jacket) -refund* NEAR/2`:  {"return", "jacket", "refund", "near", "2"},
		"Don't RETURN the Jacket's zip; jacket!": {"return", "jacket", "zip"},
		"the of and":                             nil,
		"":                                       nil,
		"café über 退货 курточка":                  {"café", "über", "退货", "курточка"},
	} {
		if got := queryTerms(text); !slices.Equal(got, want) {
			t.Errorf("queryTerms(%q) = %q, want %q", text, got, want)
		}
	}
	many := ""
	for i := range 100 {
		many += " w" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if n := len(queryTerms(many)); n != maxQueryTerms {
		t.Errorf("%d terms, want %d", n, maxQueryTerms)
	}
	if got := sqliteTerms([]string{`a"b`, "c"}); got != `{heading text} : ("a""b" OR "c")` {
		t.Errorf("sqliteTerms = %s", got)
	}
	if got := postgresTSQuery([]string{`a'b`, `c\`}); got != `'a''b' | 'c\\'` {
		t.Errorf("postgresTSQuery = %s", got)
	}
}

func TestSQLiteVarint(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		want uint64
		ok   bool
	}{
		{[]byte{0x05, 0x01}, 5, true},
		{[]byte{0x81, 0x00}, 128, true},
		{nil, 0, false},
		{[]byte{0x80}, 0, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ^uint64(0), true},
	} {
		got, ok := sqliteVarint(c.b)
		if got != c.want || ok != c.ok {
			t.Errorf("sqliteVarint(%x) = %d, %v; want %d, %v", c.b, got, ok, c.want, c.ok)
		}
	}
	// 100000 = 0b110_0001101_0100000: three bytes.
	if got, ok := sqliteVarint([]byte{0x86, 0x8d, 0x20}); got != 100_000 || !ok {
		t.Errorf("sqliteVarint(100000) = %d, %v", got, ok)
	}
}

// TestTopK checks the heap and the parallel scoring against a sort.
func TestTopK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dim, n = 16, 70_000
	q := make([]float32, dim)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	q = unit(q)
	seqs := make([]int64, n)
	vecs := make([]float32, 0, n*dim)
	var all []ranked
	for i := range seqs {
		seqs[i] = int64(i + 1)
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		v = unit(v)
		vecs = append(vecs, v...)
		all = append(all, ranked{seqs[i], float64(dot(q, v))})
	}
	slices.SortFunc(all, byBest)
	for _, k := range []int{0, 1, 5, 50} {
		top := newTopK(k)
		scoreRows(seqs, vecs, q, top)
		if got := top.sorted(); !slices.Equal(got, all[:k]) {
			t.Errorf("k=%d: %v, want %v", k, got, all[:k])
		}
	}
	// Ties: the lower seq wins.
	top := newTopK(2)
	for _, r := range []ranked{{5, 1}, {3, 1}, {4, 1}, {1, 0.5}} {
		top.push(r)
	}
	if got := top.sorted(); !slices.Equal(got, []ranked{{3, 1}, {4, 1}}) {
		t.Errorf("ties: %v", got)
	}
}

func TestFuse(t *testing.T) {
	lex := []ranked{{1, 9}, {2, 8}, {3, 7}}
	vec := []ranked{{3, 0.9}, {4, 0.8}, {1, 0.1}}
	got := fuse(3, lex, vec)
	// 1: 1/61+1/63; 3: 1/63+1/61; 2: 1/62; 4: 1/62.
	want := []int64{1, 3, 2}
	for i, r := range got {
		if r.seq != want[i] {
			t.Fatalf("fuse = %v, want seqs %v", got, want)
		}
	}
	if got[0].score != 1.0/61+1.0/63 {
		t.Errorf("score %v", got[0].score)
	}
}

func TestVectorCodec(t *testing.T) {
	v := []float32{0, -1.5, 3.25e-7, 1e30}
	b := encodeVector(v)
	if len(b) != 16 || b[4] != 0x00 || b[7] != 0xbf {
		t.Errorf("encoded %x", b)
	}
	got, err := decodeVector(b)
	if err != nil || !slices.Equal(got, v) {
		t.Errorf("decoded %v, %v", got, err)
	}
	if _, err := decodeVector([]byte{1, 2, 3}); err == nil {
		t.Error("3 bytes decoded")
	}
	if unit([]float32{0, 0}) != nil {
		t.Error("zero vector has a direction")
	}
}

func TestPruneTerms(t *testing.T) {
	counts := map[string]int{"common": 5000, "rare": 10, "mid": 900, "often": 3000}
	count := func(term string) (int, error) { return counts[term], nil }
	for _, c := range []struct {
		terms []string
		want  []string
	}{
		{[]string{"rare", "mid"}, []string{"rare", "mid"}},                       // 910 ≤ 1000
		{[]string{"common", "rare", "mid", "often"}, []string{"rare", "mid"}},    // the rarest that fit
		{[]string{"common", "often"}, []string{"often"}},                         // at least one
		{[]string{"common"}, []string{"common"}},                                 // one is one
		{[]string{"mid", "unknown", "rare"}, []string{"mid", "unknown", "rare"}}, // as given when they fit
	} {
		got, err := pruneTerms(c.terms, 1000, count)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("pruneTerms(%v) = %v, %v; want %v", c.terms, got, err, c.want)
		}
	}
}
