package hyponema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// PrefixTool starts tool IDs.
const PrefixTool = "tool_"

// Tool types.
const (
	ToolHTTP = "http"
	ToolMCP  = "mcp"
)

// Tool is something an agent can do during a conversation: call an HTTP
// API, or the tools of an MCP server. The model sees Name, Description and
// Parameters (the JSON Schema of the arguments) as a function.
type Tool struct {
	ID          string          `json:"id" doc:"Tool ID (tool_…)."`
	WorkspaceID string          `json:"workspace_id"`
	Name        string          `json:"name" doc:"The function name the model sees: letters, digits, _ and -, at most 64."`
	Description string          `json:"description" doc:"What the tool does and when to use it, for the model."`
	Type        string          `json:"type" enum:"http,mcp"`
	Parameters  json.RawMessage `json:"parameters" doc:"JSON Schema of the arguments (an object schema); arguments are validated against it before any call."`
	HTTP        *HTTPToolConfig `json:"http,omitempty" doc:"For type http."`
	MCP         *MCPToolConfig  `json:"mcp,omitempty" doc:"For type mcp."`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// HTTPToolConfig says how an HTTP tool calls its API.
//
// Templates: {{name}} is the argument name (URL-escaped in the URL,
// JSON-encoded in the body), {{secrets.NAME}} is the workspace secret NAME
// (in headers only). Secrets are resolved at call time and never logged or
// shown to the model.
type HTTPToolConfig struct {
	Method  string            `json:"method" enum:"GET,POST,PUT,PATCH,DELETE" doc:"Default POST."`
	URL     string            `json:"url" doc:"URL template, e.g. https://api.example.com/orders/{{order_id}}; on GET and DELETE the arguments not used in it go to the query string."`
	Headers map[string]string `json:"headers" doc:"Header templates; values may name workspace secrets: \"Bearer {{secrets.CRM_TOKEN}}\"."`
	// Body is a JSON template; empty sends the arguments as a JSON object
	// (POST, PUT, PATCH).
	Body             string   `json:"body" doc:"JSON body template; empty sends the arguments as the body (POST, PUT, PATCH)."`
	TimeoutMS        int      `json:"timeout_ms" doc:"Default 10000, at most 60000."`
	MaxResponseBytes int      `json:"max_response_bytes" doc:"Default 65536, at most 1048576; a larger answer fails the call."`
	ResponseFields   []string `json:"response_fields" doc:"Dotted paths of the JSON answer to give the model (e.g. \"order.status\"); empty gives the whole answer."`
}

// MCP transports.
const (
	MCPStreamableHTTP = "streamable_http"
	MCPStdio          = "stdio"
)

// MCPToolConfig names an MCP server whose tools the agent may use: one
// reached over streamable HTTP at URL, or one that the operator runs on
// the host as a subprocess (stdio), named by Server.
type MCPToolConfig struct {
	URL       string            `json:"url" doc:"For streamable_http: the server's endpoint."`
	Transport string            `json:"transport" enum:"streamable_http,stdio" doc:"streamable_http (the default), or stdio for a server that the operator configured on the host (HYPONEMA_MCP_SERVERS)."`
	Server    string            `json:"server" doc:"For stdio: the name the operator gave the server."`
	Headers   map[string]string `json:"headers" doc:"For streamable_http: header templates sent to the server; values may name workspace secrets."`
	ToolNames []string          `json:"tool_names" doc:"Only these of the server's tools; empty means all."`
}

// ToolResult is what a tool call came to, as the model is told it.
type ToolResult struct {
	Content string // for the model
	IsError bool   // the tool failed; Content says how
}

// SecretResolver looks up a workspace secret's value by name, for tools.
type SecretResolver interface {
	// ResolveSecret returns ENOTFOUND if the workspace has no such secret.
	ResolveSecret(ctx context.Context, workspaceID, name string) (string, error)
}

// Tool limits.
const (
	MaxToolNameLen       = 64
	MaxToolSchemaBytes   = 64 << 10
	MaxToolHeaders       = 20
	MaxToolsPerAgent     = 32
	DefaultToolTimeoutMS = 10_000
	MaxToolTimeoutMS     = 60_000
)

var (
	toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	mcpServerName   = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
)

// Validate checks the tool's fields: its name, its parameters (a JSON
// Schema of an object, which must compile) and the configuration of its
// type. The HTTP and MCP runners check their configuration in more depth
// when the tool is saved.
func (t *Tool) Validate() error {
	var v Validation
	if !toolNamePattern.MatchString(t.Name) {
		v.Add("invalid", "must be 1 to 64 letters, digits, _ or -: the function name the model sees", "name")
	}
	validateText(&v, t.Description, MaxDescriptionLen, "description")
	validateToolSchema(&v, t.Parameters, "parameters")
	switch t.Type {
	case ToolHTTP:
		if t.HTTP == nil {
			v.Add("missing", "is required for an http tool", "http")
		} else {
			t.HTTP.validate(&v)
		}
		if t.MCP != nil {
			v.Add("invalid", "is only for mcp tools", "mcp")
		}
	case ToolMCP:
		if t.MCP == nil {
			v.Add("missing", "is required for an mcp tool", "mcp")
		} else {
			t.MCP.validate(&v)
		}
		if t.HTTP != nil {
			v.Add("invalid", "is only for http tools", "http")
		}
	default:
		v.Add("invalid", "must be http or mcp", "type")
	}
	return v.Err()
}

// Normalize fills defaults.
func (t *Tool) Normalize() {
	if len(t.Parameters) == 0 || string(t.Parameters) == "null" {
		t.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	if h := t.HTTP; h != nil {
		if h.Method == "" {
			h.Method = "POST"
		}
		h.Method = strings.ToUpper(h.Method)
		if h.Headers == nil {
			h.Headers = map[string]string{}
		}
		if h.ResponseFields == nil {
			h.ResponseFields = []string{}
		}
		if h.TimeoutMS == 0 {
			h.TimeoutMS = DefaultToolTimeoutMS
		}
		if h.MaxResponseBytes == 0 {
			h.MaxResponseBytes = 64 << 10
		}
	}
	if m := t.MCP; m != nil {
		if m.Transport == "" {
			m.Transport = "streamable_http"
		}
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		if m.ToolNames == nil {
			m.ToolNames = []string{}
		}
	}
}

func validateToolSchema(v *Validation, schema json.RawMessage, path string) {
	if len(schema) > MaxToolSchemaBytes {
		v.Add("too_long", fmt.Sprintf("must be at most %d bytes", MaxToolSchemaBytes), path)
		return
	}
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		v.Add("invalid", "must be a JSON Schema", path)
		return
	}
	obj, ok := doc.(map[string]any)
	if !ok || obj["type"] != "object" {
		v.Add("invalid", `must be a JSON Schema of an object ({"type":"object","properties":{…}})`, path)
		return
	}
	if _, err := CompileToolSchema(schema); err != nil {
		v.Add("invalid", "is not a valid JSON Schema: "+err.Error(), path)
	}
}

// CompileToolSchema compiles a tool's parameters schema, for validating
// the model's arguments. Schemas may not load anything from elsewhere.
func CompileToolSchema(schema json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource("urn:hyponema:tool-parameters", doc); err != nil {
		return nil, err
	}
	return c.Compile("urn:hyponema:tool-parameters")
}

// noLoader refuses every $ref to a resource outside the schema.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("$ref to %s: schemas may not refer to other documents", url)
}

