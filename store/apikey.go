package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hyponema/hyponema"
)

// APIKeyService stores workspace API keys. Only a key's SHA-256 is kept,
// under a unique index, so authentication is one indexed lookup.
type APIKeyService struct{ db *DB }

var _ hyponema.APIKeyService = (*APIKeyService)(nil)

// NewAPIKeyService returns the API key service of db.
func NewAPIKeyService(db *DB) *APIKeyService { return &APIKeyService{db: db} }

const apiKeyColumns = `id, workspace_id, name, prefix, hash, created_at, last_used_at, revoked_at`

func scanAPIKey(row scanner) (*hyponema.APIKey, error) {
	var k hyponema.APIKey
	if err := row.Scan(&k.ID, &k.WorkspaceID, &k.Name, &k.Prefix, &k.Hash,
		timeCol{&k.CreatedAt}, nullTimeCol{&k.LastUsedAt}, nullTimeCol{&k.RevokedAt}); err != nil {
		return nil, err
	}
	return &k, nil
}

// CreateAPIKey implements hyponema.APIKeyService.
func (s *APIKeyService) CreateAPIKey(ctx context.Context, k *hyponema.APIKey) (string, error) {
	secret := hyponema.NewAPIKeySecret()
	if err := s.create(ctx, k, secret); err != nil {
		return "", err
	}
	return secret, nil
}

// CreateAPIKeyWithSecret implements hyponema.APIKeyService.
func (s *APIKeyService) CreateAPIKeyWithSecret(ctx context.Context, k *hyponema.APIKey, secret string) error {
	if !hyponema.ValidAPIKeySecret(secret) {
		var v hyponema.Validation
		v.Add("invalid", "must be hyp_ followed by 41 letters or digits", "secret")
		return v.Err()
	}
	return s.create(ctx, k, secret)
}

func (s *APIKeyService) create(ctx context.Context, k *hyponema.APIKey, secret string) error {
	if err := k.Validate(); err != nil {
		return err
	}
	id, t := hyponema.NewID(hyponema.PrefixAPIKey), now()
	hash, prefix := hyponema.HashAPIKeySecret(secret), hyponema.APIKeyDisplayPrefix(secret)
	_, err := s.db.write().exec(ctx, `INSERT INTO api_keys (id, workspace_id, name, prefix, hash, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, id, k.WorkspaceID, k.Name, prefix, hash, s.db.d.timeArg(t))
	switch {
	case err == nil:
	case s.db.d.isForeignKey(err):
		return errWorkspaceNotFound()
	case s.db.d.isUnique(err):
		return hyponema.Errorf(hyponema.ECONFLICT, "this API key exists already")
	default:
		return fmt.Errorf("store: insert API key: %w", err)
	}
	k.ID, k.Prefix, k.Hash, k.CreatedAt = id, prefix, hash, t
	k.LastUsedAt, k.RevokedAt = nil, nil
	return nil
}

// AuthenticateAPIKey implements hyponema.APIKeyService. It leaves
// last_used_at alone: the caller decides how often to call TouchAPIKey,
// so that authentication stays a read.
func (s *APIKeyService) AuthenticateAPIKey(ctx context.Context, secret string) (*hyponema.APIKey, error) {
	if !hyponema.ValidAPIKeySecret(secret) {
		return nil, errBadAPIKey()
	}
	k, err := scanAPIKey(s.db.read().queryRow(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = ?`, hyponema.HashAPIKeySecret(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadAPIKey()
	} else if err != nil {
		return nil, fmt.Errorf("store: authenticate API key: %w", err)
	}
	if k.RevokedAt != nil {
		return nil, errBadAPIKey()
	}
	return k, nil
}

// errBadAPIKey is the same for unknown and revoked keys, so that a caller
// learns nothing about which keys once existed.
func errBadAPIKey() error {
	return hyponema.Errorf(hyponema.EUNAUTHORIZED, "invalid API key")
}

// TouchAPIKey implements hyponema.APIKeyService. It never moves
// last_used_at backwards, so racing requests cannot leave an older time.
func (s *APIKeyService) TouchAPIKey(ctx context.Context, id string, t time.Time) error {
	at := s.db.d.timeArg(storeTime(t))
	if _, err := s.db.write().exec(ctx, `UPDATE api_keys SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, at, id, at); err != nil {
		return fmt.Errorf("store: touch API key: %w", err)
	}
	return nil
}

// FindAPIKey implements hyponema.APIKeyService.
func (s *APIKeyService) FindAPIKey(ctx context.Context, workspaceID, id string) (*hyponema.APIKey, error) {
	return s.find(ctx, s.db.read(), workspaceID, id)
}

func (s *APIKeyService) find(ctx context.Context, c conn, workspaceID, id string) (*hyponema.APIKey, error) {
	k, err := scanAPIKey(c.queryRow(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE workspace_id = ? AND id = ?`, workspaceID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, hyponema.Errorf(hyponema.ENOTFOUND, "API key not found")
	} else if err != nil {
		return nil, fmt.Errorf("store: find API key: %w", err)
	}
	return k, nil
}

// ListAPIKeys implements hyponema.APIKeyService.
func (s *APIKeyService) ListAPIKeys(ctx context.Context, workspaceID string, opt hyponema.PageOptions) (hyponema.Page[*hyponema.APIKey], error) {
	return list(ctx, s.db, opt, `SELECT `+apiKeyColumns+` FROM api_keys WHERE workspace_id = ?`,
		[]any{workspaceID}, scanAPIKey, func(k *hyponema.APIKey) string { return k.ID })
}

// RevokeAPIKey implements hyponema.APIKeyService.
func (s *APIKeyService) RevokeAPIKey(ctx context.Context, workspaceID, id string) (*hyponema.APIKey, error) {
	var k *hyponema.APIKey
	err := s.db.inTx(ctx, func(tx conn) error {
		// revoked_at IS NULL keeps the first revocation's time.
		if _, err := tx.exec(ctx, `UPDATE api_keys SET revoked_at = ?
			WHERE workspace_id = ? AND id = ? AND revoked_at IS NULL`,
			s.db.d.timeArg(now()), workspaceID, id); err != nil {
			return fmt.Errorf("store: revoke API key: %w", err)
		}
		var err error
		k, err = s.find(ctx, tx, workspaceID, id)
		return err
	})
	return k, err
}
