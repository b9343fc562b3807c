package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/hyponema/hyponema"
)

// ToolService stores tools and their attachment to agents' drafts.
type ToolService struct{ db *DB }

var _ hyponema.ToolService = (*ToolService)(nil)

// NewToolService returns the tool service of db.
func NewToolService(db *DB) *ToolService { return &ToolService{db: db} }

func errToolNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "tool not found") }

func errToolName() error {
	return &hyponema.Error{Code: hyponema.ECONFLICT, Message: "name: the workspace has a tool of this name",
		Fields: []hyponema.FieldError{{Loc: []string{"body", "name"}, Msg: "the workspace has a tool of this name", Type: "conflict"}}}
}

const toolColumns = `id, workspace_id, name, description, type, parameters, config, created_at, updated_at`

func scanTool(row scanner) (*hyponema.Tool, error) {
	var t hyponema.Tool
	var params, cfg string
	if err := row.Scan(&t.ID, &t.WorkspaceID, &t.Name, &t.Description, &t.Type, &params, &cfg,
		timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}); err != nil {
		return nil, err
	}
	t.Parameters = json.RawMessage(params)
	switch t.Type {
	case hyponema.ToolHTTP:
		t.HTTP = &hyponema.HTTPToolConfig{}
		if err := decodeJSON([]byte(cfg), t.HTTP); err != nil {
			return nil, err
		}
	case hyponema.ToolMCP:
		t.MCP = &hyponema.MCPToolConfig{}
		if err := decodeJSON([]byte(cfg), t.MCP); err != nil {
			return nil, err
		}
	}
	t.Normalize()
	return &t, nil
}

// toolConfig renders the configuration of the tool's type.
func toolConfig(t *hyponema.Tool) (string, error) {
	if t.Type == hyponema.ToolHTTP {
		return encodeJSON(t.HTTP)
	}
	return encodeJSON(t.MCP)
}

// compactSchema stores a schema compacted but otherwise as given.
func compactSchema(p json.RawMessage) (string, error) {
	// json.Compact drops white space only: the text stays as given
	// (json.Marshal would rewrite <, > and & as \u escapes).
	var buf bytes.Buffer
	if err := json.Compact(&buf, p); err != nil {
		return "", err
	}
	b := buf.Bytes()
	if hasEscapedNUL(string(b)) || bytes.IndexByte(b, 0) >= 0 {
		var v hyponema.Validation
		v.Add("invalid", "must not contain NUL characters", "parameters")
		return "", v.Err()
	}
	return string(b), nil
}

// prepareTool normalizes and checks t, and returns its parameters schema
// and configuration as stored.
func prepareTool(t *hyponema.Tool) (params, cfg string, err error) {
	t.Normalize()
	if err := t.Validate(); err != nil {
		return "", "", err
	}
	if params, err = compactSchema(t.Parameters); err != nil {
		return "", "", err
	}
	if cfg, err = toolConfig(t); err != nil {
		return "", "", err
	}
	return params, cfg, nil
}

// CreateTool implements hyponema.ToolService.
func (s *ToolService) CreateTool(ctx context.Context, t *hyponema.Tool) error {
	params, cfg, err := prepareTool(t)
	if err != nil {
		return err
	}
	t.ID, t.CreatedAt = hyponema.NewID(hyponema.PrefixTool), now()
	t.UpdatedAt, t.Parameters = t.CreatedAt, json.RawMessage(params)
	at := s.db.d.timeArg(t.CreatedAt)
	_, err = s.db.write().exec(ctx, `INSERT INTO tools (`+toolColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.WorkspaceID, t.Name, t.Description, t.Type, params, cfg, at, at)
	switch {
	case err == nil:
		return nil
	case s.db.d.isForeignKey(err):
		return errWorkspaceNotFound()
	case s.db.d.isUnique(err):
		return errToolName()
	default:
		return fmt.Errorf("store: insert tool: %w", err)
	}
}

// FindTool implements hyponema.ToolService.
func (s *ToolService) FindTool(ctx context.Context, workspaceID, id string) (*hyponema.Tool, error) {
	return findTool(ctx, s.db.read(), workspaceID, id, "")
}

func findTool(ctx context.Context, c conn, workspaceID, id, lock string) (*hyponema.Tool, error) {
	t, err := scanTool(c.queryRow(ctx, `SELECT `+toolColumns+` FROM tools WHERE workspace_id = ? AND id = ?`+lock, workspaceID, id))
	if isNoRows(err) {
		return nil, errToolNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find tool: %w", err)
	}
	return t, nil
}

// ListTools implements hyponema.ToolService.
func (s *ToolService) ListTools(ctx context.Context, workspaceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Tool], error) {
	return list(ctx, s.db, opt, `SELECT `+toolColumns+` FROM tools WHERE workspace_id = ?`, []any{workspaceID},
		scanTool, func(t *hyponema.Tool) string { return t.ID })
}

