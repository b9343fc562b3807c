package store

import (
	"context"
	"fmt"

	"github.com/hyponema/hyponema"
)

// Sealer encrypts secret values before they are stored and decrypts them
// when a tool needs them. *seal.Box implements it.
type Sealer interface {
	Seal(plaintext, context string) string
	Open(sealed, context string) (string, error)
}

// SecretService stores workspace secrets, sealed: the database holds only
// what the Sealer made of each value.
type SecretService struct {
	db  *DB
	box Sealer
}

var _ hyponema.SecretService = (*SecretService)(nil)

// NewSecretService returns the secret service of db, which seals values
// with s.
func NewSecretService(db *DB, s Sealer) *SecretService { return &SecretService{db: db, box: s} }

func errSecretNotFound() error { return hyponema.Errorf(hyponema.ENOTFOUND, "secret not found") }

// sealContext binds a sealed value to its row: a value copied to another
// name or workspace does not open there.
func sealContext(workspaceID, name string) string { return workspaceID + "\x00" + name }

// SetSecret implements hyponema.SecretService. Inserting first tells a new
// secret from a replaced one exactly; should the row vanish between the
// insert and the update (a concurrent delete, on PostgreSQL), it tries
// again.
func (s *SecretService) SetSecret(ctx context.Context, workspaceID, name, value string) (*hyponema.Secret, bool, error) {
	if err := hyponema.ValidateSecret(name, value); err != nil {
		return nil, false, err
	}
	sealed := s.box.Seal(value, sealContext(workspaceID, name))
	sec := &hyponema.Secret{Name: name, WorkspaceID: workspaceID, UpdatedAt: now()}
	at := s.db.d.timeArg(sec.UpdatedAt)
	var created bool
	err := s.db.inTx(ctx, func(tx conn) error {
		for range 3 {
			res, err := tx.exec(ctx, `INSERT INTO secrets (workspace_id, name, value, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, name) DO NOTHING`, workspaceID, name, sealed, at, at)
			if s.db.d.isForeignKey(err) {
				return errWorkspaceNotFound()
			} else if err != nil {
				return fmt.Errorf("store: insert secret: %w", err)
			}
			if n, err := rowsAffected(res); err != nil {
				return err
			} else if n == 1 {
				created, sec.CreatedAt = true, sec.UpdatedAt
				var count int
				if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM secrets WHERE workspace_id = ?`, workspaceID).Scan(&count); err != nil {
					return fmt.Errorf("store: count secrets: %w", err)
				}
				if count > hyponema.MaxSecretsPerWorkspace {
					var v hyponema.Validation
					v.Add("too_long", fmt.Sprintf("a workspace may keep at most %d secrets", hyponema.MaxSecretsPerWorkspace), "name")
					return v.Err()
				}
				return nil
			}
			err = tx.queryRow(ctx, `UPDATE secrets SET value = ?, updated_at = ? WHERE workspace_id = ? AND name = ?
				RETURNING created_at`, sealed, at, workspaceID, name).Scan(timeCol{&sec.CreatedAt})
			if err == nil {
				return nil
			} else if !isNoRows(err) {
				return fmt.Errorf("store: update secret: %w", err)
			}
		}
		return fmt.Errorf("store: set secret: the row kept changing")
	})
	if err != nil {
		return nil, false, err
	}
	return sec, created, nil
}

// ResolveSecret implements hyponema.SecretResolver. A value that does not
// open (another server key, or a value copied from another row) is an
// internal error, never ENOTFOUND: the secret exists but cannot be used.
func (s *SecretService) ResolveSecret(ctx context.Context, workspaceID, name string) (string, error) {
	var sealed string
	err := s.db.read().queryRow(ctx, `SELECT value FROM secrets WHERE workspace_id = ? AND name = ?`,
		workspaceID, name).Scan(&sealed)
	if isNoRows(err) {
		return "", errSecretNotFound()
	} else if err != nil {
		return "", fmt.Errorf("store: resolve secret: %w", err)
	}
	value, err := s.box.Open(sealed, sealContext(workspaceID, name))
	if err != nil {
		return "", fmt.Errorf("store: secret %s of workspace %s does not open: %w", name, workspaceID, err)
	}
	return value, nil
}

const secretColumns = `workspace_id, name, created_at, updated_at`

func scanSecret(row scanner) (*hyponema.Secret, error) {
	var sec hyponema.Secret
	if err := row.Scan(&sec.WorkspaceID, &sec.Name, timeCol{&sec.CreatedAt}, timeCol{&sec.UpdatedAt}); err != nil {
		return nil, err
	}
	return &sec, nil
}

// FindSecret implements hyponema.SecretService.
func (s *SecretService) FindSecret(ctx context.Context, workspaceID, name string) (*hyponema.Secret, error) {
	sec, err := scanSecret(s.db.read().queryRow(ctx, `SELECT `+secretColumns+` FROM secrets
		WHERE workspace_id = ? AND name = ?`, workspaceID, name))
	if isNoRows(err) {
		return nil, errSecretNotFound()
	} else if err != nil {
		return nil, fmt.Errorf("store: find secret: %w", err)
	}
	return sec, nil
}

// ListSecrets implements hyponema.SecretService.
func (s *SecretService) ListSecrets(ctx context.Context, workspaceID string) ([]*hyponema.Secret, error) {
	rows, err := s.db.read().query(ctx, `SELECT `+secretColumns+` FROM secrets WHERE workspace_id = ? ORDER BY name`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("store: list secrets: %w", err)
	}
	defer rows.Close()
	secrets := []*hyponema.Secret{}
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list secrets: %w", err)
		}
		secrets = append(secrets, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list secrets: %w", err)
	}
	return secrets, nil
}

// DeleteSecret implements hyponema.SecretService.
func (s *SecretService) DeleteSecret(ctx context.Context, workspaceID, name string) error {
	return execOne(ctx, s.db.write(), "delete secret", errSecretNotFound(),
		`DELETE FROM secrets WHERE workspace_id = ? AND name = ?`, workspaceID, name)
}
