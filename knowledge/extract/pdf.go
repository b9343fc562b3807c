package extract

import (
	"bytes"
	"errors"
	"strings"

	"github.com/hyponema/hyponema"
	"github.com/ledongthuc/pdf"
)

// Bounds on what a PDF may make the reader do: a crafted file can nest
// its page tree or chain its pages' parents without end.
const (
	maxPDFPages = 10000
	maxPDFDepth = 64
)

var (
	errPDFTooMuchText  = errors.New("too much text")
	errPDFMalformed    = errors.New("malformed PDF")
	errPDFTooManyPages = errors.New("too many pages")
)

// pdfText reads the text of a PDF's pages, in the order of their content
// streams, pages separated by a blank line. Lines that a paragraph was
// wrapped into join again (see joinPDFLines). Scanned pages (images)
// have no text to read.
func pdfText(data []byte) (doc Document, err error) {
	defer func() {
		// The reader panics on some malformed files.
		if recover() != nil {
			doc, err = Document{}, pdfError(nil)
		}
	}()
	if bytes.HasPrefix(data, []byte("%PDF-2.0")) {
		// The reader knows versions up to 1.7 only, but reads the text
		// of 2.0 files as well: say 1.7 in a copy, of the same length
		// so that the offsets in the file hold.
		data = bytes.Clone(data)
		copy(data, "%PDF-1.7")
	}
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Document{}, pdfError(err)
	}
	doc.Title = r.Trailer().Key("Info").Key("Title").Text()

	var pages []string
	total := 0
	fonts := map[string]*pdf.Font{}
	err = walkPages(r.Trailer().Key("Root").Key("Pages"), 0, func(p pdf.Page) error {
		if len(pages) >= maxPDFPages {
			return errPDFTooManyPages
		}
		if !parentsEnd(p.V) {
			return errPDFMalformed
		}
		for _, name := range p.Fonts() {
			if _, ok := fonts[name]; !ok {
				f := p.Font(name)
				fonts[name] = &f
			}
		}
		text, err := p.GetPlainText(fonts)
		if err != nil {
			return err
		}
		text = joinPDFLines(text)
		pages = append(pages, text)
		if total += len(text); total > hyponema.MaxSourceTextLen*2 {
			return errPDFTooMuchText
		}
		return nil
	})
	switch {
	case errors.Is(err, errPDFTooMuchText):
		// Extract reports the text as too large; no need to read on.
	case errors.Is(err, errPDFTooManyPages):
		return Document{}, hyponema.Errorf(hyponema.ETOOLARGE, "the PDF has more than %d pages: split it into smaller documents", maxPDFPages)
	case err != nil:
		return Document{}, pdfError(err)
	}
	doc.Text = strings.Join(pages, "\n\n")
	return doc, nil
}

func pdfError(err error) error {
	if errors.Is(err, pdf.ErrInvalidPassword) || (err != nil && strings.Contains(err.Error(), "encrypt")) {
		return hyponema.Errorf(hyponema.EINVALID, "the PDF is encrypted or malformed: save it without a password and upload it again")
	}
	return hyponema.Errorf(hyponema.EINVALID, "the PDF could not be read: it may be damaged, or use a feature this reader lacks")
}

// walkPages calls page for each page of the page tree under node, in
// order.
func walkPages(node pdf.Value, depth int, page func(pdf.Page) error) error {
	if depth > maxPDFDepth {
		return errPDFMalformed
	}
	switch node.Key("Type").Name() {
	case "Page":
		return page(pdf.Page{V: node})
	case "Pages":
		kids := node.Key("Kids")
		for i := range min(kids.Len(), maxPDFPages+1) {
			if err := walkPages(kids.Index(i), depth+1, page); err != nil {
				return err
			}
		}
	}
	return nil
}

// parentsEnd reports whether the chain of a page's parents, which the
// reader follows for inherited resources, ends.
func parentsEnd(v pdf.Value) bool {
	for range maxPDFDepth {
		if v = v.Key("Parent"); v.IsNull() {
			return true
		}
	}
	return false
}

// joinPDFLines turns the lines of a page, as its text objects left them,
// into paragraphs: a line joins the one before it unless that one ends a
// sentence or a clause (. ! ? :), so that wrapped text reads on; a line
// ending in a hyphen joins the next without a space.
func joinPDFLines(page string) string {
	var b strings.Builder
	prev := ""
	for line := range strings.Lines(page) {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" {
			continue
		}
		switch {
		case prev == "":
		case strings.HasSuffix(prev, "-") && !strings.HasSuffix(prev, " -"):
		case strings.ContainsAny(prev[len(prev)-1:], ".!?:;") || strings.HasSuffix(prev, "。"):
			b.WriteByte('\n')
		default:
			b.WriteByte(' ')
		}
		b.WriteString(line)
		prev = line
	}
	return b.String()
}
