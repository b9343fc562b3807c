package hyponema

import (
	"encoding/base64"
	"strings"
)

// Default and maximum page sizes of list calls.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 200
)

// PageOptions selects one page of a list. Lists are ordered by ID, which
// sorts by creation time: newest first unless Asc.
type PageOptions struct {
	Limit  int    // 1–200; 0 means DefaultPageLimit
	Cursor string // opaque, from Page.NextCursor; "" for the first page
	Asc    bool   // oldest first
}

// Page is one page of a list.
type Page[T any] struct {
	Data       []T    `json:"data"`
	HasMore    bool   `json:"has_more"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// After returns the ID that the page starts after ("" for the first page),
// or EINVALID if the cursor was not made by EncodeCursor.
func (o PageOptions) After() (string, error) {
	if o.Cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(o.Cursor)
	if err != nil || !strings.HasPrefix(string(b), "c1:") || len(b) < 4 {
		return "", &Error{Code: EINVALID, Message: "cursor: is not a valid cursor",
			Fields: []FieldError{{Loc: []string{"query", "cursor"}, Msg: "is not a valid cursor", Type: "invalid"}}}
	}
	return string(b[3:]), nil
}

// PageLimit returns the effective limit.
func (o PageOptions) PageLimit() int {
	switch {
	case o.Limit <= 0:
		return DefaultPageLimit
	case o.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return o.Limit
}

// EncodeCursor makes the opaque cursor that continues a list after id.
func EncodeCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("c1:" + id))
}

// NewPage builds a page from up to limit+1 rows fetched in order: the extra
// row only says that there is more.
func NewPage[T any](rows []T, limit int, id func(T) string) Page[T] {
	p := Page[T]{Data: rows}
	if p.Data == nil {
		p.Data = []T{}
	}
	if len(rows) > limit {
		p.Data = rows[:limit]
		p.HasMore = true
		p.NextCursor = EncodeCursor(id(p.Data[limit-1]))
	}
	return p
}
