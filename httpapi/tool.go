package httpapi

import (
	"context"
	"encoding/json"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hyponema/hyponema"
)

// ToolPath is {ws} and the {tool_id} of one of its tools.
type ToolPath struct {
	WorkspacePath
	ToolID string `path:"tool_id" doc:"Tool ID (tool_…)."`
}

// AgentToolPath is an agent's path and the {tool_id} of a tool attached
// to its draft.
type AgentToolPath struct {
	ObjectPath
	ToolID string `path:"tool_id" doc:"Tool ID (tool_…)."`
}

// toolSchema is a tool's parameters as the request spells them: any JSON
// object, kept as given (key order and all) for the domain to check as a
// JSON Schema. A map would reorder the keys.
type toolSchema json.RawMessage

// UnmarshalJSON implements json.Unmarshaler; null leaves p as it is.
func (p *toolSchema) UnmarshalJSON(b []byte) error {
	if string(b) != "null" {
		*p = append((*p)[:0], b...)
	}
	return nil
}

// Schema implements huma.SchemaProvider: an object, whatever its
// properties.
func (toolSchema) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeObject, AdditionalProperties: true}
}

func (p *toolSchema) raw() *json.RawMessage {
	if p == nil || len(*p) == 0 {
		return nil
	}
	r := json.RawMessage(*p)
	return &r
}

// httpToolBody is hyponema.HTTPToolConfig as requests spell it: only url
// is required. Its fields are the domain's, in the same order, so that one
// converts to the other.
type httpToolBody struct {
	Method           string            `json:"method,omitempty" doc:"GET, POST, PUT, PATCH or DELETE, in any case; default POST."`
	URL              string            `json:"url" maxLength:"2048" doc:"URL template, e.g. https://api.example.com/orders/{{order_id}}; on GET and DELETE the arguments not used in it go to the query string. It must reach a public address when the tool runs."`
	Headers          map[string]string `json:"headers,omitempty" maxProperties:"20" doc:"Header templates; values may name workspace secrets: \"Bearer {{secrets.CRM_TOKEN}}\", resolved when the tool runs and never shown."`
	Body             string            `json:"body,omitempty" maxLength:"100000" doc:"JSON body template; empty sends the arguments as the body (POST, PUT, PATCH)."`
	TimeoutMS        int               `json:"timeout_ms,omitempty" minimum:"0" maximum:"60000" doc:"Default 10000, at most 60000."`
	MaxResponseBytes int               `json:"max_response_bytes,omitempty" minimum:"0" maximum:"1048576" doc:"Default 65536, at most 1048576; a larger answer fails the call."`
	ResponseFields   []string          `json:"response_fields,omitempty" doc:"Dotted paths of the JSON answer to give the model (e.g. \"order.status\"); empty gives the whole answer."`
}

func (b *httpToolBody) config() *hyponema.HTTPToolConfig {
	if b == nil {
		return nil
	}
	c := hyponema.HTTPToolConfig(*b)
	return &c
}

// mcpToolBody is hyponema.MCPToolConfig as requests spell it: only url is
// required.
type mcpToolBody struct {
	URL       string            `json:"url,omitempty" maxLength:"2048" doc:"For streamable_http: the server's endpoint. It must reach a public address (or one in HYPONEMA_EGRESS_ALLOW)."`
	Transport string            `json:"transport,omitempty" enum:"streamable_http,stdio" doc:"streamable_http (the default), or stdio for a server that the operator runs on the host and named in HYPONEMA_MCP_SERVERS."`
	Server    string            `json:"server,omitempty" maxLength:"64" doc:"For stdio: the server's name in HYPONEMA_MCP_SERVERS."`
	Headers   map[string]string `json:"headers,omitempty" maxProperties:"20" doc:"For streamable_http: header templates sent to the server; values may name workspace secrets."`
	ToolNames []string          `json:"tool_names,omitempty" doc:"Only these of the server's tools; empty means all."`
}

func (b *mcpToolBody) config() *hyponema.MCPToolConfig {
	if b == nil {
		return nil
	}
	c := hyponema.MCPToolConfig(*b)
	return &c
}

