package extract

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hyponema/hyponema"
)

// csvText reads a CSV file whose first record names the columns. Each
// other record becomes a paragraph "name: value; name: value" (empty
// values left out), so that any passage cut from the text still says
// what its values are. comma is the separator, or 0 to guess it from the
// first line among ',', ';', tab and '|'.
func csvText(data []byte, label string, comma rune) (string, error) {
	s, err := decode(data, label) // drops a BOM
	if err != nil {
		return "", err
	}
	if comma == 0 {
		comma = guessComma(s)
	}
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = comma
	r.LazyQuotes = true
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return "", nil
	} else if err != nil {
		return "", csvError(err)
	}
	names := make([]string, len(header))
	for i, h := range header {
		names[i] = strings.Join(strings.Fields(h), " ")
		if names[i] == "" {
			names[i] = fmt.Sprintf("column %d", i+1)
		}
	}
	var b strings.Builder
	records := 0
	for b.Len() <= hyponema.MaxSourceTextLen {
		rec, err := r.Read()
		if err == io.EOF {
			break
		} else if err != nil {
			return "", csvError(err)
		}
		var fields []string
		for i, v := range rec {
			if v = strings.Join(strings.Fields(v), " "); v == "" {
				continue
			}
			name := fmt.Sprintf("column %d", i+1)
			if i < len(names) {
				name = names[i]
			}
			fields = append(fields, name+": "+v)
		}
		if len(fields) == 0 {
			continue
		}
		if records > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.Join(fields, "; "))
		records++
	}
	if records == 0 {
		// Only a header: its names are all the text there is.
		var given []string
		for _, h := range header {
			if h = strings.Join(strings.Fields(h), " "); h != "" {
				given = append(given, h)
			}
		}
		return strings.Join(given, "; "), nil
	}
	return b.String(), nil
}

func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return hyponema.Errorf(hyponema.EINVALID, "the CSV could not be read: line %d: %v", pe.Line, pe.Err)
	}
	return hyponema.Errorf(hyponema.EINVALID, "the CSV could not be read")
}

// guessComma picks the separator that the first line, outside quotes,
// holds most of; ',' when it holds none.
func guessComma(s string) rune {
	counts := map[rune]int{}
	quoted := false
	for _, c := range s {
		if c == '"' {
			quoted = !quoted
		}
		if quoted {
			continue
		}
		if c == '\n' {
			break
		}
		counts[c]++
	}
	best := ','
	for _, c := range []rune{';', '\t', '|'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}