// UpdateTool implements hyponema.ToolService.
func (s *ToolService) UpdateTool(ctx context.Context, workspaceID, id string, p hyponema.ToolPatch) (*hyponema.Tool, error) {
	var t *hyponema.Tool
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		if t, err = findTool(ctx, tx, workspaceID, id, s.db.d.forUpdate); err != nil {
			return err
		}
		p.Apply(t)
		params, cfg, err := prepareTool(t)
		if err != nil {
			return err
		}
		t.Parameters, t.UpdatedAt = json.RawMessage(params), now()
		_, err = tx.exec(ctx, `UPDATE tools SET name = ?, description = ?, parameters = ?, config = ?, updated_at = ? WHERE id = ?`,
			t.Name, t.Description, params, cfg, s.db.d.timeArg(t.UpdatedAt), t.ID)
		if s.db.d.isUnique(err) {
			return errToolName()
		} else if err != nil {
			return fmt.Errorf("store: update tool: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTool implements hyponema.ToolService. Its attachments go with it
// (ON DELETE CASCADE); agent versions keep their copies.
func (s *ToolService) DeleteTool(ctx context.Context, workspaceID, id string) error {
	return execOne(ctx, s.db.write(), "delete tool", errToolNotFound(),
		`DELETE FROM tools WHERE workspace_id = ? AND id = ?`, workspaceID, id)
}

// AttachTool implements hyponema.ToolService.
func (s *ToolService) AttachTool(ctx context.Context, workspaceID, agentID, toolID string) error {
	return s.db.inTx(ctx, func(tx conn) error {
		if _, err := findAgent(ctx, tx, workspaceID, agentID, s.db.d.forUpdate); err != nil {
			return err
		}
		t, err := findTool(ctx, tx, workspaceID, toolID, s.db.d.forShare)
		if err != nil {
			return err
		}
		attached, err := agentTools(ctx, tx, workspaceID, agentID)
		if err != nil {
			return err
		}
		for _, a := range attached {
			if a.ID == t.ID {
				return nil
			}
			if a.Name == t.Name {
				return hyponema.Errorf(hyponema.ECONFLICT, "the agent has another tool named %s attached", t.Name)
			}
		}
		if len(attached) >= hyponema.MaxToolsPerAgent {
			var v hyponema.Validation
			v.Add("too_long", fmt.Sprintf("an agent may have at most %d tools", hyponema.MaxToolsPerAgent), "tool_id")
			return v.Err()
		}
		if _, err := tx.exec(ctx, `INSERT INTO agent_tools (agent_id, tool_id, workspace_id, position, created_at)
			VALUES (?, ?, ?, (SELECT COALESCE(MAX(position), 0) + 1 FROM agent_tools WHERE agent_id = ?), ?)`,
			agentID, toolID, workspaceID, agentID, s.db.d.timeArg(now())); err != nil {
			return fmt.Errorf("store: attach tool: %w", err)
		}
		return nil
	})
}

// DetachTool implements hyponema.ToolService.
func (s *ToolService) DetachTool(ctx context.Context, workspaceID, agentID, toolID string) error {
	return execOne(ctx, s.db.write(), "detach tool", hyponema.Errorf(hyponema.ENOTFOUND, "the tool is not attached to the agent"),
		`DELETE FROM agent_tools WHERE workspace_id = ? AND agent_id = ? AND tool_id = ?`, workspaceID, agentID, toolID)
}

// ListAgentTools implements hyponema.ToolService.
func (s *ToolService) ListAgentTools(ctx context.Context, workspaceID, agentID string) ([]*hyponema.Tool, error) {
	if _, err := findAgent(ctx, s.db.read(), workspaceID, agentID, ""); err != nil {
		return nil, err
	}
	return agentTools(ctx, s.db.read(), workspaceID, agentID)
}

func agentTools(ctx context.Context, c conn, workspaceID, agentID string) ([]*hyponema.Tool, error) {
	rows, err := c.query(ctx, `SELECT t.id, t.workspace_id, t.name, t.description, t.type, t.parameters, t.config,
		t.created_at, t.updated_at FROM agent_tools a JOIN tools t ON t.id = a.tool_id
		WHERE a.workspace_id = ? AND a.agent_id = ? ORDER BY a.position`, workspaceID, agentID)
	if err != nil {
		return nil, fmt.Errorf("store: list agent tools: %w", err)
	}
	defer rows.Close()
	tools := []*hyponema.Tool{}
	for rows.Next() {
		t, err := scanTool(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list agent tools: %w", err)
		}
		tools = append(tools, t)
	}
	return tools, rows.Err()
}