type toolCreateInput struct {
	WorkspacePath
	Body struct {
		Name        string        `json:"name" maxLength:"64" doc:"The function name the model sees: 1 to 64 letters, digits, _ and -, unique in the workspace."`
		Description string        `json:"description,omitempty" maxLength:"2000" doc:"What the tool does and when to use it, for the model."`
		Type        string        `json:"type" enum:"http,mcp" doc:"http calls an HTTP API; mcp offers the tools of an MCP server. It cannot change later."`
		Parameters  toolSchema    `json:"parameters,omitempty" doc:"JSON Schema of the arguments: an object schema ({\"type\":\"object\",\"properties\":{…}}) that refers to no other document. Arguments are validated against it before any call. Default: no arguments."`
		HTTP        *httpToolBody `json:"http,omitempty" doc:"Required for type http, refused for mcp."`
		MCP         *mcpToolBody  `json:"mcp,omitempty" doc:"Required for type mcp, refused for http."`
	}
}

func (s *Server) createTool(ctx context.Context, in *toolCreateInput) (*body[*hyponema.Tool], error) {
	t := &hyponema.Tool{
		WorkspaceID: in.WS,
		Name:        in.Body.Name,
		Description: in.Body.Description,
		Type:        in.Body.Type,
		HTTP:        in.Body.HTTP.config(),
		MCP:         in.Body.MCP.config(),
	}
	if p := in.Body.Parameters.raw(); p != nil {
		t.Parameters = *p
	}
	if err := s.checkTool(ctx, t); err != nil {
		return nil, err
	}
	if err := s.Tools.CreateTool(ctx, t); err != nil {
		return nil, err
	}
	return reply(t, nil)
}

type toolListInput struct {
	WorkspacePath
	ListParams
}

func (s *Server) listTools(ctx context.Context, in *toolListInput) (*body[hyponema.Page[*hyponema.Tool]], error) {
	return reply(s.Tools.ListTools(ctx, in.WS, in.options()))
}

func (s *Server) getTool(ctx context.Context, in *ToolPath) (*body[*hyponema.Tool], error) {
	return reply(s.Tools.FindTool(ctx, in.WS, in.ToolID))
}

// toolPatchBody is hyponema.ToolPatch as the API spells it, with the type
// that a client may send back unchanged.
type toolPatchBody struct {
	Name        *string       `json:"name,omitempty" maxLength:"64" doc:"A new function name, unique in the workspace."`
	Description *string       `json:"description,omitempty" maxLength:"2000"`
	Type        string        `json:"type,omitempty" enum:"http,mcp" doc:"A tool's type cannot change: if given, it must be the tool's own."`
	Parameters  *toolSchema   `json:"parameters,omitempty" doc:"Replaces the whole schema."`
	HTTP        *httpToolBody `json:"http,omitempty" doc:"Replaces the whole http configuration (defaults fill what it leaves out); http tools only."`
	MCP         *mcpToolBody  `json:"mcp,omitempty" doc:"Replaces the whole mcp configuration (defaults fill what it leaves out); mcp tools only."`
}

type toolUpdateInput struct {
	ToolPath
	Body toolPatchBody
}

func (s *Server) updateTool(ctx context.Context, in *toolUpdateInput) (*body[*hyponema.Tool], error) {
	if in.Body.Type != "" {
		t, err := s.Tools.FindTool(ctx, in.WS, in.ToolID)
		if err != nil {
			return nil, err
		}
		if t.Type != in.Body.Type {
			var v hyponema.Validation
			v.Add("invalid", "cannot change: this is an "+t.Type+" tool; create a new tool instead", "type")
			return nil, v.Err()
		}
	}
	p := hyponema.ToolPatch{
		Name:        in.Body.Name,
		Description: in.Body.Description,
		Parameters:  in.Body.Parameters.raw(),
		HTTP:        in.Body.HTTP.config(),
		MCP:         in.Body.MCP.config(),
	}
	if s.ToolChecker != nil && (p.Parameters != nil || p.HTTP != nil || p.MCP != nil) {
		// The runner checks the tool as the patch would leave it.
		t, err := s.Tools.FindTool(ctx, in.WS, in.ToolID)
		if err != nil {
			return nil, err
		}
		p.Apply(t)
		if err := s.checkTool(ctx, t); err != nil {
			return nil, err
		}
	}
	return reply(s.Tools.UpdateTool(ctx, in.WS, in.ToolID, p))
}

// checkTool validates t as the store will, then lets the runner check it
// in depth (templates, headers, the egress guard) if one is wired.
func (s *Server) checkTool(ctx context.Context, t *hyponema.Tool) error {
	if s.ToolChecker == nil {
		return nil
	}
	c := *t
	if t.HTTP != nil {
		h := *t.HTTP
		c.HTTP = &h
	}
	if t.MCP != nil {
		m := *t.MCP
		c.MCP = &m
	}
	c.Normalize()
	if err := c.Validate(); err != nil {
		return err
	}
	return s.ToolChecker.CheckTool(ctx, &c)
}