var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

func (h *HTTPToolConfig) validate(v *Validation) {
	if !slices.Contains(httpMethods, strings.ToUpper(h.Method)) && h.Method != "" {
		v.Add("invalid", "must be GET, POST, PUT, PATCH or DELETE", "http", "method")
	}
	validateTemplateURL(v, h.URL, "http", "url")
	if len(h.Headers) > MaxToolHeaders {
		v.Add("too_long", fmt.Sprintf("must have at most %d headers", MaxToolHeaders), "http", "headers")
	}
	if h.TimeoutMS < 0 || h.TimeoutMS > MaxToolTimeoutMS {
		v.Add("out_of_range", fmt.Sprintf("must be 1 to %d", MaxToolTimeoutMS), "http", "timeout_ms")
	}
	if h.MaxResponseBytes < 0 || h.MaxResponseBytes > 1<<20 {
		v.Add("out_of_range", "must be 1 to 1048576", "http", "max_response_bytes")
	}
	validateText(v, h.Body, MaxInstructionsLen, "http", "body")
}

func (m *MCPToolConfig) validate(v *Validation) {
	switch m.Transport {
	case "", MCPStreamableHTTP:
		validateTemplateURL(v, m.URL, "mcp", "url")
		if m.Server != "" {
			v.Add("invalid", "is only for the stdio transport", "mcp", "server")
		}
	case MCPStdio:
		if !mcpServerName.MatchString(m.Server) {
			v.Add("invalid", "must name a server that the operator configured (letters, digits, _ and -)", "mcp", "server")
		}
		if m.URL != "" {
			v.Add("invalid", "is only for the streamable_http transport", "mcp", "url")
		}
		if len(m.Headers) > 0 {
			v.Add("invalid", "are only for the streamable_http transport", "mcp", "headers")
		}
	default:
		v.Add("invalid", "must be streamable_http or stdio", "mcp", "transport")
	}
	if len(m.Headers) > MaxToolHeaders {
		v.Add("too_long", fmt.Sprintf("must have at most %d headers", MaxToolHeaders), "mcp", "headers")
	}
	for i, n := range m.ToolNames {
		if !toolNamePattern.MatchString(n) {
			v.Add("invalid", "must be a tool name", "mcp", "tool_names", fmt.Sprint(i))
		}
	}
}

