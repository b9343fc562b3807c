package hyponema

import (
	"context"
	"time"
)

// PersonaConfig is everything about a persona that a version snapshots.
type PersonaConfig struct {
	Name         string            `json:"name" doc:"Display name."`
	Instructions string            `json:"instructions" doc:"Voice, tone and style, added to the system prompt of agents that use the persona."`
	Description  string            `json:"description" doc:"For people: what the persona is for."`
	Metadata     map[string]string `json:"metadata" doc:"Your own key-value pairs (at most 50; keys 40, values 500 characters)."`
}

// Normalize fills defaults.
func (c *PersonaConfig) Normalize() {
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
}

// Validate checks the configuration.
func (c *PersonaConfig) Validate() error {
	var v Validation
	validateName(&v, c.Name, "name")
	validateText(&v, c.Instructions, MaxInstructionsLen, "instructions")
	validateText(&v, c.Description, MaxDescriptionLen, "description")
	validateMetadata(&v, c.Metadata, "metadata")
	return v.Err()
}

// Persona is the editable draft of a persona, and which version is live.
type Persona struct {
	ID          string `json:"id" doc:"Persona ID (per_…)."`
	WorkspaceID string `json:"workspace_id"`
	PersonaConfig
	PublishedVersionID string    `json:"published_version_id" doc:"The version that new agent versions pin; empty until one is published."`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// PersonaVersion is an immutable snapshot of a persona.
type PersonaVersion struct {
	ID          string        `json:"id" doc:"Persona version ID (perv_…)."`
	WorkspaceID string        `json:"workspace_id"`
	PersonaID   string        `json:"persona_id"`
	Number      int           `json:"number" doc:"1, 2, … per persona."`
	Note        string        `json:"note"`
	Config      PersonaConfig `json:"config" doc:"The persona as it was when the version was made."`
	CreatedAt   time.Time     `json:"created_at"`
}

// PersonaPatch changes some fields of a persona's draft; nil fields are kept.
type PersonaPatch struct {
	Name         *string            `json:"name,omitempty"`
	Instructions *string            `json:"instructions,omitempty"`
	Description  *string            `json:"description,omitempty"`
	Metadata     *map[string]string `json:"metadata,omitempty" doc:"Replaces the whole map."`
}

// Apply copies the patch's set fields onto c.
func (p *PersonaPatch) Apply(c *PersonaConfig) {
	set(&c.Name, p.Name)
	set(&c.Instructions, p.Instructions)
	set(&c.Description, p.Description)
	set(&c.Metadata, p.Metadata)
}

// PersonaService manages personas and their versions, scoped to one
// workspace like AgentService.
//
// When an agent version is made, it pins a persona version: the persona's
// published version; else its newest version; else a version snapshotted
// from the persona's draft there and then. So an agent version always
// reproduces the persona it was made with.
type PersonaService interface {
	// CreatePersona returns EINVALID.
	CreatePersona(ctx context.Context, p *Persona) error
	// FindPersona returns ENOTFOUND.
	FindPersona(ctx context.Context, workspaceID, id string) (*Persona, error)
	// ListPersonas lists the workspace's personas.
	ListPersonas(ctx context.Context, workspaceID string, opt PageOptions) (Page[*Persona], error)
	// UpdatePersona returns ENOTFOUND, EINVALID.
	UpdatePersona(ctx context.Context, workspaceID, id string, patch PersonaPatch) (*Persona, error)
	// DeletePersona returns ENOTFOUND, or ECONFLICT while an agent's draft
	// uses the persona (versions keep their pinned persona versions).
	DeletePersona(ctx context.Context, workspaceID, id string) error
	// CreatePersonaVersion snapshots the draft. Returns ENOTFOUND.
	CreatePersonaVersion(ctx context.Context, workspaceID, personaID, note string) (*PersonaVersion, error)
	// FindPersonaVersion returns ENOTFOUND unless the version belongs to the persona.
	FindPersonaVersion(ctx context.Context, workspaceID, personaID, versionID string) (*PersonaVersion, error)
	// FindPersonaVersionByID returns a version of the workspace by its ID
	// alone, even if its persona was deleted since. Returns ENOTFOUND.
	FindPersonaVersionByID(ctx context.Context, workspaceID, versionID string) (*PersonaVersion, error)
	// ListPersonaVersions lists the persona's versions.
	ListPersonaVersions(ctx context.Context, workspaceID, personaID string, opt PageOptions) (Page[*PersonaVersion], error)
	// PublishPersonaVersion returns ENOTFOUND, EINVALID.
	PublishPersonaVersion(ctx context.Context, workspaceID, personaID, versionID string) (*Persona, error)
	// RollbackPersona returns ENOTFOUND, ECONFLICT.
	RollbackPersona(ctx context.Context, workspaceID, personaID string) (*Persona, error)
}
