package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/hyponema/hyponema"
)

// WorkspaceService stores workspaces.
type WorkspaceService struct{ db *DB }

var _ hyponema.WorkspaceService = (*WorkspaceService)(nil)

// NewWorkspaceService returns the workspace service of db.
func NewWorkspaceService(db *DB) *WorkspaceService { return &WorkspaceService{db: db} }

// CreateWorkspace implements hyponema.WorkspaceService.
func (s *WorkspaceService) CreateWorkspace(ctx context.Context, w *hyponema.Workspace) error {
	if err := w.Validate(); err != nil {
		return err
	}
	id, t := hyponema.NewID(hyponema.PrefixWorkspace), now()
	if _, err := s.db.write().exec(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES (?, ?, ?)`,
		id, w.Name, s.db.d.timeArg(t)); err != nil {
		return fmt.Errorf("store: insert workspace: %w", err)
	}
	w.ID, w.CreatedAt = id, t
	return nil
}

// FindWorkspaceByID implements hyponema.WorkspaceService.
func (s *WorkspaceService) FindWorkspaceByID(ctx context.Context, id string) (*hyponema.Workspace, error) {
	var w hyponema.Workspace
	err := s.db.read().queryRow(ctx, `SELECT id, name, created_at FROM workspaces WHERE id = ?`, id).
		Scan(&w.ID, &w.Name, timeCol{&w.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hyponema.Errorf(hyponema.ENOTFOUND, "workspace not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: find workspace: %w", err)
	}
	return &w, nil
}

// CountWorkspaces implements hyponema.WorkspaceService.
func (s *WorkspaceService) CountWorkspaces(ctx context.Context) (int, error) {
	var n int
	if err := s.db.read().queryRow(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count workspaces: %w", err)
	}
	return n, nil
}

// errWorkspaceNotFound is what a write into a missing workspace gets: the
// foreign key on workspace_id refused it.
func errWorkspaceNotFound() error {
	return hyponema.Errorf(hyponema.ENOTFOUND, "workspace not found")
}
