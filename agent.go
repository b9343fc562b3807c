package hyponema

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"golang.org/x/text/language"
)

// Model providers that an agent may name as "provider/model".
var ModelProviders = []string{"openai", "anthropic", "local"}

// Defaults of a new agent.
const (
	DefaultModel                    = "local/hyponema-demo"
	DefaultTemperature              = 0.7
	DefaultMaxOutputTokens          = 1024
	DefaultLanguage                 = "en"
	DefaultInactivityTimeoutSeconds = 1800
	DefaultMaxDurationSeconds       = 86400
	DefaultFirstTokenTimeoutMS      = 20_000
	DefaultTurnTimeoutSeconds       = 120
	DefaultHistoryTokenBudget       = 8000
	DefaultMaxToolRounds            = 8
	DefaultToolTimeoutSeconds       = 60
	DefaultKnowledgeTokenBudget     = 1500
)

var modelPattern = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]*)/([^\s/\x00-\x1f\x7f][^\s\x00-\x1f\x7f]{0,199})$`)

// NewAgentConfig returns the configuration that a new agent starts from,
// before the caller's fields are applied.
func NewAgentConfig() AgentConfig {
	c := AgentConfig{
		Model:           DefaultModel,
		Temperature:     DefaultTemperature,
		MaxOutputTokens: DefaultMaxOutputTokens,
		Language:        DefaultLanguage,
	}
	c.Normalize()
	return c
}

// AgentConfig is everything about an agent that a version snapshots. New
// settings go here, so that versions capture them without a migration.
type AgentConfig struct {
	Name            string            `json:"name" doc:"Display name."`
	Instructions    string            `json:"instructions" doc:"What the agent does and how: the core of its system prompt."`
	FirstMessage    string            `json:"first_message" doc:"What the agent says first; empty to wait for the user."`
	Model           string            `json:"model" doc:"provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4-5 or local/hyponema-demo."`
	Temperature     float64           `json:"temperature" doc:"Sampling temperature, 0–2."`
	MaxOutputTokens int               `json:"max_output_tokens" doc:"Upper bound on tokens per reply."`
	PersonaID       string            `json:"persona_id" doc:"The persona (per_…) that gives the agent its voice and tone; empty for none."`
	Language        string            `json:"language" doc:"BCP 47 language tag of the conversation."`
	AllowedOrigins  []string          `json:"allowed_origins" doc:"Web origins whose browsers may use this agent's session client endpoints."`
	Metadata        map[string]string `json:"metadata" doc:"Your own key-value pairs (at most 50; keys 40, values 500 characters)."`

	// VariableDefaults are used for {{variables}} that a session does not set.
	VariableDefaults map[string]string `json:"variable_defaults" doc:"Values for {{variables}} in instructions and first_message that a session does not set. A variable with neither a default nor a session value makes session creation fail."`

	InactivityTimeoutSeconds int `json:"inactivity_timeout_seconds" doc:"A session with no message for this long ends with ended_reason timeout."`
	MaxDurationSeconds       int `json:"max_duration_seconds" doc:"A session ends with ended_reason max_duration this long after it started."`
	FirstTokenTimeoutMS      int `json:"first_token_timeout_ms" doc:"How long the model may take to start answering; past it the reply fails with provider_timeout."`
	TurnTimeoutSeconds       int `json:"turn_timeout_seconds" doc:"How long one reply may take in all."`
	HistoryTokenBudget       int `json:"history_token_budget" doc:"Roughly how many tokens of earlier conversation are sent to the model; the oldest turns are dropped first, the system prompt never."`

	// Tools: the attached ones live in /agents/{id}/tools; these are the
	// built-in ones and the loop's bounds.
	BuiltinTools       []string `json:"builtin_tools" doc:"Built-in tools the agent may use: end_session (it closes the conversation politely) and transfer (it hands the conversation, transcript and all, to another agent of transfer_agent_ids)."`
	TransferAgentIDs   []string `json:"transfer_agent_ids" doc:"The agents (agt_…) that the transfer tool may hand over to; they must have a published version."`
	MaxToolRounds      int      `json:"max_tool_rounds" doc:"How many rounds of tool calls one reply may make; then the model must answer without tools."`
	ToolTimeoutSeconds int      `json:"tool_timeout_seconds" doc:"How long all tool calls of one reply may take together."`

	// Knowledge: attach and detach with POST /knowledge-base/{kb}/attach
	// and /detach; versions capture the list.
	KnowledgeBaseIDs     []string `json:"knowledge_base_ids" readOnly:"true" doc:"The knowledge bases the agent retrieves from (attach and detach them with POST /workspaces/{ws}/knowledge-base/{kb}/attach and /detach)."`
	KnowledgeTopK        int      `json:"knowledge_top_k" doc:"How many passages are retrieved for each user message."`
	KnowledgeTokenBudget int      `json:"knowledge_token_budget" doc:"Roughly how many tokens of retrieved passages go into the prompt."`
}

// Built-in tools.
const (
	BuiltinEndSession = "end_session"
	BuiltinTransfer   = "transfer"
)

// Normalize fills defaults and puts fields in canonical form.
func (c *AgentConfig) Normalize() {
	if c.VariableDefaults == nil {
		c.VariableDefaults = map[string]string{}
	}
	defaultInt(&c.InactivityTimeoutSeconds, DefaultInactivityTimeoutSeconds)
	defaultInt(&c.MaxDurationSeconds, DefaultMaxDurationSeconds)
	defaultInt(&c.FirstTokenTimeoutMS, DefaultFirstTokenTimeoutMS)
	defaultInt(&c.TurnTimeoutSeconds, DefaultTurnTimeoutSeconds)
	defaultInt(&c.HistoryTokenBudget, DefaultHistoryTokenBudget)
	defaultInt(&c.MaxToolRounds, DefaultMaxToolRounds)
	defaultInt(&c.KnowledgeTopK, DefaultTopK)
	defaultInt(&c.KnowledgeTokenBudget, DefaultKnowledgeTokenBudget)
	if c.KnowledgeBaseIDs == nil {
		c.KnowledgeBaseIDs = []string{}
	}
	defaultInt(&c.ToolTimeoutSeconds, DefaultToolTimeoutSeconds)
	if c.BuiltinTools == nil {
		c.BuiltinTools = []string{}
	}
	if c.TransferAgentIDs == nil {
		c.TransferAgentIDs = []string{}
	}
	if c.Model == "" {
		c.Model = DefaultModel
	}
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	if c.AllowedOrigins == nil {
		c.AllowedOrigins = []string{}
	}
	for i, o := range c.AllowedOrigins {
		if n, ok := NormalizeOrigin(o); ok {
			c.AllowedOrigins[i] = n
		}
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
}

// Validate checks the configuration. It does not check that PersonaID
// exists: the store does, inside the same transaction as the write.
func (c *AgentConfig) Validate() error {
	var v Validation
	validateName(&v, c.Name, "name")
	validateText(&v, c.Instructions, MaxInstructionsLen, "instructions")
	validateText(&v, c.FirstMessage, MaxFirstMessageLen, "first_message")
	if m := modelPattern.FindStringSubmatch(c.Model); m == nil {
		v.Add("invalid", "must be provider/model, e.g. openai/gpt-4o-mini", "model")
	} else if !knownProvider(m[1]) {
		v.Add("invalid", fmt.Sprintf("unknown provider %q (known: openai, anthropic, local)", m[1]), "model")
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		v.Add("out_of_range", "must be between 0 and 2", "temperature")
	}
	if c.MaxOutputTokens < 1 || c.MaxOutputTokens > 200_000 {
		v.Add("out_of_range", "must be between 1 and 200000", "max_output_tokens")
	}
	if c.PersonaID != "" && !HasPrefix(c.PersonaID, PrefixPersona) {
		v.Add("invalid", "must be a persona ID (per_…)", "persona_id")
	}
	if _, err := language.Parse(c.Language); err != nil {
		v.Add("invalid", "must be a BCP 47 language tag such as en or pt-BR", "language")
	}
	if len(c.AllowedOrigins) > MaxAllowedOrigins {
		v.Add("too_long", fmt.Sprintf("must have at most %d origins", MaxAllowedOrigins), "allowed_origins")
	}
	for i, o := range c.AllowedOrigins {
		if _, ok := NormalizeOrigin(o); !ok {
			v.Add("invalid", "must be an origin such as https://example.com", "allowed_origins", fmt.Sprint(i))
		}
	}
	validateMetadata(&v, c.Metadata, "metadata")
	validateMetadata(&v, c.VariableDefaults, "variable_defaults")
	for k := range c.VariableDefaults {
		if !variableName.MatchString(k) {
			v.Add("invalid", "names must be letters, digits and _ (starting with a letter or _)", "variable_defaults", k)
		}
	}
	validateRange(&v, c.InactivityTimeoutSeconds, 10, 7*86400, "inactivity_timeout_seconds")
	validateRange(&v, c.MaxDurationSeconds, 10, 30*86400, "max_duration_seconds")
	validateRange(&v, c.FirstTokenTimeoutMS, 100, 600_000, "first_token_timeout_ms")
	validateRange(&v, c.TurnTimeoutSeconds, 1, 3600, "turn_timeout_seconds")
	validateRange(&v, c.HistoryTokenBudget, 100, 2_000_000, "history_token_budget")
	validateRange(&v, c.MaxToolRounds, 1, 32, "max_tool_rounds")
	validateRange(&v, c.ToolTimeoutSeconds, 1, 600, "tool_timeout_seconds")
	validateRange(&v, c.KnowledgeTopK, 1, MaxTopK, "knowledge_top_k")
	validateRange(&v, c.KnowledgeTokenBudget, 100, 100_000, "knowledge_token_budget")
	if len(c.KnowledgeBaseIDs) > MaxKnowledgeBasesPerAgent {
		v.Add("too_long", fmt.Sprintf("must have at most %d knowledge bases", MaxKnowledgeBasesPerAgent), "knowledge_base_ids")
	}
	for i, b := range c.BuiltinTools {
		if b != BuiltinEndSession && b != BuiltinTransfer {
			v.Add("invalid", "must be end_session or transfer", "builtin_tools", fmt.Sprint(i))
		}
	}
	if len(c.TransferAgentIDs) > MaxToolsPerAgent {
		v.Add("too_long", fmt.Sprintf("must have at most %d agents", MaxToolsPerAgent), "transfer_agent_ids")
	}
	for i, id := range c.TransferAgentIDs {
		if !HasPrefix(id, PrefixAgent) {
			v.Add("invalid", "must be an agent ID (agt_…)", "transfer_agent_ids", fmt.Sprint(i))
		}
	}
	return v.Err()
}

func defaultInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

func validateRange(v *Validation, n, lo, hi int, path string) {
	if n < lo || n > hi {
		v.Add("out_of_range", fmt.Sprintf("must be between %d and %d", lo, hi), path)
	}
}

func knownProvider(p string) bool {
	for _, k := range ModelProviders {
		if k == p {
			return true
		}
	}
	return false
}

// Agent is the editable draft of an agent, and which version is live.
type Agent struct {
	ID          string `json:"id" doc:"Agent ID (agt_…)."`
	WorkspaceID string `json:"workspace_id"`
	AgentConfig
	PublishedVersionID string    `json:"published_version_id" doc:"The version that new sessions run; empty until one is published."`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
}

// AgentVersion is an immutable snapshot of an agent's configuration.
type AgentVersion struct {
	ID               string      `json:"id" doc:"Agent version ID (agv_…)."`
	WorkspaceID      string      `json:"workspace_id"`
	AgentID          string      `json:"agent_id"`
	Number           int         `json:"number" doc:"1, 2, … per agent."`
	Note             string      `json:"note"`
	PersonaVersionID string      `json:"persona_version_id" doc:"The persona version pinned by this agent version; empty without a persona."`
	Config           AgentConfig `json:"config" doc:"The agent's configuration as it was when the version was made."`
	Tools            []Tool      `json:"tools" doc:"The tools attached to the agent when the version was made, as they were then."`
	CreatedAt        time.Time   `json:"created_at"`
}

// AgentPatch changes some fields of an agent's draft; nil fields are kept.
type AgentPatch struct {
	Name            *string            `json:"name,omitempty"`
	Instructions    *string            `json:"instructions,omitempty"`
	FirstMessage    *string            `json:"first_message,omitempty"`
	Model           *string            `json:"model,omitempty"`
	Temperature     *float64           `json:"temperature,omitempty"`
	MaxOutputTokens *int               `json:"max_output_tokens,omitempty"`
	PersonaID       *string            `json:"persona_id,omitempty" doc:"A persona ID, or an empty string to remove the persona."`
	Language        *string            `json:"language,omitempty"`
	AllowedOrigins  *[]string          `json:"allowed_origins,omitempty"`
	Metadata        *map[string]string `json:"metadata,omitempty" doc:"Replaces the whole map."`

	VariableDefaults         *map[string]string `json:"variable_defaults,omitempty" doc:"Replaces the whole map."`
	InactivityTimeoutSeconds *int               `json:"inactivity_timeout_seconds,omitempty"`
	MaxDurationSeconds       *int               `json:"max_duration_seconds,omitempty"`
	FirstTokenTimeoutMS      *int               `json:"first_token_timeout_ms,omitempty"`
	TurnTimeoutSeconds       *int               `json:"turn_timeout_seconds,omitempty"`
	HistoryTokenBudget       *int               `json:"history_token_budget,omitempty"`
	BuiltinTools             *[]string          `json:"builtin_tools,omitempty"`
	TransferAgentIDs         *[]string          `json:"transfer_agent_ids,omitempty"`
	MaxToolRounds            *int               `json:"max_tool_rounds,omitempty"`
	ToolTimeoutSeconds       *int               `json:"tool_timeout_seconds,omitempty"`
	KnowledgeTopK            *int               `json:"knowledge_top_k,omitempty"`
	KnowledgeTokenBudget     *int               `json:"knowledge_token_budget,omitempty"`
}

// Apply copies the patch's set fields onto c.
func (p *AgentPatch) Apply(c *AgentConfig) {
	set(&c.Name, p.Name)
	set(&c.Instructions, p.Instructions)
	set(&c.FirstMessage, p.FirstMessage)
	set(&c.Model, p.Model)
	set(&c.Temperature, p.Temperature)
	set(&c.MaxOutputTokens, p.MaxOutputTokens)
	set(&c.PersonaID, p.PersonaID)
	set(&c.Language, p.Language)
	set(&c.AllowedOrigins, p.AllowedOrigins)
	set(&c.Metadata, p.Metadata)
	set(&c.VariableDefaults, p.VariableDefaults)
	set(&c.InactivityTimeoutSeconds, p.InactivityTimeoutSeconds)
	set(&c.MaxDurationSeconds, p.MaxDurationSeconds)
	set(&c.FirstTokenTimeoutMS, p.FirstTokenTimeoutMS)
	set(&c.TurnTimeoutSeconds, p.TurnTimeoutSeconds)
	set(&c.HistoryTokenBudget, p.HistoryTokenBudget)
	set(&c.BuiltinTools, p.BuiltinTools)
	set(&c.TransferAgentIDs, p.TransferAgentIDs)
	set(&c.MaxToolRounds, p.MaxToolRounds)
	set(&c.ToolTimeoutSeconds, p.ToolTimeoutSeconds)
	set(&c.KnowledgeTopK, p.KnowledgeTopK)
	set(&c.KnowledgeTokenBudget, p.KnowledgeTokenBudget)
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// AgentService manages agents, their versions and which version is live.
// Every method is scoped to one workspace: an object of another workspace
// is ENOTFOUND, exactly as if it did not exist.
type AgentService interface {
	// CreateAgent stores a new agent draft; ID and times are set.
	// Returns EINVALID (also for a persona_id that the workspace lacks).
	CreateAgent(ctx context.Context, a *Agent) error

	// FindAgent returns ENOTFOUND.
	FindAgent(ctx context.Context, workspaceID, id string) (*Agent, error)

	// ListAgents lists the workspace's agents.
	ListAgents(ctx context.Context, workspaceID string, opt PageOptions) (Page[*Agent], error)

	// UpdateAgent applies patch to the draft. Returns ENOTFOUND, EINVALID.
	UpdateAgent(ctx context.Context, workspaceID, id string, patch AgentPatch) (*Agent, error)

	// DeleteAgent deletes the agent: it and its versions are ENOTFOUND from
	// then on, but their rows are kept for the sessions that ran them.
	// Returns ENOTFOUND.
	DeleteAgent(ctx context.Context, workspaceID, id string) error

	// CreateAgentVersion snapshots the draft as the next version, pinning
	// the persona version (see PinPersonaVersion). Returns ENOTFOUND.
	CreateAgentVersion(ctx context.Context, workspaceID, agentID, note string) (*AgentVersion, error)

	// FindAgentVersion returns ENOTFOUND unless the version belongs to the agent.
	FindAgentVersion(ctx context.Context, workspaceID, agentID, versionID string) (*AgentVersion, error)

	// FindAgentVersionByID returns a version of the workspace by its ID
	// alone, even if its agent was deleted since: sessions that run it
	// keep running. Returns ENOTFOUND.
	FindAgentVersionByID(ctx context.Context, workspaceID, versionID string) (*AgentVersion, error)

	// ListAgentVersions lists the agent's versions.
	ListAgentVersions(ctx context.Context, workspaceID, agentID string, opt PageOptions) (Page[*AgentVersion], error)

	// PublishAgentVersion makes the version live. Publishing the live
	// version again changes nothing. Returns ENOTFOUND (agent), EINVALID
	// (a version_id that is not one of the agent's).
	PublishAgentVersion(ctx context.Context, workspaceID, agentID, versionID string) (*Agent, error)

	// RollbackAgent makes live the version that was published before the
	// live one; repeated calls go further back. Returns ENOTFOUND,
	// ECONFLICT (nothing earlier to go back to).
	RollbackAgent(ctx context.Context, workspaceID, agentID string) (*Agent, error)
}
