package extract

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// mustExtract extracts or fails the test.
func mustExtract(t *testing.T, data []byte, contentType, filename string) Document {
	t.Helper()
	doc, err := Extract(data, contentType, filename)
	if err != nil {
		t.Fatalf("Extract(%q, %q): %v", contentType, filename, err)
	}
	return doc
}

// wantError checks that err is a *hyponema.Error of code whose message
// holds each of parts.
func wantError(t *testing.T, err error, code string, parts ...string) {
	t.Helper()
	if got := hyponema.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	msg := hyponema.ErrorMessage(err)
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message %q does not say %q", msg, p)
		}
	}
	if strings.Contains(msg, "/tmp") || strings.Contains(msg, ".go") {
		t.Errorf("message %q leaks internals", msg)
	}
}

func pngImage(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDetect(t *testing.T) {
	pdfData := []byte("%PDF-1.4\n%…")
	html := []byte("<!DOCTYPE html><html><body><p>Hi</p></body></html>")
	tests := []struct {
		name        string
		data        []byte
		contentType string
		filename    string
		want        string
	}{
		{"declared", []byte("a,b"), "text/csv; charset=utf-8", "", TypeCSV},
		{"declared wins over extension", []byte("# x"), "text/markdown", "notes.txt", TypeMarkdown},
		{"text/plain gives way to extension", []byte("a,b\n1,2"), "text/plain", "table.CSV", TypeCSV},
		{"text/plain stays for .txt", []byte("x"), "text/plain", "a.txt", TypeText},
		{"octet-stream gives way to extension", []byte("# x"), "application/octet-stream", "README.md", TypeMarkdown},
		{"extension without type", []byte("x"), "", `C:\Users\me\page.HTM`, TypeHTML},
		{"sniffed PDF", pdfData, "", "", TypePDF},
		{"PDF labelled text/plain", pdfData, "text/plain", "doc.txt", TypePDF},
		{"sniffed PDF behind octet-stream", pdfData, "application/octet-stream", "scan", TypePDF},
		{"sniffed HTML", html, "", "", TypeHTML},
		{"sniffed text", []byte("just words\n"), "", "", TypeText},
		{"sniffed Latin-1 text", []byte("caf\xe9 cr\xe8me"), "", "", TypeText},
		{"alias", []byte("x"), "application/x-pdf", "", TypePDF},
		{"xhtml", html, "application/xhtml+xml", "", TypeHTML},
		{"other text type", []byte("BEGIN:VCALENDAR"), "text/calendar", "", TypeText},
		{"json is text", []byte(`{"a": 1}`), "application/json", "", TypeText},
		{"tsv", []byte("a\tb"), "", "x.tsv", TypeTSV},
		{"png", pngImage(t), "", "", ""},
		{"png declared", pngImage(t), "image/png", "photo.png", ""},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), "", "report.docx", ""},
		{"bad content type", []byte("plain"), "not a type;;", "", TypeText},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.data, tt.contentType, tt.filename); got != tt.want {
				t.Errorf("Detect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExtractUnsupported(t *testing.T) {
	_, err := Extract(pngImage(t), "", "/srv/uploads/photo.png")
	wantError(t, err, hyponema.EMEDIATYPE, "image/png", "text/plain", "text/markdown", "text/html", "application/pdf", "text/csv")
	if strings.Contains(hyponema.ErrorMessage(err), "uploads") {
		t.Error("the message names the file's path")
	}
	_, err = Extract([]byte("PK\x03\x04\x14\x00\x00\x00\x08\x00"), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx")
	wantError(t, err, hyponema.EMEDIATYPE, "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "supported types are")
}

func TestExtractEmpty(t *testing.T) {
	for _, tt := range []struct{ data, contentType string }{
		{"", ""},
		{"", "text/plain"},
		{" \n\t\r\n\x00\x00 ", "text/plain"},
		{"<html><head><title>T</title><script>var x = 1;</script></head><body><nav>Menu</nav></body></html>", "text/html"},
		{"<!-- only a comment -->\n\n---\n", "text/markdown"},
		{"\xEF\xBB\xBFname,age\n", "text/csv"}, // a header is text, but not this:
		{",,\n,,\n", "text/csv"},
	} {
		_, err := Extract([]byte(tt.data), tt.contentType, "")
		if tt.data == "\xEF\xBB\xBFname,age\n" {
			if err != nil {
				t.Errorf("a CSV of one header: %v", err)
			}
			continue
		}
		wantError(t, err, hyponema.EINVALID, "no text found")
	}
}

func TestExtractTooLarge(t *testing.T) {
	line := strings.Repeat("word ", 19) + "end.\n"
	big := strings.Repeat(line, hyponema.MaxSourceTextLen/len(line)+1)
	_, err := Extract([]byte(big), "text/plain", "big.txt")
	wantError(t, err, hyponema.ETOOLARGE, "1 MiB")

	// Just under the limit is fine.
	ok := strings.Repeat(line, hyponema.MaxSourceTextLen/len(line))
	if doc := mustExtract(t, []byte(ok), "text/plain", ""); len(doc.Text) > hyponema.MaxSourceTextLen {
		t.Errorf("text of %d bytes", len(doc.Text))
	}

	// Markup that goes is not counted.
	padded := "<p>" + strings.Repeat("<span> </span>", hyponema.MaxSourceTextLen/14+10) + "Hello.</p>"
	if doc := mustExtract(t, []byte(padded), "text/html", ""); doc.Text != "Hello." {
		t.Errorf("text %q", doc.Text[:min(len(doc.Text), 40)])
	}

	huge := make([]byte, hyponema.MaxSourceFileSize+1)
	_, err = Extract(huge, "application/pdf", "")
	wantError(t, err, hyponema.ETOOLARGE, "20 MiB")
}

func TestExtractTitleBounded(t *testing.T) {
	page := "<title>" + strings.Repeat("é", 1000) + "</title><p>Body.</p>"
	doc := mustExtract(t, []byte(page), "text/html", "")
	if len(doc.Title) > maxTitleLen || !utf8.ValidString(doc.Title) {
		t.Errorf("title of %d bytes", len(doc.Title))
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\rc", "a\nb\nc"},
		{"  \n\n a  \t\n\n\n\nb \n\n", "a\n\nb"},
		{"x\x00y\x07z\x1b", "xyz"},
		{"non\u00a0breaking\u2003space", "non breaking space"},
		{"soft\u00adhyphen\ufeff", "softhyphen"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"\tindented\n\tcode", "indented\n\tcode"},
		{"page\fbreak", "page\nbreak"},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzExtract checks that no input makes Extract panic or return text
// that is not valid, tidy UTF-8 within the limit.
func FuzzExtract(f *testing.F) {
	f.Add([]byte("Hello, world."), "text/plain")
	f.Add([]byte("# T\n\n[link](http://x) *em* `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |"), "text/markdown")
	f.Add([]byte("<html><title>T</title><h1>H</h1><table><tr><td>a<td>b</table><pre>x\ny</pre>"), "text/html")
	f.Add([]byte("\xEF\xBB\xBFa;b\n\"1;\"\"x\"\"\";2\n"), "text/csv")
	f.Add([]byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\nstartxref\n9\n%%EOF\n"), "application/pdf")
	f.Add(pdfDocument(f, []string{"One page. Two sentences."}, ""), "application/pdf")
	f.Fuzz(func(t *testing.T, data []byte, contentType string) {
		doc, err := Extract(data, contentType, "")
		if err != nil {
			if hyponema.ErrorCode(err) == hyponema.EINTERNAL {
				t.Fatalf("not a domain error: %v", err)
			}
			return
		}
		if doc.Text == "" || !utf8.ValidString(doc.Text) || !utf8.ValidString(doc.Title) || strings.ContainsAny(doc.Text, "\x00\r") {
			t.Fatalf("text %q, title %q", doc.Text, doc.Title)
		}
		if len(doc.Text) > hyponema.MaxSourceTextLen {
			t.Fatalf("text of %d bytes", len(doc.Text))
		}
	})
}
