package httpapi

import (
	"context"

	"github.com/hyponema/hyponema"
)

// Shared request parts. huma reads path and query parameters from tagged
// fields, including those of embedded structs.

// WorkspacePath is the {ws} of a workspace-scoped path. (Embedded request
// parts must be exported types, or huma does not see their fields.)
type WorkspacePath struct {
	WS string `path:"ws" doc:"Workspace ID (ws_…)." example:"ws_01jc2x5w3n0000000000000000"`
}

// ObjectPath is {ws} and the {id} of an object in it.
type ObjectPath struct {
	WorkspacePath
	ID string `path:"id" doc:"The object's ID."`
}

// VersionPath is an object's path and the {version_id} of one of its versions.
type VersionPath struct {
	ObjectPath
	VersionID string `path:"version_id" doc:"The version's ID."`
}

// ListParams are the query parameters of every list.
type ListParams struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Page size."`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page."`
	Order  string `query:"order" enum:"asc,desc" default:"desc" doc:"desc: newest first; asc: oldest first."`
}

func (p ListParams) options() hyponema.PageOptions {
	return hyponema.PageOptions{Limit: p.Limit, Cursor: p.Cursor, Asc: p.Order == "asc"}
}

// body wraps a response body for huma.
type body[T any] struct {
	Body T
}

func reply[T any](v T, err error) (*body[T], error) {
	if err != nil {
		return nil, err
	}
	return &body[T]{Body: v}, nil
}

// empty is the output of operations that answer 204.
type empty struct{}

// principal returns the authenticated caller. Routes run only after
// withAuth, so a missing principal is a wiring bug, reported as internal.
func principal(ctx context.Context) *Principal {
	p := PrincipalFromContext(ctx)
	if p == nil {
		panic("httpapi: route reached without a principal")
	}
	return p
}
