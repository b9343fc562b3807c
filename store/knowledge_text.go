package store

import (
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Limits on the words that a lexical search looks for.
const (
	maxQueryTerms   = 32
	maxQueryTermLen = 64 // characters; longer words are not words
)

// queryTerms returns the words of a search text worth looking for:
// lower-cased runs of letters, digits and marks, without English stop words
// ("how", "do", "I", "to" …) and duplicates, in order, at most
// maxQueryTerms. Everything else (punctuation, quotes, operators of any
// query syntax) only separates words, so what the dialects build from the
// terms is never anything but a list of words.
func queryTerms(text string) []string {
	var terms []string
	seen := map[string]bool{}
	for _, w := range strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	}) {
		w = strings.ToLower(w)
		if seen[w] || stopWords[w] || utf8.RuneCountInString(w) > maxQueryTermLen {
			continue
		}
		seen[w] = true
		terms = append(terms, w)
		if len(terms) == maxQueryTerms {
			break
		}
	}
	return terms
}

// stopWords are the English words too common to say what a question is
// about: PostgreSQL's english.stop (the Snowball list), the pieces that
// splitting contractions leaves (don't → don, t), and a few more question
// words. Both dialects drop them alike; PostgreSQL's english configuration
// would drop most of them anyway.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
		i me my myself we our ours ourselves you your yours yourself yourselves he him his himself she her
		hers herself it its itself they them their theirs themselves what which who whom this that these
		those am is are was were be been being have has had having do does did doing a an the and but if
		or because as until while of at by for with about against between into through during before after
		above below to from up down in out on off over under again further then once here there when where
		why how all any both each few more most other some such no nor not only own same so than too very s
		t can will just don should now d ll m o re ve y ain aren couldn didn doesn hadn hasn haven isn ma
		mightn mustn needn shan shouldn wasn weren won wouldn would could may might must shall whats hows
		whos wheres whens whys`) {
		m[w] = true
	}
	return m
}()

// quoteFTS5 quotes s as one string of an FTS5 query: a double quote
// within is doubled. queryTerms never yields quotes; quoting anyway keeps
// the query a list of strings whatever a term holds.
func quoteFTS5(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteTSQuery quotes s as one operand of to_tsquery: within single
// quotes, a single quote is doubled and a backslash escaped.
func quoteTSQuery(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `'` + strings.ReplaceAll(s, `'`, `''`) + `'`
}

// termCounts keeps how many chunks of some knowledge bases match a term,
// as long as none of their chunks change: the key names the knowledge
// bases' versions. Counting a common term costs milliseconds; queries ask
// for the same common words again and again.
type termCounts struct {
	mu sync.Mutex
	m  map[string]int
}

// maxTermCounts bounds the counts kept; past it they are all forgotten.
const maxTermCounts = 50_000

func newTermCounts() *termCounts { return &termCounts{m: map[string]int{}} }

// get returns the count of the query q over kbs, from count if unknown.
func (tc *termCounts) get(q string, kbs []searchKB, count func() (int, error)) (int, error) {
	var b strings.Builder
	b.WriteString(q)
	for _, kb := range kbs {
		b.WriteString("\x00")
		b.WriteString(kb.id)
		b.WriteString("@")
		b.WriteString(strconv.FormatInt(kb.version, 10))
	}
	key := b.String()
	tc.mu.Lock()
	n, ok := tc.m[key]
	tc.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := count()
	if err != nil {
		return 0, err
	}
	tc.mu.Lock()
	if len(tc.m) >= maxTermCounts {
		clear(tc.m)
	}
	tc.m[key] = n
	tc.mu.Unlock()
	return n, nil
}
