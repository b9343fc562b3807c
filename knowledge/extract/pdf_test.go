package extract

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-pdf/fpdf"
	"github.com/hyponema/hyponema"
)

// pdfDocument makes a PDF of one page per text, with the title "Test
// document", encrypted when password is not empty. Texts may hold
// Windows-1252 characters (é, €, “”).
func pdfDocument(tb testing.TB, pages []string, password string) []byte {
	tb.Helper()
	f := fpdf.New("P", "mm", "A4", "")
	f.SetTitle("Test document", true)
	if password != "" {
		f.SetProtection(fpdf.CnProtectPrint, password, "owner")
	}
	tr := f.UnicodeTranslatorFromDescriptor("")
	f.SetFont("Helvetica", "", 12)
	for _, text := range pages {
		f.AddPage()
		for i, para := range strings.Split(text, "\n\n") {
			if i > 0 {
				f.Ln(4)
			}
			f.MultiCell(0, 6, tr(para), "", "L", false)
		}
	}
	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func TestExtractPDF(t *testing.T) {
	long := "This first paragraph is long enough to wrap across several lines of the page, " +
		"so that the reader sees it as many lines that must be joined again into one paragraph " +
		"before the chunker cuts it at its sentence ends. It costs 3.5 euros, e.g. a coffee at the café."
	pages := []string{
		long + "\n\nA second paragraph stands alone.",
		"The second page says hello. It has two sentences.",
	}
	// The test writes its file and reads it back, as an upload would be.
	path := filepath.Join(t.TempDir(), "two pages.pdf")
	if err := os.WriteFile(path, pdfDocument(t, pages, ""), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := mustExtract(t, data, "", filepath.Base(path))
	if doc.ContentType != TypePDF || doc.Title != "Test document" {
		t.Errorf("type %q, title %q", doc.ContentType, doc.Title)
	}
	want := long + "\nA second paragraph stands alone.\n\nThe second page says hello. It has two sentences."
	if doc.Text != want {
		t.Errorf("text\n%q\nwant\n%q", doc.Text, want)
	}
}

func TestExtractPDFVersion2(t *testing.T) {
	data := pdfDocument(t, []string{"Version two."}, "")
	data = bytes.Replace(data, []byte("%PDF-1.3"), []byte("%PDF-2.0"), 1)
	if doc := mustExtract(t, data, "application/pdf", ""); doc.Text != "Version two." {
		t.Errorf("text %q", doc.Text)
	}
}

func TestExtractPDFErrors(t *testing.T) {
	good := pdfDocument(t, []string{"Some text."}, "")
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)/2], "could not be read"},
		{"not a PDF", []byte("%PDF-1.4 but nothing else"), "could not be read"},
		{"garbage xref", append(bytes.Clone(good[:len(good)-40]), []byte("startxref\n99999999\n%%EOF\n")...), "could not be read"},
		{"encrypted", pdfDocument(t, []string{"Secret text."}, "secret"), "encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(tt.data, "application/pdf", "")
			wantError(t, err, hyponema.EINVALID, tt.want)
		})
	}
}

// A PDF of only images (a scan) has no text.
func TestExtractPDFWithoutText(t *testing.T) {
	f := fpdf.New("P", "mm", "A4", "")
	f.AddPage()
	f.Rect(10, 10, 50, 50, "F")
	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		t.Fatal(err)
	}
	_, err := Extract(b.Bytes(), "application/pdf", "scan.pdf")
	wantError(t, err, hyponema.EINVALID, "no text found")
}

func TestJoinPDFLines(t *testing.T) {
	got := joinPDFLines("\n\nA line that\nwraps here. Next\nsentence:\nitem one\nwell-\nknown -\nend\n")
	want := "A line that wraps here. Next sentence:\nitem one well-known - end"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
