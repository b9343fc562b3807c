package hyponema

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Limits on user-supplied fields. The HTTP layer's schemas state the same
// numbers so that the OpenAPI document tells clients about them.
const (
	MaxNameLen          = 200
	MaxDescriptionLen   = 2000
	MaxInstructionsLen  = 100_000
	MaxFirstMessageLen  = 10_000
	MaxNoteLen          = 2000
	MaxMetadataKeys     = 50
	MaxMetadataKeyLen   = 40
	MaxMetadataValueLen = 500
	MaxAllowedOrigins   = 50
)

func validateName(v *Validation, name string, path ...string) {
	switch {
	case strings.TrimSpace(name) == "":
		v.Add("missing", "is required", path...)
	case !utf8.ValidString(name):
		v.Add("invalid", "must be valid UTF-8", path...)
	case strings.ContainsRune(name, 0):
		v.Add("invalid", "must not contain NUL characters", path...) // PostgreSQL cannot store them
	case utf8.RuneCountInString(name) > MaxNameLen:
		v.Add("too_long", fmt.Sprintf("must be at most %d characters", MaxNameLen), path...)
	}
}

func validateText(v *Validation, s string, max int, path ...string) {
	if !utf8.ValidString(s) {
		v.Add("invalid", "must be valid UTF-8", path...)
	} else if strings.ContainsRune(s, 0) {
		v.Add("invalid", "must not contain NUL characters", path...) // PostgreSQL cannot store them
	} else if utf8.RuneCountInString(s) > max {
		v.Add("too_long", fmt.Sprintf("must be at most %d characters", max), path...)
	}
}

// validateMetadata applies Stripe's rules: a flat map of short strings.
func validateMetadata(v *Validation, m map[string]string, path string) {
	if len(m) > MaxMetadataKeys {
		v.Add("too_long", fmt.Sprintf("must have at most %d keys", MaxMetadataKeys), path)
		return
	}
	for k, val := range m {
		switch {
		case k == "":
			v.Add("invalid", "keys must not be empty", path)
		case strings.ContainsRune(k, 0) || strings.ContainsRune(val, 0):
			v.Add("invalid", "keys and values must not contain NUL characters", path)
		case utf8.RuneCountInString(k) > MaxMetadataKeyLen:
			v.Add("too_long", fmt.Sprintf("keys must be at most %d characters", MaxMetadataKeyLen), path, k)
		case utf8.RuneCountInString(val) > MaxMetadataValueLen:
			v.Add("too_long", fmt.Sprintf("values must be at most %d characters", MaxMetadataValueLen), path, k)
		}
	}
}

// NormalizeOrigin checks that s is a web origin (scheme://host[:port], no
// path, query or credentials) and returns it in canonical form: lower-case,
// no trailing slash. It reports false for anything else.
func NormalizeOrigin(s string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}
