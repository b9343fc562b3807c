package extract

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/hyponema/hyponema"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// htmlText reads an HTML page: its <title>, and the text of its <main>
// (or of its body when it has no main) without scripts, styles,
// navigation, page headers and footers. Headings become "# Title" lines,
// paragraphs and list items lines of their own, table rows
// "cell | cell" lines, and <pre> blocks fenced code.
func htmlText(data []byte, contentType string) (Document, error) {
	enc, _, _ := charset.DetermineEncoding(data, contentType)
	utf, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return Document{}, hyponema.Errorf(hyponema.EINVALID, "the page's text encoding could not be read")
	}
	root, err := html.Parse(bytes.NewReader(utf))
	if err != nil {
		return Document{}, hyponema.Errorf(hyponema.EINVALID, "the page could not be read as HTML")
	}
	var doc Document
	if t := find(root, func(n *html.Node) bool { return n.DataAtom == atom.Title }); t != nil {
		doc.Title = strings.Join(strings.Fields(textOf(t)), " ")
	}
	body := find(root, func(n *html.Node) bool { return n.DataAtom == atom.Body })
	if body == nil {
		body = root
	}
	main := find(body, func(n *html.Node) bool {
		return (n.DataAtom == atom.Main || attr(n, "role") == "main") && !skipped(n, false)
	})
	var w htmlWriter
	if main != nil {
		w.node(main, true)
	}
	if strings.TrimSpace(w.b.String()) == "" {
		w = htmlWriter{}
		w.node(body, false)
	}
	doc.Text = w.b.String()
	if doc.Title == "" {
		doc.Title = w.firstH1
	}
	return doc, nil
}

// skipped reports whether n holds no text worth reading. Page headers and
// footers are kept inside the main content, where they belong to an
// article.
func skipped(n *html.Node, inMain bool) bool {
	if n.Type == html.CommentNode || n.Type == html.DoctypeNode {
		return true
	}
	if n.Type != html.ElementNode {
		return false
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Nav, atom.Noscript, atom.Template, atom.Head,
		atom.Svg, atom.Math, atom.Iframe, atom.Object, atom.Embed, atom.Canvas,
		atom.Select, atom.Button, atom.Dialog:
		return true
	case atom.Header, atom.Footer:
		return !inMain && !insideArticle(n)
	}
	if _, hidden := attrOK(n, "hidden"); hidden || attr(n, "aria-hidden") == "true" {
		return true
	}
	switch attr(n, "role") {
	case "navigation", "banner", "contentinfo", "search":
		return true
	}
	return false
}

func insideArticle(n *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.DataAtom == atom.Article || p.DataAtom == atom.Main {
			return true
		}
	}
	return false
}

// htmlWriter writes the text of HTML nodes: runs of white space collapse
// to one space, and blocks ask for line breaks, written only before the
// next text so that empty blocks leave no blank lines.
type htmlWriter struct {
	b       strings.Builder
	breaks  int    // line breaks owed before the next text
	space   bool   // a space is owed before the next text
	prefix  string // written at the start of the next line of text ("- ")
	items   int    // list items the writer is in
	firstH1 string
}

// brk asks for n line breaks (1: a new line, 2: a blank line) before the
// next text.
func (w *htmlWriter) brk(n int) { w.breaks = max(w.breaks, n) }

// text writes inline text.
func (w *htmlWriter) text(s string) {
	if s == "" {
		return
	}
	if isSpace(s[0]) {
		w.space = true
	}
	for i, word := range strings.Fields(s) {
		w.word(word, i > 0)
	}
	if isSpace(s[len(s)-1]) {
		w.space = true
	}
}

func (w *htmlWriter) word(word string, spaced bool) {
	if w.b.Len() > 0 && w.breaks > 0 {
		w.b.WriteString("\n\n"[:w.breaks])
		w.space = false
	} else if (w.space || spaced) && w.b.Len() > 0 {
		w.b.WriteByte(' ')
	}
	if w.breaks > 0 || w.b.Len() == 0 {
		w.b.WriteString(w.prefix)
		w.prefix = ""
	}
	w.breaks, w.space = 0, false
	w.b.WriteString(word)
}

