package conversation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/hyponema/hyponema"
)

// maxToolOutput bounds what one tool call gives the model back.
const maxToolOutput = 16 << 10

// function is one function that the model may call in a turn.
type function struct {
	def     hyponema.ToolDefinition
	tool    *hyponema.Tool // the tool that gives it; nil for a built-in
	builtin string
	schema  *jsonschema.Schema
}

// toolset is what a turn offers the model.
type toolset struct {
	defs []hyponema.ToolDefinition
	fns  map[string]*function
}

// Built-in tools' definitions, as the model sees them.
var builtinDefs = map[string]hyponema.ToolDefinition{
	hyponema.BuiltinEndSession: {
		Name:        hyponema.BuiltinEndSession,
		Description: "End the conversation once the user's needs are met or they say goodbye. Say a short, polite goodbye in your reply; the session closes after it.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"reason":{"type":"string","description":"Why the conversation ends, in a few words."}}}`),
	},
	hyponema.BuiltinTransfer: {
		Name:        hyponema.BuiltinTransfer,
		Description: "Hand the conversation over to another agent that is better placed to help. The other agent sees the whole conversation and answers the user's next message.",
		Parameters:  json.RawMessage(`{"type":"object","properties":{"agent_id":{"type":"string","description":"The agent to transfer to."},"reason":{"type":"string"}},"required":["agent_id"]}`),
	},
}

// compiled returns the compiled schema of params, from the engine's cache.
func (e *Engine) compiled(params json.RawMessage) (*jsonschema.Schema, error) {
	key := sha256.Sum256(params)
	if s, ok := e.schemas.Load(key); ok {
		return s.(*jsonschema.Schema), nil
	}
	s, err := hyponema.CompileToolSchema(params)
	if err != nil {
		return nil, err
	}
	e.schemas.Store(key, s)
	return s, nil
}

// toolset gathers the functions of the version's tools and built-ins. A
// tool that cannot be offered (its MCP server is down) is left out of this
// turn, logged, and reported as tool.failed; the turn goes on without it.
func (t *turn) toolset(ctx context.Context) *toolset {
	e := t.e
	v := t.pinned.version
	ts := &toolset{fns: map[string]*function{}}
	add := func(f *function) {
		if _, dup := ts.fns[f.def.Name]; dup {
			e.Logger.WarnContext(ctx, "two tools give the same function; the first is kept",
				"session_id", t.session.ID, "function", f.def.Name)
			return
		}
		ts.fns[f.def.Name] = f
		ts.defs = append(ts.defs, f.def)
	}
	for _, b := range v.Config.BuiltinTools {
		def := builtinDefs[b]
		s, err := e.compiled(def.Parameters)
		if err != nil {
			panic(fmt.Sprintf("conversation: built-in %s schema: %v", b, err))
		}
		add(&function{def: def, builtin: b, schema: s})
	}
	if len(v.Tools) > 0 && e.Tools == nil {
		e.Logger.WarnContext(ctx, "the agent version has tools but this server runs none", "session_id", t.session.ID)
		return ts
	}
	for i := range v.Tools {
		tool := &v.Tools[i]
		defs, err := e.Tools.Functions(ctx, tool)
		if err != nil {
			e.Logger.WarnContext(ctx, "tool unavailable for this turn", "session_id", t.session.ID, "tool_id", tool.ID, "error", err)
			t.toolFailed(ctx, tool, tool.Name, "", "the tool is unavailable: "+hyponema.ErrorMessage(err))
			continue
		}
		for _, d := range defs {
			s, err := e.compiled(d.Parameters)
			if err != nil {
				e.Logger.WarnContext(ctx, "tool schema does not compile; left out", "tool_id", tool.ID, "function", d.Name, "error", err)
				continue
			}
			add(&function{def: d, tool: tool, schema: s})
		}
	}
	return ts
}

// callEvent and resultEvent are the data of tool.call and tool.result
// (api.md, Streaming).
type callEvent struct {
	CallID    string          `json:"call_id"`
	Tool      string          `json:"tool"`
	Arguments json.RawMessage `json:"arguments"`
}

