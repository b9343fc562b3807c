package chunk

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

func TestSplitEmpty(t *testing.T) {
	for _, doc := range []string{"", " \n\t\n\n", "# Title\n\n## Part\n", "#\n"} {
		if got := Split(doc, Options{}); got != nil && doc != "#\n" {
			t.Errorf("Split(%q) = %+v, want nil", doc, got)
		}
	}
	// A lone '#' is no heading (headings need a title): it is text.
	if got := Split("#\n", Options{}); len(got) != 1 || got[0].Text != "#" {
		t.Errorf(`Split("#") = %+v`, got)
	}
}

func TestSplitHeadings(t *testing.T) {
	doc := `Preface words here.

# Guide

Guide intro.

## Install

Install text.

### Linux ###

Linux text.
#### Empty part

## Usage

Usage text.

` + "```sh\n# a shell comment, not a heading\nls\n```" + `

# Appendix #1

Appendix text.
`
	got := Split(doc, Options{})
	want := []Piece{
		{Heading: "", Text: "Preface words here."},
		{Heading: "Guide", Text: "Guide intro."},
		{Heading: "Guide > Install", Text: "Install text."},
		{Heading: "Guide > Install > Linux", Text: "Linux text."},
		{Heading: "Guide > Usage", Text: "Usage text.\n\n```sh\n# a shell comment, not a heading\nls\n```"},
		{Heading: "Appendix #1", Text: "Appendix text."},
	}
	// "Empty part" interrupts the paragraph before it and has no text:
	// it makes no piece.
	for i := range want {
		want[i].Tokens = hyponema.EstimateTokens(want[i].Text)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Split:\n got %+v\nwant %+v", got, want)
	}
}

// Sections longer than a piece still never share one.
func TestSplitSectionsNeverMix(t *testing.T) {
	var b strings.Builder
	for s := range 5 {
		fmt.Fprintf(&b, "## Section %d\n\n", s)
		for i := range 30 {
			fmt.Fprintf(&b, "Sentence s%dn%d of section %d talks about things. ", s, i, s)
			if i%7 == 6 {
				b.WriteString("\n\n")
			}
		}
		b.WriteString("\n\n")
	}
	pieces := Split(b.String(), Options{MaxTokens: 60, OverlapTokens: 20})
	perSection := map[string]int{}
	for _, p := range pieces {
		var s int
		if _, err := fmt.Sscanf(p.Heading, "Section %d", &s); err != nil {
			t.Fatalf("heading %q", p.Heading)
		}
		perSection[p.Heading]++
		for _, w := range strings.Fields(p.Text) {
			if strings.HasPrefix(w, "s") && strings.Contains(w, "n") && !strings.HasPrefix(w, fmt.Sprintf("s%dn", s)) && w != "section" {
				t.Errorf("piece under %q holds %q", p.Heading, w)
			}
		}
	}
	if len(perSection) != 5 {
		t.Fatalf("sections: %v", perSection)
	}
	for h, n := range perSection {
		if n < 2 {
			t.Errorf("%s: %d pieces, want several", h, n)
		}
	}
}

