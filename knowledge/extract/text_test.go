package extract

import (
	"testing"

	"github.com/hyponema/hyponema"
)

func TestExtractText(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		contentType string
		want        string
	}{
		{"utf-8", "Hello, wörld.\r\nSecond line.  \r\n\r\n\r\n\r\nLast.\n", "text/plain", "Hello, wörld.\nSecond line.\n\nLast."},
		{"bom", "\xEF\xBB\xBFWith a BOM.", "text/plain", "With a BOM."},
		{"nul", "Nul\x00 bytes\x00 go.", "text/plain", "Nul bytes go."},
		{"utf-16le bom", "\xFF\xFEH\x00\xe9\x00!\x00", "text/plain", "Hé!"},
		{"utf-16be bom", "\xFE\xFF\x00H\x00\xe9\x00!", "", "Hé!"},
		{"utf-16le without bom", "H\x00e\x00l\x00l\x00o\x00 \x00w\x00o\x00r\x00l\x00d\x00", "text/plain", "Hello world"},
		{"latin-1", "Caf\xe9 cr\xe8me, \x80 5.", "text/plain", "Café crème, € 5."},
		{"charset label", "Caf\xe9", "text/plain; charset=ISO-8859-1", "Café"},
		{"damaged utf-8", "Déjà vu, then a cut \xe2\x82 here.", "text/plain", "Déjà vu, then a cut \uFFFD here."},
		{"headings pass", "# Title\n\nText.", "", "# Title\n\nText."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustExtract(t, []byte(tt.data), tt.contentType, "")
			if doc.Text != tt.want || doc.ContentType != TypeText || doc.Title != "" {
				t.Errorf("got %+v, want text %q", doc, tt.want)
			}
		})
	}
}

// Binary data labelled as text is refused rather than stored as noise.
func TestExtractTextBinary(t *testing.T) {
	_, err := Extract(pngImage(t), "text/plain", "photo.txt")
	wantError(t, err, hyponema.EINVALID, "does not look like text")
}
