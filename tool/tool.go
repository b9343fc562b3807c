// Package tool runs the tools that agents call: HTTP tools through
// tool/httptool, MCP tools through package mcp, both behind the egress
// guard. Runner implements hyponema.ToolCaller for the conversation engine
// and hyponema.ToolDiscoverer for POST /tools/{id}/discover.
package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/mcp"
	"github.com/hyponema/hyponema/tool/httptool"
)

// Runner runs HTTP and MCP tools.
type Runner struct {
	HTTP    *httptool.Runner
	MCP     *mcp.Pool
	Egress  egress.Policy // for MCP servers
	Secrets hyponema.SecretResolver
	// Stdio are the MCP servers that the operator runs on the host, by
	// name (HYPONEMA_MCP_SERVERS); tools of every workspace may name
	// them with the stdio transport.
	Stdio map[string]mcp.Command

	once   sync.Once
	client *http.Client

	mu    sync.Mutex
	stdio map[string]*mcp.Client // started on first use
}

// Close ends the MCP sessions and stops the stdio servers.
func (r *Runner) Close() error {
	var errs []error
	if r.MCP != nil {
		errs = append(errs, r.MCP.Close())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.stdio {
		errs = append(errs, c.Close())
	}
	r.stdio = nil
	return errors.Join(errs...)
}

// stdioClient returns the client of the operator's server name, starting
// it on first use.
func (r *Runner) stdioClient(name string) (*mcp.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.stdio[name]; c != nil {
		return c, nil
	}
	cmd, ok := r.Stdio[name]
	if !ok {
		return nil, hyponema.Errorf(hyponema.EINVALID, "no MCP server named %q is configured on this host", name)
	}
	c, err := mcp.NewCommand(cmd)
	if err != nil {
		return nil, mcpError(err)
	}
	if r.stdio == nil {
		r.stdio = map[string]*mcp.Client{}
	}
	r.stdio[name] = c
	return c, nil
}

var (
	_ hyponema.ToolCaller     = (*Runner)(nil)
	_ hyponema.ToolDiscoverer = (*Runner)(nil)
	_ hyponema.ToolChecker    = (*Runner)(nil)
)

var (
	anyPlaceholder = regexp.MustCompile(`\{\{[^{}]*\}\}`)
	headerName     = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// CheckTool implements hyponema.ToolChecker: the runner's own checks of
// the configuration, and the egress guard on the URL's host (a host that
// does not resolve yet is accepted; every call checks again).
func (r *Runner) CheckTool(ctx context.Context, t *hyponema.Tool) error {
	var u string
	var path []string
	switch t.Type {
	case hyponema.ToolHTTP:
		if err := httptool.ValidateConfig(t.HTTP, t.Parameters); err != nil {
			return err
		}
		u, path = t.HTTP.URL, []string{"http", "url"}
	case hyponema.ToolMCP:
		if t.MCP.Transport == hyponema.MCPStdio {
			if _, ok := r.Stdio[t.MCP.Server]; !ok {
				var v hyponema.Validation
				v.Add("invalid", fmt.Sprintf("no MCP server named %q is configured on this host", t.MCP.Server), "mcp", "server")
				return v.Err()
			}
			return nil
		}
		var v hyponema.Validation
		for k, val := range t.MCP.Headers {
			if !headerName.MatchString(k) {
				v.Add("invalid", "is not a valid header name", "mcp", "headers", k)
			}
			if strings.ContainsAny(val, "\r\n\x00") {
				v.Add("invalid", "must not contain line breaks", "mcp", "headers", k)
			}
			if rest := secretRef.ReplaceAllString(val, ""); strings.Contains(rest, "{{") {
				v.Add("invalid", "may only use {{secrets.NAME}} templates", "mcp", "headers", k)
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		u, path = t.MCP.URL, []string{"mcp", "url"}
	default:
		return nil
	}
	err := r.Egress.CheckURL(ctx, anyPlaceholder.ReplaceAllString(u, "x"))
	if err == nil || egress.ReasonOf(err) == egress.ReasonUnresolvable {
		return nil
	}
	var ge *egress.Error
	if errors.As(err, &ge) {
		var v hyponema.Validation
		v.Add(ge.Reason, ge.Msg, path...)
		return v.Err()
	}
	return err
}

// mcpHTTP is the guarded client that MCP sessions use.
func (r *Runner) mcpHTTP() *http.Client {
	r.once.Do(func() { r.client = r.Egress.Client() })
	return r.client
}

var secretRef = regexp.MustCompile(`\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)

// mcpClient returns the pooled client of t's server, its headers' secrets
// resolved.
func (r *Runner) mcpClient(ctx context.Context, t *hyponema.Tool) (*mcp.Client, error) {
	if t.MCP.Transport == hyponema.MCPStdio {
		return r.stdioClient(t.MCP.Server)
	}
	h := http.Header{}
	for k, v := range t.MCP.Headers {
		var missing string
		val := secretRef.ReplaceAllStringFunc(v, func(ref string) string {
			name := secretRef.FindStringSubmatch(ref)[1]
			if r.Secrets == nil {
				missing = name
				return ""
			}
			s, err := r.Secrets.ResolveSecret(ctx, t.WorkspaceID, name)
			if err != nil {
				missing = name
				return ""
			}
			return s
		})
		if missing != "" {
			return nil, hyponema.Errorf(hyponema.EINVALID, "the workspace secret %s is not set", missing)
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			return nil, hyponema.Errorf(hyponema.EINVALID, "header %s would hold a line break", k)
		}
		h.Set(k, val)
	}
	c, err := r.MCP.Client(mcp.Server{URL: t.MCP.URL, Header: h, HTTPClient: r.mcpHTTP()})
	if err != nil {
		return nil, mcpError(err)
	}
	return c, nil
}

// mcpError maps an MCP failure to the domain: the server could not be
// reached, or it answered wrongly. Its message is safe to show.
func mcpError(err error) error {
	var e *mcp.Error
	if !errors.As(err, &e) {
		return err
	}
	code := hyponema.EPROVIDER
	switch e.Kind {
	case mcp.KindUnreachable, mcp.KindClosed:
		code = hyponema.EUNAVAILABLE
	case mcp.KindTimeout:
		code = hyponema.ETIMEOUT
	case mcp.KindForbidden, mcp.KindInvalid:
		code = hyponema.EINVALID
	}
	return hyponema.Errorf(code, "MCP server: %s", e.Msg)
}

// Functions implements hyponema.ToolCaller.
func (r *Runner) Functions(ctx context.Context, t *hyponema.Tool) ([]hyponema.ToolDefinition, error) {
	switch t.Type {
	case hyponema.ToolHTTP:
		return []hyponema.ToolDefinition{{Name: t.Name, Description: t.Description, Parameters: t.Parameters}}, nil
	case hyponema.ToolMCP:
		return r.DiscoverTools(ctx, t)
	}
	return nil, fmt.Errorf("tool: unknown type %q", t.Type)
}

// DiscoverTools implements hyponema.ToolDiscoverer.
func (r *Runner) DiscoverTools(ctx context.Context, t *hyponema.Tool) ([]hyponema.ToolDefinition, error) {
	if t.Type != hyponema.ToolMCP || t.MCP == nil {
		return nil, hyponema.Errorf(hyponema.EINVALID, "only mcp tools have tools to discover")
	}
	c, err := r.mcpClient(ctx, t)
	if err != nil {
		return nil, err
	}
	tools, err := c.ListTools(ctx)
	if err != nil {
		return nil, mcpError(err)
	}
	defs := make([]hyponema.ToolDefinition, 0, len(tools))
	for _, mt := range tools {
		if len(t.MCP.ToolNames) > 0 && !slices.Contains(t.MCP.ToolNames, mt.Name) {
			continue
		}
		params := mt.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		defs = append(defs, hyponema.ToolDefinition{Name: mt.Name, Description: mt.Description, Parameters: params})
	}
	return defs, nil
}

// Call implements hyponema.ToolCaller. For an MCP tool, a server that
// cannot be reached or fails is the tool's failure (a ToolResult with
// IsError), worded for the model.
func (r *Runner) Call(ctx context.Context, workspaceID string, t *hyponema.Tool, name string, args json.RawMessage) (hyponema.ToolResult, error) {
	if t.WorkspaceID != workspaceID {
		return hyponema.ToolResult{}, fmt.Errorf("tool: %s is not workspace %s's", t.ID, workspaceID)
	}
	switch t.Type {
	case hyponema.ToolHTTP:
		return r.HTTP.Call(ctx, workspaceID, t, args)
	case hyponema.ToolMCP:
		if len(t.MCP.ToolNames) > 0 && !slices.Contains(t.MCP.ToolNames, name) {
			return hyponema.ToolResult{IsError: true, Content: fmt.Sprintf("%s is not one of this tool's functions", name)}, nil
		}
		c, err := r.mcpClient(ctx, t)
		if err != nil {
			return hyponema.ToolResult{IsError: true, Content: hyponema.ErrorMessage(err)}, nil
		}
		res, err := c.CallTool(ctx, name, args)
		if err != nil {
			if ctx.Err() != nil {
				return hyponema.ToolResult{}, ctx.Err()
			}
			msg := hyponema.ErrorMessage(mcpError(err))
			var e *mcp.Error
			if errors.As(err, &e) && e.MayHaveRun {
				msg += " (the call may or may not have run)"
			}
			return hyponema.ToolResult{IsError: true, Content: msg}, nil
		}
		return hyponema.ToolResult{Content: res.Text, IsError: res.IsError}, nil
	}
	return hyponema.ToolResult{}, fmt.Errorf("tool: unknown type %q", t.Type)
}
