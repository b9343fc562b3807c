package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/hyponema/hyponema"
)

// PersonaService stores personas, their versions and publications.
type PersonaService struct{ db *DB }

var _ hyponema.PersonaService = (*PersonaService)(nil)

// NewPersonaService returns the persona service of db.
func NewPersonaService(db *DB) *PersonaService { return &PersonaService{db: db} }

const personaColumns = `id, workspace_id, config, published_version_id, created_at, updated_at`

func scanPersona(row scanner) (*hyponema.Persona, error) {
	var p hyponema.Persona
	var cfg []byte
	var pub sql.NullString
	if err := row.Scan(&p.ID, &p.WorkspaceID, &cfg, &pub, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(cfg, &p.PersonaConfig); err != nil {
		return nil, err
	}
	// Rows written before a setting existed get its default.
	p.Normalize()
	p.PublishedVersionID = pub.String
	return &p, nil
}

const personaVersionColumns = `id, workspace_id, persona_id, number, note, config, created_at`

func scanPersonaVersion(row scanner) (*hyponema.PersonaVersion, error) {
	var v hyponema.PersonaVersion
	var cfg []byte
	if err := row.Scan(&v.ID, &v.WorkspaceID, &v.PersonaID, &v.Number, &v.Note, &cfg, timeCol{&v.CreatedAt}); err != nil {
		return nil, err
	}
	if err := decodeJSON(cfg, &v.Config); err != nil {
		return nil, err
	}
	v.Config.Normalize()
	return &v, nil
}

func errPersonaNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "persona not found") }