type resultEvent struct {
	CallID     string `json:"call_id"`
	Tool       string `json:"tool"`
	OK         bool   `json:"ok"`
	Output     string `json:"output,omitempty"`
	Error      string `json:"error,omitempty"`
	DurationMS int    `json:"duration_ms"`
}

// runTools runs one round's calls, concurrently, within the turn's tool
// time, and returns the tool messages for the model in the calls' order.
// tool.call events go out before any call starts; each tool.result as its
// call ends.
func (t *turn) runTools(ctx context.Context, ts *toolset, calls []hyponema.ToolCall) []hyponema.ChatMessage {
	e := t.e
	args := make([]json.RawMessage, len(calls))
	t.mu.Lock()
	for i, c := range calls {
		args[i] = normalizeArgs(c.Arguments)
		t.reply.ToolCalls = append(t.reply.ToolCalls, c)
		ev := t.event(hyponema.EventToolCall, callEvent{CallID: c.ID, Tool: c.Name, Arguments: args[i]})
		t.pending = append(t.pending, ev)
		e.Bus.Publish(ev)
	}
	t.mu.Unlock()

	remaining := time.Duration(t.pinned.version.Config.ToolTimeoutSeconds)*time.Second - t.toolTime
	tctx, cancel := context.WithTimeout(ctx, max(remaining, 0))
	defer cancel()
	started := time.Now()
	out := make([]hyponema.ChatMessage, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			begin := time.Now()
			res := t.call(tctx, ts, c, args[i])
			if res.IsError && tctx.Err() != nil && ctx.Err() == nil {
				res.Content = fmt.Sprintf("the tool took too long: this reply's tools may take %d s in all", t.pinned.version.Config.ToolTimeoutSeconds)
			}
			content := clip(res.Content)
			out[i] = hyponema.ChatMessage{Role: hyponema.RoleTool, ToolCallID: c.ID, Text: content}
			r := resultEvent{CallID: c.ID, Tool: c.Name, OK: !res.IsError, DurationMS: int(time.Since(begin).Milliseconds())}
			if res.IsError {
				r.Error = content
				out[i].Text = "Error: " + content
			} else {
				r.Output = content
			}
			t.mu.Lock()
			ev := t.event(hyponema.EventToolResult, r)
			t.pending = append(t.pending, ev)
			e.Bus.Publish(ev)
			t.mu.Unlock()
		})
	}
	wg.Wait()
	t.toolTime += time.Since(started)
	return out
}

// call runs one call: the arguments checked against the function's schema
// first, then the built-in or the tool. A failure of the tool itself is
// reported as tool.failed; bad arguments are the model's to fix.
func (t *turn) call(ctx context.Context, ts *toolset, c hyponema.ToolCall, args json.RawMessage) hyponema.ToolResult {
	f := ts.fns[c.Name]
	if f == nil {
		return hyponema.ToolResult{IsError: true, Content: fmt.Sprintf("there is no tool named %q", c.Name)}
	}
	if msg := validateArgs(f.schema, args); msg != "" {
		return hyponema.ToolResult{IsError: true, Content: "invalid arguments, the tool was not called: " + msg}
	}
	if f.builtin != "" {
		return t.builtin(ctx, f.builtin, args)
	}
	res, err := t.e.Tools.Call(ctx, t.session.WorkspaceID, f.tool, c.Name, args)
	if err != nil {
		t.e.Logger.ErrorContext(ctx, "tool call", "session_id", t.session.ID, "tool_id", f.tool.ID, "error", err)
		res = hyponema.ToolResult{IsError: true, Content: "the tool failed: " + hyponema.ErrorMessage(err)}
	}
	if res.IsError {
		t.toolFailed(ctx, f.tool, c.Name, c.ID, res.Content)
	}
	return res
}