// validateTemplateURL checks a URL that may hold {{placeholders}}: with
// them replaced, it must be an absolute http or https URL.
func validateTemplateURL(v *Validation, s string, path ...string) {
	if strings.TrimSpace(s) == "" {
		v.Add("missing", "is required", path...)
		return
	}
	if len(s) > MaxWebhookURLLen {
		v.Add("too_long", fmt.Sprintf("must be at most %d bytes", MaxWebhookURLLen), path...)
		return
	}
	plain := templatePattern.ReplaceAllString(s, "x")
	u, err := url.Parse(plain)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		v.Add("invalid", "must be an absolute http or https URL without a user name or password", path...)
	}
}

var templatePattern = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// ToolPatch changes some of a tool's fields; nil fields stay. The type
// cannot change.
type ToolPatch struct {
	Name        *string
	Description *string
	Parameters  *json.RawMessage
	HTTP        *HTTPToolConfig
	MCP         *MCPToolConfig
}

// Apply sets t's fields that p gives.
func (p *ToolPatch) Apply(t *Tool) {
	set(&t.Name, p.Name)
	set(&t.Description, p.Description)
	set(&t.Parameters, p.Parameters)
	if p.HTTP != nil {
		t.HTTP = p.HTTP
	}
	if p.MCP != nil {
		t.MCP = p.MCP
	}
}

// ToolService stores tools and which agents' drafts they are attached to.
type ToolService interface {
	// CreateTool stores t. Returns EINVALID, or ECONFLICT if the workspace
	// has a tool of that name.
	CreateTool(ctx context.Context, t *Tool) error
	// FindTool returns ENOTFOUND.
	FindTool(ctx context.Context, workspaceID, id string) (*Tool, error)
	ListTools(ctx context.Context, workspaceID string, opt PageOptions) (Page[*Tool], error)
	// UpdateTool applies p. Returns ENOTFOUND, EINVALID, ECONFLICT.
	UpdateTool(ctx context.Context, workspaceID, id string, p ToolPatch) (*Tool, error)
	// DeleteTool deletes the tool and detaches it from every draft;
	// versions keep the copy they captured. Returns ENOTFOUND.
	DeleteTool(ctx context.Context, workspaceID, id string) error

	// AttachTool attaches the tool to the agent's draft (a no-op if it is
	// attached). Returns ENOTFOUND for either, EINVALID past
	// MaxToolsPerAgent, ECONFLICT if another attached tool has its name.
	AttachTool(ctx context.Context, workspaceID, agentID, toolID string) error
	// DetachTool returns ENOTFOUND if it is not attached.
	DetachTool(ctx context.Context, workspaceID, agentID, toolID string) error
	// ListAgentTools lists the tools attached to the agent's draft, in the
	// order they were attached.
	ListAgentTools(ctx context.Context, workspaceID, agentID string) ([]*Tool, error)
}

// ToolCaller runs tools for the conversation engine.
type ToolCaller interface {
	// Functions returns the functions that t gives the model: itself for
	// an http tool; its server's tools (those its tool_names let through)
	// for an mcp tool.
	Functions(ctx context.Context, t *Tool) ([]ToolDefinition, error)
	// Call runs function name, one of Functions(t), with arguments that
	// the engine has validated. A tool's own failure is a ToolResult with
	// IsError; an error is for the caller's bugs and broken wiring.
	Call(ctx context.Context, workspaceID string, t *Tool, name string, args json.RawMessage) (ToolResult, error)
}

// ToolChecker checks a tool's configuration in the depth that only its
// runner knows (templates, header names, the egress guard), when it is
// saved. Returns EINVALID.
type ToolChecker interface {
	CheckTool(ctx context.Context, t *Tool) error
}