// CreatePersona implements hyponema.PersonaService.
func (s *PersonaService) CreatePersona(ctx context.Context, p *hyponema.Persona) error {
	p.Normalize()
	if err := p.Validate(); err != nil {
		return err
	}
	cfg, err := encodeJSON(p.PersonaConfig)
	if err != nil {
		return err
	}
	id, t := hyponema.NewID(hyponema.PrefixPersona), now()
	at := s.db.d.timeArg(t)
	_, err = s.db.write().exec(ctx, `INSERT INTO personas (id, workspace_id, name, config, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, id, p.WorkspaceID, p.Name, cfg, at, at)
	if s.db.d.isForeignKey(err) {
		return errWorkspaceNotFound()
	} else if err != nil {
		return fmt.Errorf("store: insert persona: %w", err)
	}
	p.ID, p.PublishedVersionID, p.CreatedAt, p.UpdatedAt = id, "", t, t
	return nil
}

// FindPersona implements hyponema.PersonaService.
func (s *PersonaService) FindPersona(ctx context.Context, workspaceID, id string) (*hyponema.Persona, error) {
	return findPersona(ctx, s.db.read(), workspaceID, id, "")
}

// findPersona reads a live persona, with lock (a dialect's forUpdate or
// forShare, or "") when the caller's transaction must keep it as read.
func findPersona(ctx context.Context, c conn, workspaceID, id, lock string) (*hyponema.Persona, error) {
	p, err := scanPersona(c.queryRow(ctx, `SELECT `+personaColumns+` FROM personas
		WHERE workspace_id = ? AND id = ? AND deleted_at IS NULL`+lock, workspaceID, id))
	if isNoRows(err) {
		return nil, errPersonaNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find persona: %w", err)
	}
	return p, nil
}

// ListPersonas implements hyponema.PersonaService.
func (s *PersonaService) ListPersonas(ctx context.Context, workspaceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.Persona], error) {
	return list(ctx, s.db, opt, `SELECT `+personaColumns+` FROM personas WHERE workspace_id = ? AND deleted_at IS NULL`,
		[]any{workspaceID}, scanPersona, func(p *hyponema.Persona) string { return p.ID })
}

// UpdatePersona implements hyponema.PersonaService.
func (s *PersonaService) UpdatePersona(ctx context.Context, workspaceID, id string, patch hyponema.PersonaPatch) (*hyponema.Persona, error) {
	var p *hyponema.Persona
	err := s.db.inTx(ctx, func(tx conn) error {
		var err error
		// Locked, so that concurrent patches apply one after the other
		// instead of the last one undoing the others.
		if p, err = findPersona(ctx, tx, workspaceID, id, s.db.d.forUpdate); err != nil {
			return err
		}
		patch.Apply(&p.PersonaConfig)
		p.Normalize()
		if err := p.Validate(); err != nil {
			return err
		}
		cfg, err := encodeJSON(p.PersonaConfig)
		if err != nil {
			return err
		}
		p.UpdatedAt = now()
		if _, err := tx.exec(ctx, `UPDATE personas SET name = ?, config = ?, updated_at = ? WHERE id = ?`,
			p.Name, cfg, s.db.d.timeArg(p.UpdatedAt), p.ID); err != nil {
			return fmt.Errorf("store: update persona: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeletePersona implements hyponema.PersonaService. The persona is only
// marked deleted: agent versions keep pointing at its versions.
func (s *PersonaService) DeletePersona(ctx context.Context, workspaceID, id string) error {
	return s.db.inTx(ctx, func(tx conn) error {
		// The lock makes an agent write that checked this persona (FOR
		// SHARE) finish first, so the check below sees it; one that comes
		// later finds the persona deleted.
		if _, err := findPersona(ctx, tx, workspaceID, id, s.db.d.forUpdate); err != nil {
			return err
		}
		var agentID string
		err := tx.queryRow(ctx, `SELECT id FROM agents WHERE persona_id = ? AND deleted_at IS NULL LIMIT 1`, id).Scan(&agentID)
		if err == nil {
			return hyponema.Errorf(hyponema.ECONFLICT, "persona is used by agent %s: change that agent's persona first", agentID)
		} else if !isNoRows(err) {
			return fmt.Errorf("store: find agents of persona: %w", err)
		}
		t := s.db.d.timeArg(now())
		if _, err := tx.exec(ctx, `UPDATE personas SET deleted_at = ?, updated_at = ? WHERE id = ?`, t, t, id); err != nil {
			return fmt.Errorf("store: delete persona: %w", err)
		}
		return nil
	})
}

// CreatePersonaVersion implements hyponema.PersonaService.
func (s *PersonaService) CreatePersonaVersion(ctx context.Context, workspaceID, personaID, note string) (*hyponema.PersonaVersion, error) {
	if err := validateNote(note); err != nil {
		return nil, err
	}
	var v *hyponema.PersonaVersion
	err := s.db.inTx(ctx, func(tx conn) error {
		p, err := findPersona(ctx, tx, workspaceID, personaID, s.db.d.forUpdate)
		if err != nil {
			return err
		}
		v, err = insertPersonaVersion(ctx, tx, p, note)
		return err
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// insertPersonaVersion snapshots p's draft as its next version. The caller
// holds p's row locked.
func insertPersonaVersion(ctx context.Context, tx conn, p *hyponema.Persona, note string) (*hyponema.PersonaVersion, error) {
	n, err := nextVersionNumber(ctx, tx, personaTables, p.ID)
	if err != nil {
		return nil, err
	}
	cfg, err := encodeJSON(p.PersonaConfig)
	if err != nil {
		return nil, err
	}
	// The ID is made under the lock, so versions sort by ID as by number.
	v := &hyponema.PersonaVersion{ID: hyponema.NewID(hyponema.PrefixPersonaVersion), WorkspaceID: p.WorkspaceID,
		PersonaID: p.ID, Number: n, Note: note, Config: p.PersonaConfig, CreatedAt: now()}
	if _, err := tx.exec(ctx, `INSERT INTO persona_versions (id, workspace_id, persona_id, number, note, config, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, v.ID, v.WorkspaceID, v.PersonaID, v.Number, v.Note, cfg, tx.db.d.timeArg(v.CreatedAt)); err != nil {
		return nil, fmt.Errorf("store: insert persona version: %w", err)
	}
	return v, nil
}

// pinPersonaVersion returns the persona version that a new agent version
// pins, per hyponema.PersonaService: the published one, else the newest,
// else one snapshotted from the draft now, with note.
func pinPersonaVersion(ctx context.Context, tx conn, workspaceID, personaID, note string) (string, error) {
	p, err := findPersona(ctx, tx, workspaceID, personaID, tx.db.d.forUpdate)
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		// Agent writes check the persona and DeletePersona checks the
		// agents, under locks, so this means a bug rather than a race.
		return "", hyponema.Errorf(hyponema.ECONFLICT, "the agent's persona no longer exists: change the agent's persona_id")
	} else if err != nil {
		return "", err
	}
	if p.PublishedVersionID != "" {
		return p.PublishedVersionID, nil
	}
	var id string
	err = tx.queryRow(ctx, `SELECT id FROM persona_versions WHERE persona_id = ? ORDER BY number DESC LIMIT 1`, p.ID).Scan(&id)
	if err == nil {
		return id, nil
	} else if !isNoRows(err) {
		return "", fmt.Errorf("store: find newest persona version: %w", err)
	}
	v, err := insertPersonaVersion(ctx, tx, p, note)
	if err != nil {
		return "", err
	}
	return v.ID, nil
}