// validateArgs checks args against schema and words what is wrong, or
// returns "".
func validateArgs(schema *jsonschema.Schema, args json.RawMessage) string {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return "the arguments are not a JSON object"
	}
	if err := schema.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return "the arguments do not match the tool's schema"
		}
		// Each failed keyword at its place in the arguments, without the
		// schema's own location (a file name of the server's).
		var msgs []string
		for _, u := range ve.BasicOutput().Errors {
			if u.Error == nil {
				continue
			}
			loc := u.InstanceLocation
			if loc == "" {
				loc = "/"
			}
			msgs = append(msgs, "at "+loc+": "+u.Error.String())
		}
		if len(msgs) == 0 {
			return "the arguments do not match the tool's schema"
		}
		return clip(strings.Join(msgs, "; "))
	}
	return ""
}

// normalizeArgs makes a call's arguments a JSON object: models send ""
// for a call without arguments, and sometimes text that is not JSON,
// which is kept as a string so that validation can say so.
func normalizeArgs(s string) json.RawMessage {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage(`{}`)
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// clip bounds a tool's output for the model and the event log.
func clip(s string) string {
	if len(s) <= maxToolOutput {
		return s
	}
	s = s[:maxToolOutput]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "\n[cut: the output was longer]"
}

// toolFailed records a tool.failed event for the workspace's webhooks.
func (t *turn) toolFailed(ctx context.Context, tool *hyponema.Tool, function, callID, reason string) {
	e := t.e
	if e.WorkspaceEvents == nil {
		return
	}
	ev, err := hyponema.NewEvent(t.session.WorkspaceID, hyponema.EventToolFailed, map[string]any{
		"session_id": t.session.ID, "agent_id": t.session.AgentID, "tool_id": tool.ID, "tool": tool.Name,
		"function": function, "call_id": callID, "message_id": t.reply.ID, "error": reason,
	})
	if err == nil {
		err = e.WorkspaceEvents.RecordEvents(context.WithoutCancel(ctx), []*hyponema.Event{ev})
	}
	if err != nil {
		e.Logger.WarnContext(ctx, "recording tool.failed", "session_id", t.session.ID, "error", err)
	}
}

// builtin runs a built-in tool.
func (t *turn) builtin(ctx context.Context, name string, args json.RawMessage) hyponema.ToolResult {
	var a struct {
		Reason  string `json:"reason"`
		AgentID string `json:"agent_id"`
	}
	_ = json.Unmarshal(args, &a)
	switch name {
	case hyponema.BuiltinEndSession:
		t.endAfter.Store(true)
		return hyponema.ToolResult{Content: "The session will end after this reply. Say goodbye briefly; do not ask anything more."}
	case hyponema.BuiltinTransfer:
		return t.transfer(ctx, a.AgentID)
	}
	return hyponema.ToolResult{IsError: true, Content: "unknown built-in"}
}

// transfer hands the session to another agent's published version; it
// answers from the next message on, seeing the whole transcript.
func (t *turn) transfer(ctx context.Context, agentID string) hyponema.ToolResult {
	e := t.e
	allowed := false
	for _, id := range t.pinned.version.Config.TransferAgentIDs {
		allowed = allowed || id == agentID
	}
	if !allowed || agentID == t.session.AgentID {
		ids := strings.Join(t.pinned.version.Config.TransferAgentIDs, ", ")
		return hyponema.ToolResult{IsError: true, Content: fmt.Sprintf("cannot transfer to %q; the agents you may transfer to are: %s", agentID, ids)}
	}
	a, err := e.Agents.FindAgent(ctx, t.session.WorkspaceID, agentID)
	if err != nil || a.PublishedVersionID == "" {
		return hyponema.ToolResult{IsError: true, Content: fmt.Sprintf("agent %s is not available (not found or not published)", agentID)}
	}
	if _, err := e.Sessions.TransferSession(ctx, t.session.WorkspaceID, t.session.ID, a.ID, a.PublishedVersionID); err != nil {
		return hyponema.ToolResult{IsError: true, Content: "the transfer failed: " + hyponema.ErrorMessage(err)}
	}
	return hyponema.ToolResult{Content: fmt.Sprintf("Transferred to %s, who will answer the user's next message. Tell the user briefly.", a.Name)}
}
