package httptool

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// segment is one piece of a parsed template: literal text, or a
// placeholder naming an argument or a workspace secret.
type segment struct {
	lit    string // literal text, when name is ""
	name   string // the argument's or secret's name
	secret bool   // {{secrets.NAME}}
}

const (
	maxArgNameLen    = 64
	maxSecretNameLen = 100
)

// parseTemplate splits s into literal text and placeholders. Every "{{"
// must open a placeholder: {{name}} for an argument (letters, digits, _
// and -) or {{secrets.NAME}} for a workspace secret (letters, digits and
// _), with optional spaces inside the braces. There is no escape for a
// literal "{{"; a URL can spell it %7B%7B and a JSON string \u007b{.
func parseTemplate(s string) ([]segment, error) {
	var segs []segment
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			if s != "" {
				segs = append(segs, segment{lit: s})
			}
			return segs, nil
		}
		if i > 0 {
			segs = append(segs, segment{lit: s[:i]})
		}
		s = s[i+2:]
		j := strings.Index(s, "}}")
		if j < 0 {
			return nil, fmt.Errorf("a {{ is not closed by }}")
		}
		inner := strings.TrimSpace(s[:j])
		s = s[j+2:]
		if name, ok := strings.CutPrefix(inner, "secrets."); ok {
			if !validSecretName(name) {
				return nil, fmt.Errorf("{{%s}}: a secret's name may hold only letters, digits and _, at most %d", clip(inner, 80), maxSecretNameLen)
			}
			segs = append(segs, segment{name: name, secret: true})
			continue
		}
		if !validArgName(inner) {
			return nil, fmt.Errorf("{{%s}} is not a placeholder: write {{argument_name}} or {{secrets.NAME}}", clip(inner, 80))
		}
		segs = append(segs, segment{name: inner})
	}
}

