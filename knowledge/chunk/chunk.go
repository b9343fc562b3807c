// Package chunk splits a document into passages for retrieval.
//
// The document is Markdown-like text, as the extract package makes it:
// lines that start with one to six '#' and a space are headings, blank
// lines separate paragraphs, and ``` or ~~~ fences enclose code (where a
// '#' line is a comment, not a heading). Split never lets a passage cross
// a heading, packs whole paragraphs while they fit, splits longer ones at
// sentence ends, then at line ends, then between words, and only as a last
// resort inside a word. Consecutive passages of a section share a few
// sentences so that a fact that straddles a cut is found whole in one of
// them.
package chunk

import (
	"strings"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// Defaults of Options.
const (
	DefaultMaxTokens     = 300
	DefaultOverlapTokens = 50
)

// Options tune Split. The zero value means the defaults.
type Options struct {
	// MaxTokens bounds a passage's estimated tokens (0: DefaultMaxTokens).
	// Only a single character that alone is over the bound can exceed it.
	MaxTokens int
	// OverlapTokens is about how many tokens of whole sentences from the
	// end of a passage are repeated at the start of the next one of the
	// same section (0: DefaultOverlapTokens, negative: none). It is at
	// most half of MaxTokens.
	OverlapTokens int
}

func (o Options) normalize() Options {
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	switch {
	case o.OverlapTokens == 0:
		o.OverlapTokens = DefaultOverlapTokens
	case o.OverlapTokens < 0:
		o.OverlapTokens = 0
	}
	o.OverlapTokens = min(o.OverlapTokens, o.MaxTokens/2)
	return o
}

// Piece is one passage of a document.
type Piece struct {
	// Heading is the path of headings the passage sits under, joined by
	// " > " ("Install > Linux"); empty before the first heading.
	Heading string
	// Text is the passage, without its headings.
	Text string
	// Tokens is hyponema.EstimateTokens(Text).
	Tokens int
}

// Split cuts doc into passages of at most opt.MaxTokens estimated tokens,
// in document order. It returns nil when doc has no text outside headings.
// The same input always gives the same output.
func Split(doc string, opt Options) []Piece {
	opt = opt.normalize()
	var pieces []Piece
	for _, s := range sections(doc) {
		pieces = appendSection(pieces, s, opt)
	}
	return pieces
}

// tokens is the one measure of size used everywhere in this package.
func tokens(s string) int { return hyponema.EstimateTokens(s) }

// An atom is the smallest run of text that Split moves: a sentence, or a
// line, words or a piece of a word of something too long to move whole.
type atom struct {
	text string
	para int // the paragraph it belongs to, numbered within its section
	// sep joins it to the atom before it in the same paragraph: " ",
	// "\n", or "" inside a word.
	sep string
}

// join renders contiguous atoms.
func join(atoms []atom) string {
	if len(atoms) == 1 {
		return atoms[0].text
	}
	var b strings.Builder
	for i, a := range atoms {
		if i > 0 {
			if a.para != atoms[i-1].para {
				b.WriteString("\n\n")
			} else {
				b.WriteString(a.sep)
			}
		}
		b.WriteString(a.text)
	}
	return b.String()
}

// appendSection packs the atoms of one section into pieces. A unit is a
// whole paragraph when it fits in a piece, else one atom; units are packed
// greedily, and each new piece starts with the overlap taken from the end
// of the previous one, as much of it as leaves room for the unit.
func appendSection(pieces []Piece, s section, opt Options) []Piece {
	var (
		cur     []atom // contiguous atoms of the piece being filled
		curText string // join(cur)
		fresh   bool   // cur holds more than the overlap
	)
	// with returns the text of cur followed by unit.
	with := func(unit []atom) string {
		if len(cur) == 0 {
			return join(unit)
		}
		sep := unit[0].sep
		if unit[0].para != cur[len(cur)-1].para {
			sep = "\n\n"
		}
		return curText + sep + join(unit)
	}
	for _, unit := range units(s, opt.MaxTokens) {
		next := with(unit)
		if len(cur) > 0 && tokens(next) > opt.MaxTokens {
			if fresh {
				pieces = append(pieces, Piece{Heading: s.heading, Text: curText, Tokens: tokens(curText)})
				cur, fresh = overlap(cur, opt.OverlapTokens), false
				curText = join(cur)
			}
			for next = with(unit); len(cur) > 0 && tokens(next) > opt.MaxTokens; next = with(unit) {
				cur = cur[1:]
				curText = join(cur)
			}
		}
		cur, curText, fresh = append(cur, unit...), next, true
	}
	if fresh {
		pieces = append(pieces, Piece{Heading: s.heading, Text: curText, Tokens: tokens(curText)})
	}
	return pieces
}

// overlap returns the longest run of whole atoms at the end of atoms that
// fits in max tokens, less all of atoms, starting at a word boundary so
// that no word is cut in the repeated text.
func overlap(atoms []atom, max int) []atom {
	if max <= 0 {
		return nil
	}
	start := len(atoms)
	for i := len(atoms) - 1; i > 0; i-- {
		if tokens(join(atoms[i:])) > max {
			break
		}
		if atoms[i].sep != "" || atoms[i].para != atoms[i-1].para {
			start = i
		}
	}
	return append([]atom(nil), atoms[start:]...)
}

// units groups a section's atoms: a paragraph that fits stays one unit.
func units(s section, max int) [][]atom {
	var out [][]atom
	for i, p := range s.paras {
		atoms := paragraphAtoms(p, i, max)
		if tokens(join(atoms)) <= max {
			out = append(out, atoms)
			continue
		}
		for j := range atoms {
			out = append(out, atoms[j:j+1])
		}
	}
	return out
}

// paragraphAtoms cuts a paragraph into sentences, and whatever of them is
// over max into lines, then words, then pieces of words.
func paragraphAtoms(p string, para, max int) []atom {
	var out []atom
	for _, s := range sentences(p) {
		s.para = para
		if tokens(s.text) <= max {
			out = append(out, s)
			continue
		}
		for i, line := range strings.Split(s.text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			sep := "\n"
			if i == 0 {
				sep = s.sep
			}
			if tokens(line) <= max {
				out = append(out, atom{line, para, sep})
				continue
			}
			ws := words(line, max)
			ws[0].sep = sep
			for _, w := range ws {
				w.para = para
				out = append(out, w)
			}
		}
	}
	return out
}

// words packs the words of a line into runs of at most max tokens, and
// cuts a word that alone is over max between characters.
func words(line string, max int) []atom {
	var out []atom
	var run []string
	flush := func() {
		if len(run) > 0 {
			out = append(out, atom{text: strings.Join(run, " "), sep: " "})
			run = run[:0]
		}
	}
	for _, w := range strings.Fields(line) {
		if tokens(w) > max {
			flush()
			for i, part := range cutWord(w, max) {
				sep := ""
				if i == 0 {
					sep = " "
				}
				out = append(out, atom{text: part, sep: sep})
			}
			continue
		}
		if len(run) > 0 && tokens(strings.Join(run, " ")+" "+w) > max {
			flush()
		}
		run = append(run, w)
	}
	flush()
	return out
}

// cutWord cuts w between characters into parts of at most max tokens; a
// part is never less than one character.
func cutWord(w string, max int) []string {
	var parts []string
	for w != "" {
		// Grow the part a character at a time: it works whatever
		// EstimateTokens counts, and each character is looked at once.
		_, end := utf8.DecodeRuneInString(w)
		for end < len(w) {
			_, n := utf8.DecodeRuneInString(w[end:])
			if tokens(w[:end+n]) > max {
				break
			}
			end += n
		}
		parts = append(parts, w[:end])
		w = w[end:]
	}
	return parts
}