func (s *Server) deleteTool(ctx context.Context, in *ToolPath) (*empty, error) {
	return &empty{}, s.Tools.DeleteTool(ctx, in.WS, in.ToolID)
}

// toolActionInput is a tool's path with an empty body, {} or none.
type toolActionInput struct {
	ToolPath
	Body *struct{} `required:"false"`
}

// discoveredTool is one tool that an MCP server offers, as the model
// would see it.
type discoveredTool struct {
	Name        string          `json:"name" doc:"The tool's name on the server."`
	Description string          `json:"description" doc:"What the server says the tool does."`
	Parameters  json.RawMessage `json:"parameters" doc:"JSON Schema of its arguments."`
}

// discoverTools asks an MCP tool's server what it offers. The tool is
// looked up first, so that an unknown tool is 404 and an http tool 422
// even on a server that cannot discover (503).
func (s *Server) discoverTools(ctx context.Context, in *toolActionInput) (*body[hyponema.Page[discoveredTool]], error) {
	t, err := s.Tools.FindTool(ctx, in.WS, in.ToolID)
	if err != nil {
		return nil, err
	}
	if t.Type != hyponema.ToolMCP {
		return nil, &hyponema.Error{Code: hyponema.EINVALID, Message: "tool_id: is an " + t.Type + " tool; only mcp tools have tools to discover",
			Fields: []hyponema.FieldError{{Loc: []string{"path", "tool_id"}, Msg: "is an " + t.Type + " tool; only mcp tools have tools to discover", Type: "invalid"}}}
	}
	if s.ToolDiscoverer == nil {
		return nil, hyponema.Errorf(hyponema.EUNAVAILABLE, "This server does not discover MCP tools.")
	}
	defs, err := s.ToolDiscoverer.DiscoverTools(ctx, t)
	if err != nil {
		return nil, err
	}
	out := make([]discoveredTool, len(defs))
	for i, d := range defs {
		out[i] = discoveredTool{Name: d.Name, Description: d.Description, Parameters: d.Parameters}
		if len(d.Parameters) == 0 {
			out[i].Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
		}
	}
	return reply(hyponema.Page[discoveredTool]{Data: out}, nil)
}

// agentTools answers an agent's attached tools in the list shape; they
// are few (hyponema.MaxToolsPerAgent), so never more than one page.
func (s *Server) agentTools(ctx context.Context, workspaceID, agentID string) (*body[hyponema.Page[*hyponema.Tool]], error) {
	tools, err := s.Tools.ListAgentTools(ctx, workspaceID, agentID)
	if err != nil {
		return nil, err
	}
	return reply(hyponema.Page[*hyponema.Tool]{Data: tools}, nil)
}

func (s *Server) listAgentTools(ctx context.Context, in *ObjectPath) (*body[hyponema.Page[*hyponema.Tool]], error) {
	return s.agentTools(ctx, in.WS, in.ID)
}

type agentToolAttachInput struct {
	ObjectPath
	Body struct {
		ToolID string `json:"tool_id" doc:"The tool (tool_…) to attach to the agent's draft."`
	}
}

// attachTool attaches a tool to an agent's draft. The agent is looked up
// first (404); a tool_id that names no tool of the workspace is a bad
// field (422), as persona_id is when an agent names a missing persona.
func (s *Server) attachTool(ctx context.Context, in *agentToolAttachInput) (*body[hyponema.Page[*hyponema.Tool]], error) {
	if _, err := s.Agents.FindAgent(ctx, in.WS, in.ID); err != nil {
		return nil, err
	}
	if _, err := s.Tools.FindTool(ctx, in.WS, in.Body.ToolID); hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return nil, &hyponema.Error{Code: hyponema.EINVALID, Message: "tool_id: no such tool",
			Fields: []hyponema.FieldError{{Loc: []string{"body", "tool_id"}, Msg: "no such tool", Type: "invalid"}}}
	} else if err != nil {
		return nil, err
	}
	if err := s.Tools.AttachTool(ctx, in.WS, in.ID, in.Body.ToolID); err != nil {
		return nil, err
	}
	return s.agentTools(ctx, in.WS, in.ID)
}

// detachTool looks the agent up first, so that a deleted or unknown agent
// is "agent not found" rather than "not attached".
func (s *Server) detachTool(ctx context.Context, in *AgentToolPath) (*empty, error) {
	if _, err := s.Agents.FindAgent(ctx, in.WS, in.ID); err != nil {
		return nil, err
	}
	return &empty{}, s.Tools.DetachTool(ctx, in.WS, in.ID, in.ToolID)
}
