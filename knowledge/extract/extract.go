// Package extract turns the documents of a knowledge base (plain text,
// Markdown, HTML, PDF and CSV) into text that the chunk package can cut.
//
// The text is Markdown-like, whatever the source: a heading is a line of
// one to six '#', a space and its title; paragraphs, list items, table
// rows and CSV records are separated by line breaks, blocks by a blank
// line; code stays between ``` fences. Extraction is a pure function of
// the bytes: no network, no files.
package extract

import (
	"bytes"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// The content types that Extract reads, as Document.ContentType names
// them.
const (
	TypeText     = "text/plain"
	TypeMarkdown = "text/markdown"
	TypeHTML     = "text/html"
	TypePDF      = "application/pdf"
	TypeCSV      = "text/csv"
	TypeTSV      = "text/tab-separated-values"
)

// Document is the text extracted from a document.
type Document struct {
	// ContentType is the type the text was read as: one of the Type
	// constants.
	ContentType string
	// Title is the document's own title when it has one (an HTML
	// <title>, a PDF's Title, a Markdown front matter title or first
	// level-1 heading), else empty.
	Title string
	// Text is the Markdown-like text: see the package comment.
	Text string
}

// Supported lists the types for people, in the error for the others.
const Supported = "plain text, Markdown, HTML, PDF and CSV (text/plain, text/markdown, text/html, application/pdf, text/csv)"

// Extract reads the text of data. contentType (a media type, parameters
// allowed) and filename are hints, either may be empty: see Detect.
//
// Errors are *hyponema.Error, with messages fit for the document's owner:
// EMEDIATYPE for a type it does not read, ETOOLARGE for a file over
// hyponema.MaxSourceFileSize or a text over hyponema.MaxSourceTextLen,
// EINVALID for a document that cannot be read or holds no text.
func Extract(data []byte, contentType, filename string) (Document, error) {
	if len(data) > hyponema.MaxSourceFileSize {
		return Document{}, hyponema.Errorf(hyponema.ETOOLARGE, "the file is %s, over the limit of %s", size(len(data)), size(hyponema.MaxSourceFileSize))
	}
	typ, sniffed := detect(data, contentType, filename)
	charset := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		charset = params["charset"]
	}
	var (
		doc Document
		err error
	)
	switch typ {
	case TypeText:
		doc.Text, err = plainText(data, charset)
	case TypeMarkdown:
		doc, err = markdown(data, charset)
	case TypeHTML:
		doc, err = htmlText(data, contentType)
	case TypePDF:
		doc, err = pdfText(data)
	case TypeCSV:
		doc.Text, err = csvText(data, charset, 0)
	case TypeTSV:
		doc.Text, err = csvText(data, charset, '\t')
	default:
		return Document{}, hyponema.Errorf(hyponema.EMEDIATYPE, "cannot read %s files: the supported types are %s", sniffed, Supported)
	}
	if err != nil {
		return Document{}, err
	}
	doc.ContentType = typ
	doc.Text = clean(doc.Text)
	doc.Title = shorten(strings.Join(strings.Fields(clean(doc.Title)), " "), maxTitleLen)
	if doc.Text == "" {
		return Document{}, hyponema.Errorf(hyponema.EINVALID, "no text found in the document")
	}
	if len(doc.Text) > hyponema.MaxSourceTextLen {
		return Document{}, hyponema.Errorf(hyponema.ETOOLARGE, "the document's text is %s, over the limit of %s of text per source: split it into smaller documents", size(len(doc.Text)), size(hyponema.MaxSourceTextLen))
	}
	return doc, nil
}

// Readable says whether Extract would read data as a type it knows,
// without extracting anything: a cheap test for an upload. found is the
// type that data was taken for.
func Readable(data []byte, contentType, filename string) (found string, ok bool) {
	typ, found := detect(data, contentType, filename)
	return found, typ != ""
}

// Detect returns the type Extract reads data as, one of the Type
// constants, or "" when it does not read it. A known contentType wins,
// but for text/plain, which clients send for many a file: it gives way to
// a PDF's own header and to the file name's extension. An unknown or
// generic contentType (application/octet-stream) gives way to the
// extension, which gives way to the content itself.
func Detect(data []byte, contentType, filename string) string {
	typ, _ := detect(data, contentType, filename)
	return typ
}

