package httpapi

import (
	"context"

	"github.com/hyponema/hyponema"
)

// listWorkspaces lists what the credential may use: for a workspace key,
// its own workspace.
func (s *Server) listWorkspaces(ctx context.Context, _ *struct{}) (*body[hyponema.Page[*hyponema.Workspace]], error) {
	w, err := s.Workspaces.FindWorkspaceByID(ctx, principal(ctx).WorkspaceID)
	if err != nil {
		return nil, err
	}
	return reply(hyponema.Page[*hyponema.Workspace]{Data: []*hyponema.Workspace{w}}, nil)
}

func (s *Server) getWorkspace(ctx context.Context, in *WorkspacePath) (*body[*hyponema.Workspace], error) {
	return reply(s.Workspaces.FindWorkspaceByID(ctx, in.WS))
}
