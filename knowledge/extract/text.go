package extract

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

// plainText reads a text file.
func plainText(data []byte, label string) (string, error) {
	return decode(data, label)
}

// decode returns data as UTF-8 text. It follows a byte order mark, then
// the charset label when there is one, else takes UTF-8. Text that is not
// valid UTF-8 is repaired: with U+FFFD for its bad bytes when the rest
// holds UTF-8 letters beyond ASCII (a file cut or damaged), read as
// Windows-1252 otherwise (the usual legacy encoding of Western text).
// Binary data is an error.
func decode(data []byte, label string) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")):
		return checkText(string(data[3:]))
	case hasUTF16BOM(data):
		return decodeWith(unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), data)
	}
	if e := utf16WithoutBOM(data); e != nil {
		return decodeWith(e, data)
	}
	if label != "" {
		if e, name := charset.Lookup(label); e != nil && name != "utf-8" {
			return decodeWith(e, data)
		}
	}
	if utf8.Valid(data) {
		return checkText(string(data))
	}
	if hasMultibyteUTF8(data) {
		return checkText(strings.ToValidUTF8(string(data), "\uFFFD"))
	}
	return decodeWith(charmap.Windows1252, data)
}

func decodeWith(e encoding.Encoding, data []byte) (string, error) {
	b, err := e.NewDecoder().Bytes(data)
	if err != nil {
		return "", hyponema.Errorf(hyponema.EINVALID, "the document's text encoding could not be read")
	}
	return checkText(string(b))
}

// checkText refuses binary data that a text type was claimed for.
func checkText(s string) (string, error) {
	if !looksLikeText([]byte(s)) {
		return "", hyponema.Errorf(hyponema.EINVALID, "the document does not look like text: is it the right file or content type?")
	}
	return s, nil
}

func hasUTF16BOM(data []byte) bool {
	return bytes.HasPrefix(data, []byte("\xFE\xFF")) || bytes.HasPrefix(data, []byte("\xFF\xFE"))
}

// utf16WithoutBOM recognizes UTF-16 text without a byte order mark by its
// zero bytes, which Western text has in every other place: the high bytes
// at even offsets for big-endian, odd ones for little-endian.
func utf16WithoutBOM(data []byte) encoding.Encoding {
	sample := data[:min(len(data), 4096)&^1]
	if len(sample) < 4 {
		return nil
	}
	var even, odd int
	for i := 0; i < len(sample); i += 2 {
		if sample[i] == 0 {
			even++
		}
		if sample[i+1] == 0 {
			odd++
		}
	}
	pairs := len(sample) / 2
	switch {
	case odd*10 >= pairs*7 && even*10 < pairs:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM)
	case even*10 >= pairs*7 && odd*10 < pairs:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM)
	}
	return nil
}

// hasMultibyteUTF8 reports whether data holds a valid UTF-8 sequence of
// more than one byte.
func hasMultibyteUTF8(data []byte) bool {
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		if n > 1 && r != utf8.RuneError {
			return true
		}
		data = data[n:]
	}
	return false
}