// line writes s as a line of its own, with at least before line breaks
// before it and after after it.
func (w *htmlWriter) line(s string, before, after int) {
	if s = strings.TrimSpace(s); s == "" {
		return
	}
	w.brk(before)
	if w.b.Len() > 0 {
		w.b.WriteString("\n\n"[:w.breaks])
	}
	w.b.WriteString(s)
	w.breaks, w.space, w.prefix = after, false, ""
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// blockBreaks are the line breaks around block elements: 2 for a blank
// line, 1 for a line of its own.
var blockBreaks = map[atom.Atom]int{
	atom.P: 2, atom.Blockquote: 2, atom.Section: 2, atom.Article: 2, atom.Aside: 2,
	atom.Figure: 2, atom.Ul: 2, atom.Ol: 2, atom.Dl: 2, atom.Table: 2, atom.Hr: 2,
	atom.Address: 2, atom.Details: 2, atom.Fieldset: 2, atom.Form: 2, atom.Main: 2,
	atom.Header: 2, atom.Footer: 2, atom.Hgroup: 2,
	atom.Div: 1, atom.Li: 1, atom.Dt: 1, atom.Dd: 1, atom.Figcaption: 1, atom.Summary: 1,
	atom.Tr: 1, atom.Caption: 1, atom.Legend: 1, atom.Center: 1, atom.Br: 1,
}

var headingLevel = map[atom.Atom]int{atom.H1: 1, atom.H2: 2, atom.H3: 3, atom.H4: 4, atom.H5: 5, atom.H6: 6}

func (w *htmlWriter) node(n *html.Node, inMain bool) {
	if skipped(n, inMain) {
		return
	}
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.ElementNode:
	default:
		w.children(n, inMain)
		return
	}
	if level, ok := headingLevel[n.DataAtom]; ok {
		title := strings.Join(strings.Fields(textOf(n)), " ")
		if title != "" {
			w.line(strings.Repeat("#", level)+" "+title, 2, 2)
			if level == 1 && w.firstH1 == "" {
				w.firstH1 = title
			}
		}
		return
	}
	switch n.DataAtom {
	case atom.Pre:
		code := strings.Trim(preText(n), "\n")
		if strings.TrimSpace(code) != "" {
			w.line("```\n"+code+"\n```", 2, 2)
		}
		return
	case atom.Table:
		w.table(n)
		return
	case atom.Li:
		w.brk(1)
		w.prefix = "- "
		if n.Parent != nil && n.Parent.DataAtom == atom.Ol {
			w.prefix = strconv.Itoa(itemNumber(n)) + ". "
		}
		w.items++
		w.children(n, inMain)
		w.items--
		w.prefix = ""
		w.brk(1)
		return
	case atom.Img:
		// An image says what it shows in its alt text, if anywhere.
		if alt := strings.TrimSpace(attr(n, "alt")); alt != "" {
			w.text(" " + alt + " ")
		}
		return
	case atom.Td, atom.Th:
		w.text(" ")
		w.children(n, inMain)
		w.text(" ")
		return
	}
	brk := blockBreaks[n.DataAtom]
	if w.items > 0 {
		brk = min(brk, 1) // a list stays a list of lines
	}
	w.brk(brk)
	w.children(n, inMain || n.DataAtom == atom.Main)
	w.brk(brk)
}

func (w *htmlWriter) children(n *html.Node, inMain bool) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.node(c, inMain)
	}
}

// table writes each row of a table as "cell | cell". A cell's content is
// flattened to one line.
func (w *htmlWriter) table(t *html.Node) {
	w.brk(2)
	var rows []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if skipped(c, true) {
				continue
			}
			switch c.DataAtom {
			case atom.Tr:
				var cells []string
				for td := c.FirstChild; td != nil; td = td.NextSibling {
					if td.DataAtom != atom.Td && td.DataAtom != atom.Th {
						continue
					}
					var cw htmlWriter
					cw.children(td, true)
					cells = append(cells, strings.Join(strings.Fields(cw.b.String()), " "))
				}
				if strings.TrimSpace(strings.Join(cells, "")) != "" {
					rows = append(rows, strings.Join(cells, " | "))
				}
			case atom.Table:
				// A table in a cell is read by that cell; one here
				// (in a caption, say) is a table of its own.
				var tw htmlWriter
				tw.table(c)
				if s := strings.TrimSpace(tw.b.String()); s != "" {
					rows = append(rows, s)
				}
			case atom.Caption:
				if s := strings.Join(strings.Fields(textOf(c)), " "); s != "" {
					rows = append(rows, s)
				}
			default:
				walk(c)
			}
		}
	}
	walk(t)
	for _, r := range rows {
		w.line(r, 1, 1)
	}
	w.brk(2)
}

// itemNumber returns the number an item of an ordered list shows.
func itemNumber(li *html.Node) int {
	n := 1
	if s, err := strconv.Atoi(attr(li.Parent, "start")); err == nil {
		n = s
	}
	for c := li.Parent.FirstChild; c != nil && c != li; c = c.NextSibling {
		if c.DataAtom == atom.Li {
			n++
		}
	}
	return n
}

// textOf returns the text under n, without what is skipped.
func textOf(n *html.Node) string {
	var w htmlWriter
	w.children(n, true)
	return w.b.String()
}

// preText returns the text under a <pre> as written, with <br> as line
// breaks.
func preText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				b.WriteString(c.Data)
			case c.DataAtom == atom.Br:
				b.WriteByte('\n')
			case !skipped(c, true):
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, match); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func attrOK(n *html.Node, key string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return strings.TrimSpace(a.Val), true
		}
	}
	return "", false
}
