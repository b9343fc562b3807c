package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/hyponema/hyponema"
)

// AgentService stores agents, their versions and publications.
type AgentService struct{ db *DB }

var _ hyponema.AgentService = (*AgentService)(nil)

// NewAgentService returns the agent service of db.
func NewAgentService(db *DB) *AgentService { return &AgentService{db: db} }

const agentColumns = `id, workspace_id, config, published_version_id, created_at, updated_at`

func scanAgent(row scanner) (*hyponema.Agent, error) {
	var a hyponema.Agent
	var cfg []byte
	var pub sql.NullString
	if err := row.Scan(&a.ID, &a.WorkspaceID, &cfg, &pub, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(cfg, &a.AgentConfig); err != nil {
		return nil, err
	}
	// Rows written before a setting existed get its default.
	a.Normalize()
	a.PublishedVersionID = pub.String
	return &a, nil
}

const agentVersionColumns = `id, workspace_id, agent_id, number, note, persona_version_id, config, tools, created_at`

func scanAgentVersion(row scanner) (*hyponema.AgentVersion, error) {
	var v hyponema.AgentVersion
	var cfg, tools []byte
	var pv sql.NullString
	if err := row.Scan(&v.ID, &v.WorkspaceID, &v.AgentID, &v.Number, &v.Note, &pv, &cfg, &tools, timeCol{&v.CreatedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(cfg, &v.Config); err != nil {
		return nil, err
	}
	if err := decodeJSON(tools, &v.Tools); err != nil {
		return nil, err
	}
	if v.Tools == nil {
		v.Tools = []hyponema.Tool{}
	}
	v.Config.Normalize()
	v.PersonaVersionID = pv.String
	return &v, nil
}

func errAgentNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "agent not found") }

// checkPersona fails with EINVALID unless personaID is "" or a live
// persona of the workspace. On PostgreSQL it holds the persona FOR SHARE
// until the transaction ends, so DeletePersona cannot slip in between the
// check and the write (see DeletePersona).
func checkPersona(ctx context.Context, tx conn, workspaceID, personaID string) error {
	if personaID == "" {
		return nil
	}
	var one int
	err := tx.queryRow(ctx, `SELECT 1 FROM personas WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`+tx.db.d.forShare,
		workspaceID, personaID).Scan(&one)
	if isNoRows(err) {
		return &hyponema.Error{Code: hyponema.EINVALID, Message: "persona_id: no such persona",
			Fields: []hyponema.FieldError{{Loc: []string{"body", "persona_id"}, Msg: "no such persona", Type: "invalid"}}}
	} else if err != nil {
		return fmt.Errorf("store: check persona: %w", err)
	}
	return nil
}

// CreateAgent implements hyponema.AgentService.
func (s *AgentService) CreateAgent(ctx context.Context, a *hyponema.Agent) error {
	a.Normalize()
	if err := a.Validate(); err != nil {
		return err
	}
	cfg, err := encodeJSON(a.AgentConfig)
	if err != nil {
		return err
	}
	id, t := hyponema.NewID(hyponema.PrefixAgent), now()
	err = s.db.inTx(ctx, func(tx conn) error {
		if err := checkPersona(ctx, tx, a.WorkspaceID, a.PersonaID); err != nil {
			return err
		}
		at := s.db.d.timeArg(t)
		_, err := tx.exec(ctx, `INSERT INTO agents (id, workspace_id, name, persona_id, config, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, id, a.WorkspaceID, a.Name, nullString(a.PersonaID), cfg, at, at)
		if s.db.d.isForeignKey(err) {
			return errWorkspaceNotFound()
		} else if err != nil {
			return fmt.Errorf("store: insert agent: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	a.ID, a.PublishedVersionID, a.CreatedAt, a.UpdatedAt = id, "", t, t
	return nil
}

// FindAgent implements hyponema.AgentService.
func (s *AgentService) FindAgent(ctx context.Context, workspaceID, id string) (*hyponema.Agent, error) {
	return findAgent(ctx, s.db.read(), workspaceID, id, "")
}

// findAgent reads a live agent, with lock (a dialect's forUpdate, or "")
// when the caller's transaction is about to change it.
func findAgent(ctx context.Context, c conn, workspaceID, id, lock string) (*hyponema.Agent, error) {
	a, err := scanAgent(c.queryRow(ctx, `SELECT `+agentColumns+` FROM agents
		WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`+lock, workspaceID, id))
	if isNoRows(err) {
		return nil, errAgentNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find agent: %w", err)
	}
	return a, nil
}

// ListAgents implements hyponema.AgentService.
func (s *AgentService) ListAgents(ctx context.Context, workspaceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Agent], error) {
	return list(ctx, s.db, opt, `SELECT `+agentColumns+` FROM agents WHERE workspace_id = ? AND deleted_at IS NULL`,
		[]any{workspaceID}, scanAgent, func(a *hyponema.Agent) string { return a.ID })
}

// UpdateAgent implements hyponema.AgentService.
func (s *AgentService) UpdateAgent(ctx context.Context, workspaceID, id string, patch hyponema.AgentPatch) (*hyponema.Agent, error) {
	var a *hyponema.Agent
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		// Locked, so that concurrent patches apply one after the other
		// instead of the last one undoing the others.
		if a, err = findAgent(ctx, tx, workspaceID, id, s.db.d.forUpdate); err != nil {
			return err
		}
		patch.Apply(&a.AgentConfig)
		// Normalize rewrites origins in place: not in the caller's patch.
		a.AllowedOrigins = slices.Clone(a.AllowedOrigins)
		a.Normalize()
		if err := a.Validate(); err != nil {
			return err
		}
		if err := checkPersona(ctx, tx, workspaceID, a.PersonaID); err != nil {
			return err
		}
		cfg, err := encodeJSON(a.AgentConfig)
		if err != nil {
			return err
		}
		a.UpdatedAt = now()
		if _, err := tx.exec(ctx, `UPDATE agents SET name = ?, persona_id = ?, config = ?, updated_at = ? WHERE id = ?`,
			a.Name, nullString(a.PersonaID), cfg, s.db.d.timeArg(a.UpdatedAt), a.ID); err != nil {
			return fmt.Errorf("store: update agent: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// DeleteAgent implements hyponema.AgentService. The agent is only marked
// deleted, so that the versions that sessions ran stay in place.
func (s *AgentService) DeleteAgent(ctx context.Context, workspaceID, id string) error {
	t := s.db.d.timeArg(now())
	res, err := s.db.write().exec(ctx, `UPDATE agents SET deleted_at = ?, updated_at = ?
		WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`, t, t, workspaceID, id)
	if err != nil {
		return fmt.Errorf("store: delete agent: %w", err)
	}
	if n, err := rowsAffected(res); err != nil {
		return err
	} else if n == 0 {
		return errAgentNotFound()
	}
	return nil
}

// CreateAgentVersion implements hyponema.AgentService. The agent's row
// lock (SQLite: the write lock) serializes concurrent calls, so numbers
// never repeat and no call fails on the unique (agent_id, number).
func (s *AgentService) CreateAgentVersion(ctx context.Context, workspaceID, agentID, note string) (*hyponema.AgentVersion, error) {
	if err := validateNote(note); err != nil {
		return nil, err
	}
	var v *hyponema.AgentVersion
	err := s.db.inTx(ctx, func(tx conn) error {
		a, err := findAgent(ctx, tx, workspaceID, agentID, s.db.d.forUpdate)
		if err != nil {
			return err
		}
		n, err := nextVersionNumber(ctx, tx, agentTables, a.ID)
		if err != nil {
			return err
		}
		var pinned string
		if a.PersonaID != "" {
			pinned, err = pinPersonaVersion(ctx, tx, workspaceID, a.PersonaID,
				fmt.Sprintf("created for agent version %d of %s", n, a.ID))
			if err != nil {
				return err
			}
		}
		cfg, err := encodeJSON(a.AgentConfig)
		if err != nil {
			return err
		}
		attached, err := agentTools(ctx, tx, workspaceID, a.ID)
		if err != nil {
			return err
		}
		snapshot := make([]hyponema.Tool, len(attached))
		for i, t := range attached {
			snapshot[i] = *t
		}
		tools, err := encodeJSON(snapshot)
		if err != nil {
			return err
		}
		// The ID is made under the lock, so versions sort by ID as by number.
		v = &hyponema.AgentVersion{ID: hyponema.NewID(hyponema.PrefixAgentVersion), WorkspaceID: workspaceID,
			AgentID: a.ID, Number: n, Note: note, PersonaVersionID: pinned, Config: a.AgentConfig, Tools: snapshot, CreatedAt: now()}
		if _, err := tx.exec(ctx, `INSERT INTO agent_versions
			(id, workspace_id, agent_id, number, note, persona_version_id, config, tools, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.ID, v.WorkspaceID, v.AgentID, v.Number, v.Note,
			nullString(v.PersonaVersionID), cfg, tools, s.db.d.timeArg(v.CreatedAt)); err != nil {
			return fmt.Errorf("store: insert agent version: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// FindAgentVersion implements hyponema.AgentService. A deleted agent's
// versions are ENOTFOUND here, like the agent; the rows stay for the
// sessions that ran them.
func (s *AgentService) FindAgentVersion(ctx context.Context, workspaceID, agentID, versionID string) (*hyponema.AgentVersion, error) {
	v, err := scanAgentVersion(s.db.read().queryRow(ctx, `SELECT v.id, v.workspace_id, v.agent_id, v.number, v.note,
		v.persona_version_id, v.config, v.tools, v.created_at
		FROM agent_versions v JOIN agents a ON a.id = v.agent_id
		WHERE v.id = ? AND v.agent_id = ? AND a.workspace_id = ? AND a.deleted_at IS NULL`, versionID, agentID, workspaceID))
	if isNoRows(err) {
		return nil, hyponema.Errorf(hyponema.ENOTFOUND, "agent version not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: find agent version: %w", err)
	}
	return v, nil
}

// ListAgentVersions implements hyponema.AgentService.
func (s *AgentService) ListAgentVersions(ctx context.Context, workspaceID, agentID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.AgentVersion], error) {
	if _, err := s.FindAgent(ctx, workspaceID, agentID); err != nil {
		return hyponema.Page[*hyponema.AgentVersion]{}, err
	}
	return list(ctx, s.db, opt, `SELECT `+agentVersionColumns+` FROM agent_versions WHERE workspace_id = ? AND agent_id = ?`,
		[]any{workspaceID, agentID}, scanAgentVersion, func(v *hyponema.AgentVersion) string { return v.ID })
}

// PublishAgentVersion implements hyponema.AgentService.
func (s *AgentService) PublishAgentVersion(ctx context.Context, workspaceID, agentID, versionID string) (*hyponema.Agent, error) {
	return s.changeLive(ctx, workspaceID, agentID, func(tx conn, a *hyponema.Agent, t time.Time) error {
		return publish(ctx, tx, agentTables, a.ID, a.PublishedVersionID, versionID, t)
	})
}

// RollbackAgent implements hyponema.AgentService.
func (s *AgentService) RollbackAgent(ctx context.Context, workspaceID, agentID string) (*hyponema.Agent, error) {
	return s.changeLive(ctx, workspaceID, agentID, func(tx conn, a *hyponema.Agent, t time.Time) error {
		return rollback(ctx, tx, agentTables, a.ID, t)
	})
}

// changeLive runs fn with the agent locked and returns it as fn left it.
func (s *AgentService) changeLive(ctx context.Context, workspaceID, agentID string, fn func(conn, *hyponema.Agent, time.Time) error) (*hyponema.Agent, error) {
	var a *hyponema.Agent
	err := s.db.inTx(ctx, func(tx conn) error {
		locked, err := findAgent(ctx, tx, workspaceID, agentID, s.db.d.forUpdate)
		if err != nil {
			return err
		}
		if err := fn(tx, locked, now()); err != nil {
			return err
		}
		a, err = findAgent(ctx, tx, workspaceID, agentID, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// FindAgentVersionByID implements hyponema.AgentService: deletion of the
// agent does not hide the version from the sessions that run it.
func (s *AgentService) FindAgentVersionByID(ctx context.Context, workspaceID, versionID string) (*hyponema.AgentVersion, error) {
	v, err := scanAgentVersion(s.db.read().queryRow(ctx, `SELECT `+agentVersionColumns+` FROM agent_versions
		WHERE id = ? AND workspace_id = ?`, versionID, workspaceID))
	if isNoRows(err) {
		return nil, hyponema.Errorf(hyponema.ENOTFOUND, "agent version not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: find agent version: %w", err)
	}
	return v, nil
}
