package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// maxToolPages bounds how many pages of tools/list a server may send.
const maxToolPages = 100

// ListTools returns the server's tools, from the cache while it is younger
// than ToolsTTL. Concurrent callers share one request to the server. The
// slice is the caller's; the tools' schemas are shared and must not be
// modified. A list is safe to ask for twice, so it is retried once after a
// reconnect whatever broke, unless the server itself answered with an
// error. Errors are *Error values.
func (c *Client) ListTools(ctx context.Context) ([]Tool, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	return c.listTools(ctx, false)
}

// Refresh asks the server for its tools whatever the cache holds, and
// caches the answer. Callers that ask while a refresh is already under way
// wait for the next one, which starts after they asked.
func (c *Client) Refresh(ctx context.Context) ([]Tool, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	return c.listTools(ctx, true)
}

func (c *Client) listTools(ctx context.Context, force bool) ([]Tool, error) {
	c.mu.Lock()
	if !force && c.freshLocked() {
		tools := append([]Tool(nil), c.tools...)
		c.mu.Unlock()
		return tools, nil
	}
	asked := c.listStarts
	c.mu.Unlock()

	select {
	case c.listSem <- struct{}{}:
	case <-ctx.Done():
		return nil, c.classify(ctx, opList, nil, ctx.Err())
	}
	defer func() { <-c.listSem }()

	c.mu.Lock()
	// While we waited, another caller may have fetched a list that will do:
	// a fresh one, or for a refresh, one whose fetch began after we asked.
	if c.hasList && (c.listDone > asked || !force && c.freshLocked()) {
		tools := append([]Tool(nil), c.tools...)
		c.mu.Unlock()
		return tools, nil
	}
	c.listStarts++
	start := c.listStarts
	c.mu.Unlock()

	tools, err := c.fetchTools(ctx)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(tools))
	for _, t := range tools {
		names[t.Name] = true
	}
	c.mu.Lock()
	c.tools, c.names, c.hasList = tools, names, true
	c.fetchedAt, c.stale, c.listDone = c.now(), false, start
	c.mu.Unlock()
	return append([]Tool(nil), tools...), nil
}

func (c *Client) freshLocked() bool {
	return c.hasList && !c.stale && c.ttl >= 0 && c.now().Sub(c.fetchedAt) < c.ttl
}

// fetchTools asks the server for all its tools, reconnecting and asking
// again once if the session broke.
func (c *Client) fetchTools(ctx context.Context) ([]Tool, error) {
	for retried := false; ; retried = true {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		a := new(attempt)
		tools, err := listPages(withAttempt(ctx, a), s.cs)
		if err == nil {
			return tools, nil
		}
		if _, ours := err.(*Error); !retried && !ours && c.mayRetry(ctx, err) {
			c.reconnect(s)
			continue
		}
		return nil, c.classify(ctx, opList, a, err)
	}
}

func listPages(ctx context.Context, cs *sdk.ClientSession) ([]Tool, error) {
	var tools []Tool
	params := &sdk.ListToolsParams{}
	for range maxToolPages {
		res, err := cs.ListTools(ctx, params)
		if err != nil {
			return nil, err
		}
		for _, t := range res.Tools {
			if t == nil {
				continue
			}
			schema, err := json.Marshal(t.InputSchema)
			if err != nil || t.InputSchema == nil {
				schema = json.RawMessage(`{"type":"object"}`)
			}
			tools = append(tools, Tool{Name: t.Name, Title: t.Title, Description: t.Description, InputSchema: schema})
		}
		if res.NextCursor == "" {
			return tools, nil
		}
		params = &sdk.ListToolsParams{Cursor: res.NextCursor}
	}
	return nil, &Error{Kind: KindProtocol, Msg: fmt.Sprintf("the MCP server's tool list runs to more than %d pages", maxToolPages)}
}

