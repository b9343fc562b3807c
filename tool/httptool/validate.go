package httptool

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// Limits of a tool's configuration, beyond those of the domain
// (hyponema.MaxToolHeaders, MaxToolTimeoutMS, MaxWebhookURLLen), which
// ValidateConfig applies too.
const (
	MaxBodyTemplateLen  = 64 << 10
	MaxHeaderValueLen   = 4096
	MaxResponseFields   = 50
	MaxResponseFieldLen = 200
)

// ValidateConfig checks an HTTP tool's configuration when it is saved,
// against params, the tool's JSON Schema of arguments, whose "properties"
// are the arguments that templates may name. It returns nil or an
// EINVALID *hyponema.Error whose fields are located at ["body", "http",
// …]: method, url, body, headers (and the header's name), timeout_ms,
// max_response_bytes, response_fields (and the index).
//
// It does not look the URL's host up; a caller that wants to tell the user
// at once that the guard will refuse it can pass the URL template to
// egress.Policy.CheckURL, since arguments never stand in the host.
func ValidateConfig(c *hyponema.HTTPToolConfig, params json.RawMessage) error {
	var v hyponema.Validation
	if c == nil {
		v.Add("missing", "is required for an http tool", "http")
		return v.Err()
	}
	props := properties(params)
	declared := func(segs []segment, path ...string) {
		for _, s := range segs {
			if s.name != "" && !s.secret && !props[s.name] {
				v.Add("invalid", fmt.Sprintf("{{%s}} names no argument: the parameters schema has no property %q", s.name, s.name), path...)
				return
			}
		}
	}

	method := strings.ToUpper(c.Method) // as Tool.Normalize stores it
	switch method {
	case "":
		method = http.MethodPost
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		v.Add("invalid", "must be one of GET, POST, PUT, PATCH, DELETE", "http", "method")
	}

	switch {
	case strings.TrimSpace(c.URL) == "":
		v.Add("missing", "is required", "http", "url")
	case len(c.URL) > hyponema.MaxWebhookURLLen:
		v.Add("too_long", fmt.Sprintf("must be at most %d bytes", hyponema.MaxWebhookURLLen), "http", "url")
	default:
		if msg := checkURL(c.URL); msg != "" {
			v.Add("invalid", msg, "http", "url")
		} else {
			segs, _ := parseTemplate(c.URL)
			declared(segs, "http", "url")
		}
	}

	if c.Body != "" {
		switch {
		case method != http.MethodPost && method != http.MethodPut && method != http.MethodPatch:
			v.Add("invalid", "a body is only sent with POST, PUT and PATCH", "http", "body")
		case len(c.Body) > MaxBodyTemplateLen:
			v.Add("too_long", fmt.Sprintf("must be at most %d bytes", MaxBodyTemplateLen), "http", "body")
		case !utf8.ValidString(c.Body):
			v.Add("invalid", "must be valid UTF-8", "http", "body")
		default:
			segs, err := parseTemplate(c.Body)
			if err == nil {
				_, err = renderBody(segs, nil, true)
			}
			if err != nil {
				v.Add("invalid", err.Error(), "http", "body")
			} else {
				declared(segs, "http", "body")
			}
		}
	}

	if len(c.Headers) > hyponema.MaxToolHeaders {
		v.Add("too_long", fmt.Sprintf("must have at most %d headers", hyponema.MaxToolHeaders), "http", "headers")
	} else {
		seen := make(map[string]bool)
		for _, name := range sortedKeys(c.Headers) {
			if msg := checkHeader(name, c.Headers[name]); msg != "" {
				v.Add("invalid", msg, "http", "headers", name)
			} else if k := http.CanonicalHeaderKey(name); seen[k] {
				v.Add("invalid", "is set twice, in different case", "http", "headers", name)
			} else {
				seen[k] = true
			}
		}
	}

	if c.TimeoutMS < 0 || c.TimeoutMS > hyponema.MaxToolTimeoutMS {
		v.Add("out_of_range", fmt.Sprintf("must be between 1 and %d (0 means %d)", hyponema.MaxToolTimeoutMS, hyponema.DefaultToolTimeoutMS), "http", "timeout_ms")
	}
	if c.MaxResponseBytes < 0 || c.MaxResponseBytes > MaxResponseBytes {
		v.Add("out_of_range", fmt.Sprintf("must be between 1 and %d (0 means %d)", MaxResponseBytes, DefaultMaxResponseBytes), "http", "max_response_bytes")
	}

	if len(c.ResponseFields) > MaxResponseFields {
		v.Add("too_long", fmt.Sprintf("must have at most %d paths", MaxResponseFields), "http", "response_fields")
	} else {
		for i, p := range c.ResponseFields {
			if msg := checkFieldPath(p); msg != "" {
				v.Add("invalid", msg, "http", "response_fields", strconv.Itoa(i))
			}
		}
	}
	return v.Err()
}

// properties returns the names of the schema's properties; a schema that
// cannot be read has none.
func properties(params json.RawMessage) map[string]bool {
	var s struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(params, &s)
	names := make(map[string]bool, len(s.Properties))
	for k := range s.Properties {
		names[k] = true
	}
	return names
}

// checkURL says what is wrong with a URL template, or "".
func checkURL(tmpl string) string {
	segs, err := parseTemplate(tmpl)
	if err != nil {
		return err.Error()
	}
	// A stand-in value shows whether the template makes a URL.
	var b strings.Builder
	for _, s := range segs {
		if s.name == "" {
			b.WriteString(s.lit)
		} else {
			b.WriteString("x")
		}
	}
	u, err := parseHTTPURL(b.String())
	zoneErr := checkURLTemplate(segs, urlZones(segs))
	// A placeholder after "://" but in the host or port is the problem to
	// name; one before it makes the URL not absolute.
	schemeFirst := len(segs) > 0 && segs[0].name == "" && strings.Contains(segs[0].lit, "://")
	switch {
	case zoneErr != nil && (err == nil || schemeFirst):
		return zoneErr.Error()
	case err != nil:
		return err.Error()
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return "the port is not valid"
		}
	}
	if hasDotSegment(u.Path) {
		return `the path must not have "." or ".." segments`
	}
	return ""
}

// checkHeader says what is wrong with a header template, or "".
func checkHeader(name, value string) string {
	if msg := checkHeaderName(name); msg != "" {
		return msg
	}
	if len(value) > MaxHeaderValueLen {
		return fmt.Sprintf("must be at most %d bytes", MaxHeaderValueLen)
	}
	if !utf8.ValidString(value) {
		return "must be valid UTF-8"
	}
	segs, err := parseTemplate(value)
	if err != nil {
		return err.Error()
	}
	for _, s := range segs {
		switch {
		case s.name == "" && badHeaderValue(s.lit):
			return "must not hold line breaks or other control characters"
		case s.name != "" && !s.secret:
			return fmt.Sprintf("{{%s}}: arguments are not put in headers, so that the model cannot forge one; only {{secrets.NAME}} is", s.name)
		}
	}
	return ""
}

// checkFieldPath says what is wrong with a response_fields path, or "".
func checkFieldPath(p string) string {
	switch {
	case p == "":
		return "must not be empty"
	case len(p) > MaxResponseFieldLen:
		return fmt.Sprintf("must be at most %d characters", MaxResponseFieldLen)
	case !utf8.ValidString(p):
		return "must be valid UTF-8"
	}
	for _, k := range strings.Split(p, ".") {
		if k == "" {
			return "must be keys separated by single dots, like order.status or items.*.sku"
		}
	}
	return ""
}