// FindPersonaVersion implements hyponema.PersonaService.
func (s *PersonaService) FindPersonaVersion(ctx context.Context, workspaceID, personaID, versionID string) (*hyponema.PersonaVersion, error) {
	v, err := scanPersonaVersion(s.db.read().queryRow(ctx, `SELECT v.id, v.workspace_id, v.persona_id, v.number, v.note, v.config, v.created_at
		FROM persona_versions v JOIN personas p ON p.id = v.persona_id
		WHERE v.id = ? AND v.persona_id = ? AND p.workspace_id = ? AND p.deleted_at IS NULL`, versionID, personaID, workspaceID))
	if isNoRows(err) {
		return nil, hyponema.Errorf(hyponema.ENOTFOUND, "persona version not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: find persona version: %w", err)
	}
	return v, nil
}

// ListPersonaVersions implements hyponema.PersonaService.
func (s *PersonaService) ListPersonaVersions(ctx context.Context, workspaceID, personaID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.PersonaVersion], error) {
	if _, err := s.FindPersona(ctx, workspaceID, personaID); err != nil {
		return hyponema.Page[*hyponema.PersonaVersion]{}, err
	}
	return list(ctx, s.db, opt, `SELECT `+personaVersionColumns+` FROM persona_versions WHERE workspace_id = ? AND persona_id = ?`,
		[]any{workspaceID, personaID}, scanPersonaVersion, func(v *hyponema.PersonaVersion) string { return v.ID })
}

// PublishPersonaVersion implements hyponema.PersonaService.
func (s *PersonaService) PublishPersonaVersion(ctx context.Context, workspaceID, personaID, versionID string) (*hyponema.Persona, error) {
	return s.changeLive(ctx, workspaceID, personaID, func(tx conn, p *hyponema.Persona, t time.Time) error {
		return publish(ctx, tx, personaTables, p.ID, p.PublishedVersionID, versionID, t)
	})
}

// RollbackPersona implements hyponema.PersonaService.
func (s *PersonaService) RollbackPersona(ctx context.Context, workspaceID, personaID string) (*hyponema.Persona, error) {
	return s.changeLive(ctx, workspaceID, personaID, func(tx conn, p *hyponema.Persona, t time.Time) error {
		return rollback(ctx, tx, personaTables, p.ID, t)
	})
}

// changeLive runs fn with the persona locked and returns it as fn left it.
func (s *PersonaService) changeLive(ctx context.Context, workspaceID, personaID string, fn func(conn, *hyponema.Persona, time.Time) error) (*hyponema.Persona, error) {
	var p *hyponema.Persona
	err := s.db.inTx(ctx, func(tx conn) error {
		locked, err := findPersona(ctx, tx, workspaceID, personaID, s.db.d.forUpdate)
		if err != nil {
			return err
		}
		if err := fn(tx, locked, now()); err != nil {
			return err
		}
		p, err = findPersona(ctx, tx, workspaceID, personaID, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// FindPersonaVersionByID implements hyponema.PersonaService: deletion of the
// persona does not hide the versions that agent versions pinned.
func (s *PersonaService) FindPersonaVersionByID(ctx context.Context, workspaceID, versionID string) (*hyponema.PersonaVersion, error) {
	v, err := scanPersonaVersion(s.db.read().queryRow(ctx, `SELECT `+personaVersionColumns+` FROM persona_versions
		WHERE id = ? AND workspace_id = ?`, versionID, workspaceID))
	if isNoRows(err) {
		return nil, hyponema.Errorf(hyponema.ENOTFOUND, "persona version not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: find persona version: %w", err)
	}
	return v, nil
}
