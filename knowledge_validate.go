package hyponema

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxSourceURLLen bounds the URL of a url source.
const MaxSourceURLLen = 2048

// Validate checks the knowledge base's fields: a name (required, at most
// MaxNameLen characters) and a description.
func (kb *KnowledgeBase) Validate() error {
	var v Validation
	validateName(&v, kb.Name, "name")
	validateText(&v, kb.Description, MaxDescriptionLen, "description")
	return v.Err()
}

// Normalize trims the source's name and URL, and names a url source that
// has no name after its URL.
func (s *Source) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.URL = strings.TrimSpace(s.URL)
	if s.Name == "" && s.Type == SourceURL && utf8.ValidString(s.URL) {
		s.Name = s.URL
		if utf8.RuneCountInString(s.Name) > MaxNameLen {
			s.Name = string([]rune(s.Name)[:MaxNameLen])
		}
	}
}

// Validate checks a new source and its raw content: a text source needs
// its text (UTF-8, at most MaxSourceTextLen bytes) and a name; a url
// source an absolute http(s) URL and no content; a file source its bytes
// (at most MaxSourceFileSize: ETOOLARGE past it) and a name (the file's).
func (s *Source) Validate(content []byte) error {
	var v Validation
	switch s.Type {
	case SourceText:
		validateName(&v, s.Name, "name")
		switch {
		case len(content) == 0:
			v.Add("missing", "is required", "text")
		case len(content) > MaxSourceTextLen:
			v.Add("too_long", fmt.Sprintf("must be at most %d bytes", MaxSourceTextLen), "text")
		case !utf8.Valid(content):
			v.Add("invalid", "must be valid UTF-8", "text")
		case bytes.IndexByte(content, 0) >= 0:
			v.Add("invalid", "must not contain NUL characters", "text")
		}
	case SourceURL:
		validateName(&v, s.Name, "name")
		if msg := checkSourceURL(s.URL); msg != "" {
			v.Add("invalid", msg, "url")
		}
		if len(content) != 0 {
			v.Add("invalid", "a url source has no content of its own: it is fetched", "text")
		}
	case SourceFile:
		validateName(&v, s.Name, "name")
		if len(content) > MaxSourceFileSize {
			return Errorf(ETOOLARGE, "the file is over %d bytes", MaxSourceFileSize)
		}
		if len(content) == 0 {
			v.Add("missing", "is required: the file is empty", "file")
		}
		validateText(&v, s.ContentType, MaxNameLen, "content_type")
	default:
		v.Add("invalid", "must be text, url or file", "type")
	}
	return v.Err()
}

// checkSourceURL says what is wrong with a url source's URL, or "".
func checkSourceURL(raw string) string {
	if raw == "" {
		return "is required"
	}
	if len(raw) > MaxSourceURLLen {
		return fmt.Sprintf("must be at most %d bytes", MaxSourceURLLen)
	}
	if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "must be valid UTF-8 without control characters"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Opaque != "":
		return "must be an absolute http or https URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an http or https URL"
	case u.Hostname() == "":
		return "must name a host"
	case u.User != nil:
		return "must not contain credentials"
	}
	return ""
}