// detect returns the type to read data as ("" for none), and the name of
// the type as found, for the error about unsupported ones.
func detect(data []byte, contentType, filename string) (typ, found string) {
	declared, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		declared = strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	}
	byExt := extensions[strings.ToLower(path.Ext(strings.ReplaceAll(filename, `\`, "/")))]
	t, known := mediaTypes[declared]
	switch {
	case known && t != TypeText:
		return t, declared
	case known:
		// Many clients send text/plain for any text file: the extension
		// says better which one, and a PDF says so itself.
		if sniff(data) == TypePDF {
			return TypePDF, TypePDF
		}
		if byExt != "" && byExt != TypePDF {
			return byExt, declared
		}
		return TypeText, declared
	case byExt != "":
		return byExt, byExt
	}
	sniffed := sniff(data)
	if t, ok := mediaTypes[sniffed]; ok {
		return t, sniffed
	}
	if strings.HasPrefix(declared, "text/") {
		return TypeText, declared
	}
	if err == nil && declared != "application/octet-stream" {
		return "", declared // what the client called it
	}
	return "", sniffed
}

// mediaTypes maps the media types that Extract reads, aliases included,
// to its own names for them.
var mediaTypes = map[string]string{
	"text/plain":                TypeText,
	"application/json":          TypeText,
	"application/xml":           TypeText,
	"text/xml":                  TypeText,
	"text/markdown":             TypeMarkdown,
	"text/x-markdown":           TypeMarkdown,
	"text/html":                 TypeHTML,
	"application/xhtml+xml":     TypeHTML,
	"application/pdf":           TypePDF,
	"application/x-pdf":         TypePDF,
	"text/csv":                  TypeCSV,
	"application/csv":           TypeCSV,
	"text/tab-separated-values": TypeTSV,
}

// extensions maps file name extensions to types.
var extensions = map[string]string{
	".txt":      TypeText,
	".text":     TypeText,
	".log":      TypeText,
	".json":     TypeText,
	".md":       TypeMarkdown,
	".markdown": TypeMarkdown,
	".mdown":    TypeMarkdown,
	".mkd":      TypeMarkdown,
	".htm":      TypeHTML,
	".html":     TypeHTML,
	".xhtml":    TypeHTML,
	".pdf":      TypePDF,
	".csv":      TypeCSV,
	".tsv":      TypeTSV,
	".tab":      TypeTSV,
}

// sniff guesses the media type of data from its first bytes.
func sniff(data []byte) string {
	if bytes.HasPrefix(data, []byte("%PDF-")) {
		return TypePDF
	}
	t, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	if t == "application/octet-stream" && looksLikeText(data) {
		// DetectContentType calls text with a few invalid bytes (a
		// Latin-1 file, a cut UTF-8 one) binary.
		return TypeText
	}
	return t
}

// looksLikeText reports whether data reads as text rather than binary:
// under 2% of control characters, and NULs (which text may be padded
// with) under a third. UTF-16 with a BOM is text.
func looksLikeText(data []byte) bool {
	if hasUTF16BOM(data) {
		return true
	}
	sample := data[:min(len(data), 8192)]
	var nul, ctl int
	for _, c := range sample {
		switch {
		case c == 0:
			nul++
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != 0x1B:
			ctl++
		}
	}
	return ctl*50 <= len(sample) && nul*3 <= len(sample)
}

// clean makes extracted text tidy and safe to store: valid UTF-8, no
// control characters but tabs and line breaks, "\n" line endings, no
// trailing spaces, at most one blank line in a row, none at either end.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var (
		out    strings.Builder
		line   strings.Builder
		breaks int // line ends since the last line with text
	)
	out.Grow(len(s))
	endLine := func() {
		if l := strings.TrimRight(line.String(), " \t"); l != "" {
			if out.Len() > 0 {
				out.WriteString("\n\n"[:min(breaks, 2)])
			}
			out.WriteString(l)
			breaks = 0
		}
		line.Reset()
		breaks++
	}
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\f' || r == '\v' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			endLine()
		case r == '\t':
			line.WriteByte('\t')
		case r == '\uFEFF' || r == '\u00AD' || r == '\u200B': // BOM, soft hyphen, zero-width space
		case unicode.IsControl(r):
		case unicode.IsSpace(r): // NBSP and the other odd spaces
			line.WriteByte(' ')
		default:
			line.WriteRune(r)
		}
	}
	endLine()
	return strings.TrimSpace(out.String())
}

// maxTitleLen bounds Document.Title, in bytes.
const maxTitleLen = 500

// shorten cuts s to at most n bytes, between characters.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strings.TrimSpace(s[:n])
}

// size writes n bytes for people.
func size(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
