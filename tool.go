package hyponema

import (
	"context"
	"encoding/json"
	"time"
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

// MCPToolConfig names an MCP server whose tools the agent may use.
type MCPToolConfig struct {
	URL       string            `json:"url" doc:"The server's streamable HTTP endpoint."`
	Transport string            `json:"transport" enum:"streamable_http" doc:"Only streamable_http for workspace tools; stdio servers are configured by the operator."`
	Headers   map[string]string `json:"headers" doc:"Header templates sent to the server; values may name workspace secrets."`
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
