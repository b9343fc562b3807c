package hyponema

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// APIKeyPrefix starts every workspace API key.
const APIKeyPrefix = "hyp_"

// apiKeyBodyLen is the number of random characters after the prefix.
const apiKeyBodyLen = 41

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// APIKey is a workspace API key as stored and listed. The secret itself is
// shown once, at creation, and only its hash is kept.
type APIKey struct {
	ID          string     `json:"id" doc:"API key ID (key_…)."`
	WorkspaceID string     `json:"workspace_id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix" doc:"Display prefix, e.g. hyp_AbCd…; never the whole key."`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at" doc:"When the key last authenticated a request (updated at most once a minute)."`
	RevokedAt   *time.Time `json:"revoked_at"`

	// Hash is the SHA-256 of the secret, hex-encoded. Never serialized.
	Hash string `json:"-"`
}

// Validate checks the key's fields.
func (k *APIKey) Validate() error {
	var v Validation
	validateName(&v, k.Name, "name")
	return v.Err()
}

// NewAPIKeySecret returns a fresh random key: "hyp_" and 41 characters of
// [A-Za-z0-9] (about 244 bits), read from crypto/rand without modulo bias.
func NewAPIKeySecret() string {
	b := make([]byte, 0, len(APIKeyPrefix)+apiKeyBodyLen)
	b = append(b, APIKeyPrefix...)
	var buf [64]byte
	for len(b) < cap(b) {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			// 248 = 4*62: reject the tail to keep every character equally likely.
			if c < 248 && len(b) < cap(b) {
				b = append(b, base62[c%62])
			}
		}
	}
	return string(b)
}

// ValidAPIKeySecret reports whether s has the shape of a workspace API key.
func ValidAPIKeySecret(s string) bool {
	if len(s) != len(APIKeyPrefix)+apiKeyBodyLen || s[:len(APIKeyPrefix)] != APIKeyPrefix {
		return false
	}
	for i := len(APIKeyPrefix); i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// HashAPIKeySecret returns the stored form of a key. A plain SHA-256 is
// right here: the key carries ~244 random bits, so nothing can be guessed
// from its hash, and a fast hash keeps authentication cheap.
func HashAPIKeySecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// APIKeyDisplayPrefix returns what lists show of a key: "hyp_AbCd…".
func APIKeyDisplayPrefix(secret string) string {
	if len(secret) < len(APIKeyPrefix)+4 {
		return APIKeyPrefix + "…"
	}
	return secret[:len(APIKeyPrefix)+4] + "…"
}

// APIKeyService manages workspace API keys.
type APIKeyService interface {
	// CreateAPIKey stores k (Name and WorkspaceID set by the caller) with a
	// new secret, and returns the secret: the only time it is available.
	// Returns EINVALID, ENOTFOUND (no such workspace).
	CreateAPIKey(ctx context.Context, k *APIKey) (secret string, err error)

	// CreateAPIKeyWithSecret stores k with a secret that the operator chose
	// (HYPONEMA_BOOTSTRAP_API_KEY). Returns EINVALID, ECONFLICT.
	CreateAPIKeyWithSecret(ctx context.Context, k *APIKey, secret string) error

	// AuthenticateAPIKey returns the live key whose secret this is, or
	// EUNAUTHORIZED for unknown and revoked keys.
	AuthenticateAPIKey(ctx context.Context, secret string) (*APIKey, error)

	// TouchAPIKey records that the key was used at t.
	TouchAPIKey(ctx context.Context, id string, t time.Time) error

	// FindAPIKey returns ENOTFOUND unless the key belongs to the workspace.
	FindAPIKey(ctx context.Context, workspaceID, id string) (*APIKey, error)

	// ListAPIKeys lists the workspace's keys, revoked ones included.
	ListAPIKeys(ctx context.Context, workspaceID string, opt PageOptions) (Page[*APIKey], error)

	// RevokeAPIKey revokes the key at once; revoking twice is a no-op that
	// returns the key as revoked the first time. Returns ENOTFOUND.
	RevokeAPIKey(ctx context.Context, workspaceID, id string) (*APIKey, error)
}