func validArgName(s string) bool {
	if s == "" || len(s) > maxArgNameLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validSecretName(s string) bool {
	if s == "" || len(s) > maxSecretNameLen {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// clip cuts s to at most n bytes on a rune boundary, for messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// args are the model's arguments, each as its JSON text.
type args map[string]json.RawMessage

// parseArgs reads the arguments object; empty and null mean no arguments.
func parseArgs(raw json.RawMessage) (args, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return args{}, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("httptool: the arguments are not a JSON object")
	}
	var a args
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, fmt.Errorf("httptool: the arguments are not a JSON object: %w", err)
	}
	return a, nil
}

// get returns the argument's JSON text, compact, or ok false if it is
// absent or null.
func (a args) get(name string) (json.RawMessage, bool) {
	raw, ok := a[name]
	if !ok {
		return nil, false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	return compact(raw), true
}

func compact(raw []byte) []byte {
	if len(raw) > 0 && raw[0] != '{' && raw[0] != '[' {
		return raw // a scalar has no insignificant space inside
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

// text is how a JSON value reads in a URL, a query or inside a JSON
// string: a string as itself, a number or boolean as written, an object or
// array as compact JSON.
func text(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// failure is why a call failed in a way the model is told about (IsError):
// a problem with its arguments, with the tool's configuration, with a
// secret, or with the API. Its message is for the model and must not hold
// secrets or anything about the server's network.
type failure struct {
	msg     string
	outcome string // for the log: not_sent, http_error, timeout, refused, too_large, failed
}

func (f *failure) Error() string { return f.msg }

// callFailed is a problem with this call's arguments; the model may fix it
// by calling again.
func callFailed(msg string) error { return &failure{msg: msg, outcome: "not_sent"} }

// misconfigured is a problem with the tool that whoever runs the workspace
// must fix; ValidateConfig catches it when the tool is saved.
func misconfigured(format string, a ...any) error {
	return &failure{msg: "the tool is misconfigured: " + fmt.Sprintf(format, a...), outcome: "not_sent"}
}

// URL zones: a placeholder's zone decides how its value is escaped.
const (
	zoneAuthority = iota // scheme, user info, host and port: no placeholders
	zonePath
	zoneQuery
	zoneFragment
)

// urlZones returns the zone of each placeholder of segs, in order. The
// template's literal text, with each placeholder's position marked, tells
// where the authority ends: after "://", at the first /, ? or #.
func urlZones(segs []segment) []int {
	var sk strings.Builder
	var marks []int
	for _, s := range segs {
		if s.name != "" {
			marks = append(marks, sk.Len())
			sk.WriteByte('x')
		} else {
			sk.WriteString(s.lit)
		}
	}
	skel := sk.String()
	pathStart, fragStart := len(skel), len(skel)
	if i := strings.Index(skel, "://"); i >= 0 && (len(marks) == 0 || marks[0] > i) {
		a := i + 3
		if j := strings.IndexAny(skel[a:], "/?#"); j >= 0 {
			pathStart = a + j
		}
	}
	if i := strings.IndexByte(skel[pathStart:], '#'); i >= 0 {
		fragStart = pathStart + i
	}
	queryStart := fragStart
	if i := strings.IndexByte(skel[pathStart:fragStart], '?'); i >= 0 {
		queryStart = pathStart + i
	}
	zones := make([]int, len(marks))
	for k, i := range marks {
		switch {
		case i < pathStart:
			zones[k] = zoneAuthority
		case i < queryStart:
			zones[k] = zonePath
		case i < fragStart:
			zones[k] = zoneQuery
		default:
			zones[k] = zoneFragment
		}
	}
	return zones
}

// checkURLTemplate reports the first placeholder that may not be where it
// is: a secret anywhere, or an argument in the authority or fragment.
func checkURLTemplate(segs []segment, zones []int) error {
	k := 0
	for _, s := range segs {
		if s.name == "" {
			continue
		}
		z := zones[k]
		k++
		switch {
		case s.secret:
			return fmt.Errorf("{{secrets.%s}}: secrets may only be used in headers", s.name)
		case z == zoneAuthority:
			return fmt.Errorf("{{%s}}: arguments may only be used in the URL's path and query, not its scheme, host or port", s.name)
		case z == zoneFragment:
			return fmt.Errorf("{{%s}}: arguments may not be used in the URL's fragment, which is never sent", s.name)
		}
	}
	return nil
}

// renderURL fills the URL template with the arguments: path-escaped in the
// path, query-escaped in the query. It returns the parsed URL and the
// names of the arguments it used. An absent or null argument, or an empty
// string in the path, fails the call; so does a value that would make a
// "." or ".." path segment, which servers read as a step up the path.
func renderURL(tmpl string, a args) (*url.URL, map[string]bool, error) {
	segs, err := parseTemplate(tmpl)
	if err != nil {
		return nil, nil, misconfigured("its URL template: %v", err)
	}
	zones := urlZones(segs)
	if err := checkURLTemplate(segs, zones); err != nil {
		return nil, nil, misconfigured("its URL template: %v", err)
	}
	used := make(map[string]bool)
	var b strings.Builder
	k := 0
	for _, s := range segs {
		if s.name == "" {
			b.WriteString(s.lit)
			continue
		}
		z := zones[k]
		k++
		used[s.name] = true
		raw, ok := a.get(s.name)
		if !ok {
			return nil, nil, callFailed("missing argument " + s.name)
		}
		v := text(raw)
		if z == zonePath {
			if v == "" {
				return nil, nil, callFailed("argument " + s.name + " is empty, and the URL's path needs it")
			}
			b.WriteString(url.PathEscape(v))
		} else {
			b.WriteString(url.QueryEscape(v))
		}
	}
	// Escaped values cannot make a URL unreadable: the template did.
	u, err := parseHTTPURL(b.String())
	if err != nil {
		return nil, nil, misconfigured("its URL %v", err)
	}
	if hasDotSegment(u.Path) {
		return nil, nil, callFailed(`the arguments would make a "." or ".." segment in the URL's path`)
	}
	return u, used, nil
}

// parseHTTPURL parses an absolute http or https URL with a host and no
// user info. Its errors never quote the URL.
func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("is not a valid URL")
	case u.Scheme != "http" && u.Scheme != "https", u.Opaque != "", u.Host == "":
		return nil, fmt.Errorf("must be an absolute http or https URL, like https://api.example.com/orders/{{order_id}}")
	case u.User != nil:
		return nil, fmt.Errorf("must not contain a user name or password; send credentials in headers")
	}
	return u, nil
}

// hasDotSegment reports whether the decoded path has a "." or ".." segment.
// It looks at the decoded path, so a value "../admin" (sent as ..%2Fadmin,
// which some servers decode before routing) counts too.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// addQuery appends the arguments that the URL did not use to its query:
// a string, number or boolean as key=value; an array of those as the key
// repeated (ids=1&ids=2, OpenAPI's default for query arrays); an object,
// or an array holding objects or arrays, as compact JSON. Null arguments
// are left out. Keys come in sorted order.
func addQuery(u *url.URL, a args, used map[string]bool) {
	q := url.Values{}
	for name := range a {
		if used[name] {
			continue
		}
		raw, ok := a.get(name)
		if !ok {
			continue
		}
		if raw[0] == '[' {
			var elems []json.RawMessage
			if json.Unmarshal(raw, &elems) == nil && allScalars(elems) {
				for _, e := range elems {
					if e = bytes.TrimSpace(e); string(e) != "null" {
						q.Add(name, text(e))
					}
				}
				continue
			}
		}
		q.Add(name, text(raw))
	}
	if len(q) == 0 {
		return
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
}

func allScalars(elems []json.RawMessage) bool {
	for _, e := range elems {
		if e = bytes.TrimSpace(e); len(e) == 0 || e[0] == '{' || e[0] == '[' {
			return false
		}
	}
	return true
}

// renderBody fills a JSON body template. Outside a JSON string, {{name}}
// becomes the argument's JSON (null when absent), so {"id": {{id}}} works
// for strings and numbers alike; inside a string it becomes the argument's
// text, escaped for JSON (empty when absent), so "Order {{id}}" and
// "{{id}}" work too. Values cannot change the template's structure:
// outside strings they are whole JSON values, inside they are escaped. The
// result must be valid JSON. sample, for ValidateConfig, fills every
// placeholder with a stand-in rather than an argument.
func renderBody(segs []segment, a args, sample bool) ([]byte, error) {
	var b bytes.Buffer
	inString, escaped := false, false
	for _, s := range segs {
		if s.name == "" {
			for i := 0; i < len(s.lit); i++ {
				c := s.lit[i]
				switch {
				case escaped:
					escaped = false
				case inString && c == '\\':
					escaped = true
				case c == '"':
					inString = !inString
				}
			}
			b.WriteString(s.lit)
			continue
		}
		if s.secret {
			return nil, fmt.Errorf("{{secrets.%s}}: secrets may only be used in headers", s.name)
		}
		if escaped {
			return nil, fmt.Errorf("{{%s}} follows a backslash", s.name)
		}
		var raw json.RawMessage
		ok := false
		if sample {
			raw, ok = json.RawMessage(`"x"`), true
		} else {
			raw, ok = a.get(s.name)
		}
		switch {
		case inString && ok:
			b.Write(stringContent(text(raw)))
		case inString:
		case ok && sample:
			b.WriteString("null")
		case ok:
			b.Write(raw)
		default:
			b.WriteString("null")
		}
	}
	out := b.Bytes()
	if err := validJSON(out); err != nil {
		return nil, fmt.Errorf("it does not make valid JSON: %v", err)
	}
	return out, nil
}

func validJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	return fmt.Errorf("invalid JSON")
}

// stringContent is s as the inside of a JSON string, without the quotes.
func stringContent(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return out[1 : len(out)-1]
}

// argsBody is the body sent when the tool has no body template: the
// arguments that the URL did not use, as a JSON object with sorted keys.
func argsBody(a args, used map[string]bool) []byte {
	rest := make(map[string]json.RawMessage, len(a))
	for k, v := range a {
		if !used[k] {
			if v = bytes.TrimSpace(v); len(v) == 0 {
				v = json.RawMessage("null")
			}
			rest[k] = v
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rest); err != nil {
		return []byte("{}") // unreachable: parseArgs checked every value
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// forbiddenHeaders are set by the HTTP client itself or describe the
// connection or the body's framing; a tool may not set them.
var forbiddenHeaders = map[string]bool{
	"Accept-Encoding":     true, // the client asks for gzip and decompresses it itself
	"Connection":          true,
	"Content-Encoding":    true,
	"Content-Length":      true,
	"Expect":              true,
	"Host":                true,
	"Keep-Alive":          true,
	"Proxy-Authorization": true,
	"Proxy-Connection":    true,
	"Te":                  true,
	"Trailer":             true,
	"Transfer-Encoding":   true,
	"Upgrade":             true,
}

// checkHeaderName says what is wrong with a header name, or "".
func checkHeaderName(name string) string {
	if name == "" {
		return "a header name must not be empty"
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar(name[i]) {
			return fmt.Sprintf("%q is not a valid header name", clip(name, 80))
		}
	}
	if forbiddenHeaders[http.CanonicalHeaderKey(name)] {
		return "is set by the HTTP client and may not be configured"
	}
	return ""
}

// isTokenChar reports whether c may appear in a header name (RFC 9110
// tchar).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// badHeaderValue reports whether s holds a byte that a header value cannot:
// CR, LF and other control characters but tab.
func badHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// sortedKeys returns m's keys in order, so that headers are resolved and
// reported in a stable order.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
