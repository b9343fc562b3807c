package hyponema

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Workspace secrets are values that tools use (API tokens in headers) and
// that no API response ever shows: they are written, listed by name, and
// deleted, and the server reads them only when a tool runs.
const (
	MaxSecretValueLen = 8 << 10
	MaxSecretNameLen  = 64
	// MaxSecretsPerWorkspace bounds how many secrets one workspace keeps.
	MaxSecretsPerWorkspace = 500
)

var secretNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Secret is a workspace secret as listed: never its value.
type Secret struct {
	Name        string    `json:"name" doc:"How tools name it: {{secrets.NAME}}."`
	WorkspaceID string    `json:"workspace_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at" doc:"When the value last changed."`
}

// ValidateSecret checks a secret's name and value.
func ValidateSecret(name, value string) error {
	var v Validation
	if !secretNamePattern.MatchString(name) {
		v.Add("invalid", "must be 1 to 64 letters, digits or _, not starting with a digit", "name")
	}
	switch {
	case value == "":
		v.Add("missing", "is required", "value")
	case len(value) > MaxSecretValueLen:
		v.Add("too_long", fmt.Sprintf("must be at most %d bytes", MaxSecretValueLen), "value")
	case !utf8.ValidString(value) || strings.ContainsAny(value, "\x00\r\n"):
		v.Add("invalid", "must be UTF-8 text without NUL or line breaks", "value")
	}
	return v.Err()
}

// SecretService stores workspace secrets, sealed.
type SecretService interface {
	SecretResolver

	// SetSecret creates the secret or replaces its value; created reports
	// which. Returns EINVALID.
	SetSecret(ctx context.Context, workspaceID, name, value string) (s *Secret, created bool, err error)
	// FindSecret returns ENOTFOUND.
	FindSecret(ctx context.Context, workspaceID, name string) (*Secret, error)
	// ListSecrets lists by name.
	ListSecrets(ctx context.Context, workspaceID string) ([]*Secret, error)
	// DeleteSecret returns ENOTFOUND.
	DeleteSecret(ctx context.Context, workspaceID, name string) error
}

// ToolDiscoverer asks an MCP tool's server which tools it offers.
type ToolDiscoverer interface {
	// DiscoverTools returns the tools the server offers that the tool's
	// tool_names let through, as the model would see them. An unreachable
	// or failing server is EUNAVAILABLE or EPROVIDER with a message safe
	// to show.
	DiscoverTools(ctx context.Context, t *Tool) ([]ToolDefinition, error)
}
