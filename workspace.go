package hyponema

import (
	"context"
	"time"
)

// Workspace is the tenant: every other object belongs to exactly one, and
// nothing of one workspace is visible from another.
type Workspace struct {
	ID        string    `json:"id" doc:"Workspace ID (ws_…)."`
	Name      string    `json:"name" doc:"Display name."`
	CreatedAt time.Time `json:"created_at"`
}

// Validate checks the workspace's fields.
func (w *Workspace) Validate() error {
	var v Validation
	validateName(&v, w.Name, "name")
	return v.Err()
}

// WorkspaceService manages workspaces.
type WorkspaceService interface {
	// CreateWorkspace stores a new workspace; ID and CreatedAt are set.
	// Returns EINVALID.
	CreateWorkspace(ctx context.Context, w *Workspace) error

	// FindWorkspaceByID returns ENOTFOUND if there is no such workspace.
	FindWorkspaceByID(ctx context.Context, id string) (*Workspace, error)

	// CountWorkspaces returns how many workspaces exist (for first-run bootstrap).
	CountWorkspaces(ctx context.Context) (int, error)
}