func TestSentences(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"One. Two! Three? Four", []string{"One.", "Two!", "Three?", "Four"}},
		{"It costs 3.5 dollars, e.g. a coffee. Next.", []string{"It costs 3.5 dollars, e.g. a coffee.", "Next."}},
		{"Fruit, e.g. Apples, i.e. Pears. Done.", []string{"Fruit, e.g. Apples, i.e. Pears.", "Done."}},
		{"Ask Dr. Smith and J. R. Tolkien at example.com now. Then go.", []string{"Ask Dr. Smith and J. R. Tolkien at example.com now.", "Then go."}},
		{`He said "Stop." She stopped.`, []string{`He said "Stop."`, "She stopped."}},
		{"Wait... what? No. 5 is mine. I said no. Fine.", []string{"Wait... what?", "No. 5 is mine.", "I said no.", "Fine."}},
		{"(Really?) Yes.", []string{"(Really?)", "Yes."}},
		{"1. First item\n2. Second item.\nThird line", []string{"1. First item\n2. Second item.", "Third line"}},
		{"Line one.\nLine two.", []string{"Line one.", "Line two."}},
		{"最初の文。次の文。", []string{"最初の文。", "次の文。"}},
		{"Ends with a point.", []string{"Ends with a point."}},
		{"Version 2.0.1 is out!Really.", []string{"Version 2.0.1 is out!Really."}},
	}
	for _, tt := range tests {
		var got []string
		for _, a := range sentences(tt.in) {
			got = append(got, a.text)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("sentences(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// Pieces end at sentence ends, hold whole paragraphs when these fit, and
// stay within MaxTokens.
func TestSplitSentenceBoundaries(t *testing.T) {
	var b strings.Builder
	var all []string
	for i := range 60 {
		s := fmt.Sprintf("Sentence number %d has e.g. some words and 3.5 units.", i)
		all = append(all, s)
		b.WriteString(s)
		b.WriteString(" ")
	}
	for _, max := range []int{20, 50, 100, 300} {
		pieces := Split(b.String(), Options{MaxTokens: max, OverlapTokens: -1})
		if len(pieces) < 2 && max < 300 {
			t.Errorf("max %d: %d pieces", max, len(pieces))
		}
		var joined []string
		for _, p := range pieces {
			if p.Tokens > max || p.Tokens != hyponema.EstimateTokens(p.Text) {
				t.Errorf("max %d: piece of %d tokens", max, p.Tokens)
			}
			if !strings.HasPrefix(p.Text, "Sentence number ") || !strings.HasSuffix(p.Text, " units.") {
				t.Errorf("max %d: piece cut mid-sentence: %q", max, p.Text)
			}
			joined = append(joined, p.Text)
		}
		// Without overlap, the pieces are the text again.
		if got := strings.Join(joined, " "); got != strings.Join(all, " ") {
			t.Errorf("max %d: pieces joined differ from the text", max)
		}
	}
}

func TestSplitKeepsParagraphsWhole(t *testing.T) {
	para := func(n int) string {
		return strings.Repeat(fmt.Sprintf("Paragraph %d sentence. ", n), 8)
	}
	doc := para(1) + "\n\n" + para(2) + "\n\n" + para(3)
	// Each paragraph is about 46 tokens: two fit in 100, three do not.
	pieces := Split(doc, Options{MaxTokens: 100, OverlapTokens: -1})
	if len(pieces) != 2 {
		t.Fatalf("%d pieces: %+v", len(pieces), pieces)
	}
	if want := strings.TrimSpace(para(1)) + "\n\n" + strings.TrimSpace(para(2)); pieces[0].Text != want {
		t.Errorf("first piece %q", pieces[0].Text)
	}
	if want := strings.TrimSpace(para(3)); pieces[1].Text != want {
		t.Errorf("second piece %q", pieces[1].Text)
	}
}

func TestSplitOverlap(t *testing.T) {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "Fact %d is stated here. ", i)
	}
	pieces := Split(b.String(), Options{MaxTokens: 40, OverlapTokens: 12})
	if len(pieces) < 3 {
		t.Fatalf("%d pieces", len(pieces))
	}
	for i := 1; i < len(pieces); i++ {
		prev, next := pieces[i-1].Text, pieces[i].Text
		// The next piece starts with whole sentences that end the
		// previous one, about OverlapTokens of them.
		first := next[:strings.Index(next, ".")+1]
		k := strings.Index(prev, first)
		if k < 0 {
			t.Fatalf("piece %d does not start with the end of piece %d:\n%q\n%q", i, i-1, prev, next)
		}
		shared := prev[k:]
		if !strings.HasPrefix(next, shared) {
			t.Errorf("piece %d: overlap %q is not the start of %q", i, shared, next)
		}
		if n := hyponema.EstimateTokens(shared); n > 12 || n < 4 {
			t.Errorf("piece %d: overlap of %d tokens: %q", i, n, shared)
		}
		if k == 0 {
			t.Errorf("piece %d repeats all of piece %d", i, i-1)
		}
	}
	// No overlap when turned off.
	for i, p := range Split(b.String(), Options{MaxTokens: 40, OverlapTokens: -1}) {
		if want := fmt.Sprintf("Fact %d ", 0); i == 0 && !strings.HasPrefix(p.Text, want) {
			t.Errorf("first piece %q", p.Text)
		}
		if i > 0 && strings.Contains(pieces[0].Text, p.Text[:strings.Index(p.Text, ".")+1]) {
			t.Errorf("overlap without OverlapTokens: %q", p.Text)
		}
	}
}

// Overlap never crosses a heading.
func TestSplitOverlapStaysInSection(t *testing.T) {
	doc := "# A\n\n" + strings.Repeat("Alpha says a thing. ", 20) + "\n\n# B\n\n" + strings.Repeat("Beta says a thing. ", 20)
	for _, p := range Split(doc, Options{MaxTokens: 30, OverlapTokens: 10}) {
		if (p.Heading == "A") == strings.Contains(p.Text, "Beta") || (p.Heading == "B") == strings.Contains(p.Text, "Alpha") {
			t.Errorf("piece under %q: %q", p.Heading, p.Text)
		}
	}
}

func TestSplitHugeWord(t *testing.T) {
	word := strings.Repeat("x", 5000) + "é" + strings.Repeat("y", 3000)
	doc := "Before. " + word + " after."
	pieces := Split(doc, Options{MaxTokens: 100})
	var all strings.Builder
	for _, p := range pieces {
		if p.Tokens > 100 || !utf8.ValidString(p.Text) {
			t.Errorf("piece of %d tokens, valid UTF-8 %v", p.Tokens, utf8.ValidString(p.Text))
		}
		all.WriteString(strings.Join(strings.Fields(p.Text), ""))
	}
	if !strings.Contains(all.String(), word) {
		t.Error("the word is not in the pieces, in order")
	}
	if len(pieces) < 8000/400 {
		t.Errorf("%d pieces", len(pieces))
	}
}

// A sentence over MaxTokens is cut between words, and only there.
func TestSplitHugeSentence(t *testing.T) {
	var words []string
	for i := range 500 {
		words = append(words, fmt.Sprintf("word%d", i))
	}
	doc := strings.Join(words, " ") + "."
	pieces := Split(doc, Options{MaxTokens: 50, OverlapTokens: -1})
	var got []string
	for _, p := range pieces {
		if p.Tokens > 50 {
			t.Errorf("piece of %d tokens", p.Tokens)
		}
		got = append(got, strings.Fields(p.Text)...)
	}
	words[len(words)-1] += "."
	if !reflect.DeepEqual(got, words) {
		t.Errorf("words differ: got %d words, want %d", len(got), len(words))
	}
}

// Long lists and tables without sentence ends are cut at line ends.
func TestSplitLines(t *testing.T) {
	var lines []string
	for i := range 100 {
		lines = append(lines, fmt.Sprintf("name: item %d; price: %d", i, i*3))
	}
	pieces := Split(strings.Join(lines, "\n"), Options{MaxTokens: 40, OverlapTokens: -1})
	var got []string
	for _, p := range pieces {
		got = append(got, strings.Split(p.Text, "\n")...)
	}
	if !reflect.DeepEqual(got, lines) {
		t.Errorf("lines differ:\n%q", got)
	}
}

func TestSplitDeterministic(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "## H%d\n\nText %d. More text, e.g. this. %s\n\n", i%7, i, strings.Repeat("w ", i%50))
	}
	first := Split(b.String(), Options{MaxTokens: 64, OverlapTokens: 16})
	for range 3 {
		if again := Split(b.String(), Options{MaxTokens: 64, OverlapTokens: 16}); !reflect.DeepEqual(first, again) {
			t.Fatal("Split gave two results for one input")
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	got := Options{}.normalize()
	if got.MaxTokens != DefaultMaxTokens || got.OverlapTokens != DefaultOverlapTokens {
		t.Errorf("defaults %+v", got)
	}
	if got := (Options{MaxTokens: 10, OverlapTokens: 50}).normalize(); got.OverlapTokens != 5 {
		t.Errorf("overlap not bounded by half the max: %+v", got)
	}
	if got := (Options{OverlapTokens: -1}).normalize(); got.OverlapTokens != 0 {
		t.Errorf("negative overlap: %+v", got)
	}
}

// FuzzSplit checks the invariants of Split on any input: pieces are not
// empty, within MaxTokens (a lone character may be over it), and every
// word of the input is found in some piece, or, for a word that had to be
// cut, in the pieces read in order.
func FuzzSplit(f *testing.F) {
	f.Add("# A\n\nHello world. Bye.\n\n## B\ntext", 20, 5)
	f.Add("", 0, 0)
	f.Add(strings.Repeat("abc ", 500), 10, 3)
	f.Add(strings.Repeat("x", 3000)+" y. Z", 7, 2)
	f.Add("```\n# code\n```\n# H\n\nA. B. C. D. E.", 3, 1)
	f.Add("1. one\n2. two\n\n\n3. e.g. x. Y", 2, 0)
	f.Add("最初の文。次の文。"+strings.Repeat("あ", 200), 5, 2)
	f.Add("a\xffb. \xe2\x82 c\r\nd\u2028e", 1, 1)
	f.Add(strings.Repeat("Word. ", 200), 1, -1)
	f.Fuzz(func(t *testing.T, doc string, max, overlap int) {
		opt := Options{MaxTokens: max % 400, OverlapTokens: overlap % 200}
		pieces := Split(doc, opt)
		max = opt.normalize().MaxTokens
		found := map[string]bool{}
		var inOrder strings.Builder
		for _, p := range pieces {
			if strings.TrimSpace(p.Text) == "" {
				t.Fatalf("empty piece %+v", p)
			}
			if p.Tokens != hyponema.EstimateTokens(p.Text) {
				t.Fatalf("Tokens %d for %q", p.Tokens, p.Text)
			}
			if p.Tokens > max && utf8.RuneCountInString(p.Text) > 1 {
				t.Fatalf("piece of %d tokens over %d: %q", p.Tokens, max, p.Text)
			}
			for _, w := range strings.Fields(p.Heading + " " + p.Text) {
				found[w] = true
			}
			inOrder.WriteString(strings.Join(strings.Fields(p.Text), ""))
		}
		// Words of headings that have no text under them go, as do
		// headings' closing '#'s: lines that start with '#' are exempt.
		exempt := map[string]bool{}
		for line := range strings.Lines(doc) {
			if strings.HasPrefix(strings.TrimLeftFunc(line, unicode.IsSpace), "#") {
				for _, w := range strings.Fields(line) {
					exempt[w] = true
				}
			}
		}
		for _, w := range strings.Fields(doc) {
			if !found[w] && !exempt[w] && !strings.Contains(inOrder.String(), w) {
				t.Fatalf("word %q lost", w)
			}
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	var doc strings.Builder
	for doc.Len() < hyponema.MaxSourceTextLen {
		fmt.Fprintf(&doc, "## Part %d\n\n", doc.Len())
		for range 20 {
			doc.WriteString("A sentence of ordinary length, with a clause or two, ends here. ")
		}
		doc.WriteString("\n\n")
	}
	b.SetBytes(int64(doc.Len()))
	for b.Loop() {
		Split(doc.String(), Options{})
	}
}
