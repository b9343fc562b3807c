package httptool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// content words a 2xx answer for the model: its JSON compacted, or the
// response fields selected from it; other text as is; cut to
// MaxContentBytes.
func content(resp *http.Response, body []byte, fields []string) string {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return "the API answered " + statusLine(resp.StatusCode) + " with no content"
	case !utf8.Valid(body):
		return fmt.Sprintf("the API answered %s with %d bytes of %s, which is not text", statusLine(resp.StatusCode), len(body), mediaType(resp))
	case json.Valid(trimmed):
		if len(fields) > 0 {
			body = selectFields(trimmed, fields)
		} else {
			body = compact(trimmed)
		}
	}
	return cutForModel(string(body))
}

// errorAnswer words a non-2xx answer: its status and the start of its
// body, with the call's secret values redacted in case the API quotes the
// request back.
func (c *call) errorAnswer(resp *http.Response, body []byte) string {
	msg := "the API answered " + statusLine(resp.StatusCode)
	b := bytes.TrimSpace(body)
	if len(b) == 0 {
		return msg
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("%s with %d bytes of %s", msg, len(body), mediaType(resp))
	}
	var s string
	if json.Valid(b) {
		s = string(compact(b))
	} else {
		s = strings.Join(strings.Fields(string(b)), " ")
	}
	return msg + ": " + clip(redact(s, c.secrets), MaxErrorExcerptBytes)
}

func statusLine(code int) string {
	if t := http.StatusText(code); t != "" {
		return strconv.Itoa(code) + " " + t
	}
	return strconv.Itoa(code)
}

func mediaType(resp *http.Response) string {
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
		return clip(mt, 100)
	}
	return "an unknown type"
}

// cutForModel cuts s to MaxContentBytes on a rune boundary, saying so.
func cutForModel(s string) string {
	if len(s) <= MaxContentBytes {
		return s
	}
	n := MaxContentBytes
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + fmt.Sprintf("\n[cut: the answer has %d bytes; only the first %d are shown]", len(s), n)
}

// redact replaces each secret value in s, as written and as JSON would
// escape it, with [redacted]. Longer values go first, so that a secret
// holding another is replaced whole.
func redact(s string, secrets map[string]string) string {
	var forms []string
	for _, v := range secrets {
		if v == "" {
			continue
		}
		forms = append(forms, v)
		if esc := string(stringContent(v)); esc != v {
			forms = append(forms, esc)
		}
		if b, err := json.Marshal(v); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != v {
				forms = append(forms, esc) // with <, > and & escaped too
			}
		}
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, "[redacted]")
	}
	return s
}

// selectFields gives the parts of a JSON answer that response_fields name,
// as one JSON object whose keys are the paths as written, in their order:
// {"order.status":"shipped","items.*.sku":["A1","B2"]}. A path is keys
// separated by dots; on an array, a number picks an element (from 0) and *
// every element, giving an array of what the rest of the path selects in
// each. Paths that select nothing are left out, so the object may be {}.
// Keys holding a dot cannot be named.
func selectFields(body []byte, paths []string) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers as written, not rounded through float64
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return body
	}
	var b bytes.Buffer
	b.WriteByte('{')
	n := 0
	for _, p := range paths {
		v, ok := lookup(doc, strings.Split(p, "."))
		if !ok {
			continue
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		writeJSON(&b, p)
		b.WriteByte(':')
		writeJSON(&b, v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)       // decoded JSON always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}

func lookup(v any, path []string) (any, bool) {
	if len(path) == 0 {
		return v, true
	}
	key, rest := path[0], path[1:]
	switch x := v.(type) {
	case map[string]any:
		c, ok := x[key]
		if !ok {
			return nil, false
		}
		return lookup(c, rest)
	case []any:
		if key == "*" {
			out := make([]any, 0, len(x))
			for _, e := range x {
				if r, ok := lookup(e, rest); ok {
					out = append(out, r)
				}
			}
			return out, true
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(x) {
			return nil, false
		}
		return lookup(x[i], rest)
	}
	return nil, false
}