// CallTool calls the named tool with args, a JSON object (nil or empty for
// none), and returns its result: a tool that failed is a Result with
// IsError, not an error.
//
// A name missing from the cached tool list is checked against a fresh one
// before the call, and is KindToolNotFound if it is not there either (so a
// CallTool before any ListTools lists the tools first).
//
// If the session turns out to be dead and the call had not reached the
// server (it could not connect, or the server did not know the session),
// CallTool connects a new session and calls once more. If the call had
// reached the server and the connection broke, it returns KindInterrupted
// with MayHaveRun set and does not retry. Errors are *Error values.
func (c *Client) CallTool(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	args, err := objectArgs(args)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	if err := c.checkTool(ctx, name); err != nil {
		return Result{}, err
	}
	for retried := false; ; retried = true {
		s, err := c.session(ctx)
		if err != nil {
			return Result{}, err
		}
		a := new(attempt)
		res, err := s.cs.CallTool(withAttempt(ctx, a), &sdk.CallToolParams{Name: name, Arguments: args})
		if err == nil {
			return Result{Text: text(res), IsError: res.IsError}, nil
		}
		if reached, _, _ := a.snapshot(); !retried && !reached && c.mayRetry(ctx, err) {
			c.reconnect(s)
			continue
		}
		return Result{}, c.classify(ctx, opCall, a, err)
	}
}

// mayRetry reports whether a failure is the session's rather than the
// caller's or the server's answer: worth a reconnect and a second try.
func (c *Client) mayRetry(ctx context.Context, err error) bool {
	return ctx.Err() == nil && !c.isClosed() && serverError(err) == nil && !refused(err)
}

// checkTool returns a KindToolNotFound error if the server does not list
// name, refreshing the list once if the cached one lacks it.
func (c *Client) checkTool(ctx context.Context, name string) error {
	c.mu.Lock()
	known, hasList := c.names[name], c.hasList
	c.mu.Unlock()
	if known {
		return nil
	}
	if _, err := c.listTools(ctx, hasList); err != nil {
		return err
	}
	c.mu.Lock()
	known = c.names[name]
	c.mu.Unlock()
	if !known {
		return &Error{Kind: KindToolNotFound, Msg: fmt.Sprintf("the MCP server has no tool named %q", truncate(name, 100))}
	}
	return nil
}

// objectArgs checks that args is a JSON object, and makes nil or empty {}.
func objectArgs(args json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 {
		return json.RawMessage(`{}`), nil
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return nil, &Error{Kind: KindInvalid, Msg: "the tool's arguments must be a JSON object"}
	}
	return trimmed, nil
}

// text renders a result's content as text for a model to read.
func text(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *sdk.TextContent:
			parts = append(parts, c.Text)
		case *sdk.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %s]", orUnknown(c.MIMEType), size(len(c.Data))))
		case *sdk.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %s]", orUnknown(c.MIMEType), size(len(c.Data))))
		case *sdk.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource link %s%s]", c.URI, describe(c.Name, c.MIMEType)))
		case *sdk.EmbeddedResource:
			r := c.Resource
			switch {
			case r == nil:
				parts = append(parts, "[empty resource]")
			case r.Blob != nil:
				parts = append(parts, fmt.Sprintf("[resource %s%s, %s]", r.URI, describe("", r.MIMEType), size(len(r.Blob))))
			default:
				parts = append(parts, fmt.Sprintf("[resource %s%s]\n%s", r.URI, describe("", r.MIMEType), r.Text))
			}
		default:
			parts = append(parts, fmt.Sprintf("[%s content]", contentType(c)))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			return string(b)
		}
	}
	return strings.Join(parts, "\n")
}

func describe(name, mime string) string {
	var ds []string
	if name != "" {
		ds = append(ds, fmt.Sprintf("%q", name))
	}
	if mime != "" {
		ds = append(ds, mime)
	}
	if len(ds) == 0 {
		return ""
	}
	return " (" + strings.Join(ds, ", ") + ")"
}

func orUnknown(mime string) string {
	if mime == "" {
		return "of unknown type"
	}
	return mime
}

func size(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// contentType reads the "type" that a content value marshals with.
func contentType(c sdk.Content) string {
	var v struct {
		Type string `json:"type"`
	}
	if b, err := c.MarshalJSON(); err == nil && json.Unmarshal(b, &v) == nil && v.Type != "" {
		return v.Type
	}
	return "unknown"
}
