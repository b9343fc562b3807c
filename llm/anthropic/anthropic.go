// Package anthropic is Hyponema's provider for Anthropic's Messages API,
// over the official anthropic-sdk-go (v2) SDK, streaming.
//
// The SDK's own retries are off: llm.WithRetry retries, and only before the
// first chunk. Its credential chain (ANTHROPIC_* variables, profile files)
// is off too: everything comes from Config, which cmd/hyponema fills from
// HYPONEMA_ANTHROPIC_API_KEY and HYPONEMA_ANTHROPIC_BASE_URL.
//
// Version 2 of the SDK speaks the 2026-10-21 API, which has no temperature
// parameter: ChatRequest.Temperature is not sent.
package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/internal/upstream"
)

// name is the provider's name in errors and in agents' model names.
const name = "anthropic"

// DefaultBaseURL is Anthropic's own API (without /v1).
const DefaultBaseURL = "https://api.anthropic.com"

// Config configures a Provider.
type Config struct {
	// APIKey is the Anthropic API key, sent as the SDK sends it.
	APIKey string
	// BaseURL is the API root, without /v1 (default DefaultBaseURL).
	BaseURL string
	// HTTPClient makes the requests (default: a client of the provider's
	// own, with no overall timeout: contexts bound replies).
	HTTPClient *http.Client
}

// Provider streams Messages replies. It is safe for concurrent use.
type Provider struct {
	client anthropic.Client
	key    upstream.Redactor
}

var _ hyponema.LLM = (*Provider)(nil)

// New returns a provider for the API at c.BaseURL.
func New(c Config) *Provider {
	base := c.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	opts := []option.RequestOption{
		// Without it NewClient would read ANTHROPIC_* variables and
		// profile files: no setting comes from anywhere but Config.
		option.WithoutEnvironmentDefaults(),
		option.WithBaseURL(base),
		option.WithHTTPClient(upstream.HTTPClient(c.HTTPClient)),
		option.WithMaxRetries(0),
	}
	if c.APIKey != "" {
		opts = append(opts, option.WithAPIKey(c.APIKey))
	}
	return &Provider{client: anthropic.NewClient(opts...), key: upstream.Redactor(c.APIKey)}
}

// StreamChat implements hyponema.LLM. It returns once the API has answered
// with a status: a stream for 200, a *hyponema.ProviderError otherwise.
func (p *Provider) StreamChat(ctx context.Context, req *hyponema.ChatRequest) (hyponema.ChatStream, error) {
	params, err := params(req)
	if err != nil {
		return nil, upstream.Invalid(name, err)
	}
	var res *http.Response
	s := p.client.Messages.NewStreaming(ctx, params, option.WithResponseInto(&res))
	if err := s.Err(); err != nil {
		s.Close()
		if res != nil && res.StatusCode >= 400 {
			// The SDK has read the body and left a copy of it in res.
			return nil, upstream.StatusError(name, p.key, res, upstream.ReadBody(res))
		}
		return nil, upstream.TransportError(ctx, name, p.key, err, false)
	}
	return &stream{p: p, ctx: ctx, s: s, status: res.StatusCode}, nil
}

// DefaultMaxTokens bounds a reply when the request does not: the Messages
// API requires a bound.
const DefaultMaxTokens = hyponema.DefaultMaxOutputTokens

// params translates a request to the SDK's. Tool results become
// tool_result blocks of a user message, and consecutive messages of one
// role are merged, so that the results of parallel calls travel together
// right after the assistant message that made the calls, as the API wants.
func params(req *hyponema.ChatRequest) (anthropic.MessageNewParams, error) {
	type turn struct {
		role   string // user, assistant or system
		blocks []anthropic.ContentBlockParamUnion
		system []anthropic.TextBlockParam
	}
	var turns []turn
	add := func(role string, blocks []anthropic.ContentBlockParamUnion, system []anthropic.TextBlockParam) {
		if len(blocks) == 0 && len(system) == 0 {
			return // the API refuses empty messages and empty text blocks
		}
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].blocks = append(turns[n-1].blocks, blocks...)
			turns[n-1].system = append(turns[n-1].system, system...)
			return
		}
		turns = append(turns, turn{role: role, blocks: blocks, system: system})
	}
	for i, m := range req.Messages {
		switch m.Role {
		case hyponema.RoleUser:
			if m.Text != "" {
				add("user", []anthropic.ContentBlockParamUnion{anthropic.NewTextBlock(m.Text)}, nil)
			}
		case hyponema.RoleAssistant:
			var blocks []anthropic.ContentBlockParamUnion
			if m.Text != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Text))
			}
			for _, tc := range m.ToolCalls {
				blocks = append(blocks, anthropic.NewToolUseBlock(tc.ID, toolInput(tc.Arguments), tc.Name))
			}
			add("assistant", blocks, nil)
		case hyponema.RoleTool:
			r := anthropic.ToolResultBlockParam{ToolUseID: m.ToolCallID}
			if m.Text != "" {
				r.Content = []anthropic.ToolResultBlockParamContentUnion{{OfText: &anthropic.TextBlockParam{Text: m.Text}}}
			}
			add("user", []anthropic.ContentBlockParamUnion{{OfToolResult: &r}}, nil)
		case hyponema.RoleSystem:
			if m.Text != "" {
				add("system", nil, []anthropic.TextBlockParam{{Text: m.Text}})
			}
		default:
			return anthropic.MessageNewParams{}, fmt.Errorf("message %d has unknown role %q", i, m.Role)
		}
	}
	msgs := make([]anthropic.MessageParam, 0, len(turns))
	for _, t := range turns {
		switch t.role {
		case "user":
			msgs = append(msgs, anthropic.NewUserMessage(t.blocks...))
		case "assistant":
			msgs = append(msgs, anthropic.NewAssistantMessage(t.blocks...))
		case "system":
			msgs = append(msgs, anthropic.MessageParam{OfSystem: &anthropic.SystemMessageParam{Content: t.system}})
		}
	}

	maxTokens := req.MaxOutputTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	params := anthropic.MessageNewParams{
		Model:     req.Model,
		MaxTokens: int64(maxTokens),
		Messages:  msgs,
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	for _, t := range req.Tools {
		schema, err := inputSchema(t.Parameters)
		if err != nil {
			return anthropic.MessageNewParams{}, fmt.Errorf("tool %q: %w", t.Name, err)
		}
		tp := anthropic.ToolParam{Name: t.Name, InputSchema: schema}
		if t.Description != "" {
			tp.Description = anthropic.String(t.Description)
		}
		params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &tp})
	}
	return params, nil
}

// toolInput is a call's arguments as the object that a tool_use block
// holds; arguments that are not a JSON object (a model's slip, stored in
// the history) become {} rather than a request the API refuses.
func toolInput(args string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &obj) != nil || obj == nil {
		return json.RawMessage("{}")
	}
	return json.RawMessage(args)
}

// inputSchema splits a JSON Schema into the SDK's fields: properties,
// required, and everything else as extra fields.
func inputSchema(raw json.RawMessage) (anthropic.ToolInputSchemaParam, error) {
	var s anthropic.ToolInputSchemaParam
	if len(raw) == 0 {
		s.Properties = map[string]any{}
		return s, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return s, fmt.Errorf("parameters are not a JSON Schema object: %w", err)
	}
	s.Properties = map[string]any{}
	for k, v := range m {
		switch k {
		case "type": // always "object"; the SDK writes it
		case "properties":
			s.Properties = v
		case "required":
			if err := json.Unmarshal(v, &s.Required); err != nil {
				return s, fmt.Errorf("parameters: required must be a list of names: %w", err)
			}
		default:
			if s.ExtraFields == nil {
				s.ExtraFields = map[string]any{}
			}
			s.ExtraFields[k] = v
		}
	}
	return s, nil
}

// stream turns the SDK's events into hyponema.ChatChunks: text as it
// comes, and one last chunk with the tool calls (assembled from their
// input_json_delta fragments), the usage and the finish reason.
type stream struct {
	p      *Provider
	ctx    context.Context
	s      *ssestream.Stream[anthropic.MessageStreamEventUnion]
	status int

	toolCalls upstream.ToolCalls // by content block index

	usage  hyponema.Usage
	sawUse bool
	finish string
	done   bool
	err    error
}

// Next implements hyponema.ChatStream.
func (st *stream) Next() (hyponema.ChatChunk, error) {
	if st.err != nil {
		return hyponema.ChatChunk{}, st.err
	}
	if st.done {
		st.err = io.EOF
		return hyponema.ChatChunk{}, io.EOF
	}
	for st.s.Next() {
		ev := st.s.Current()
		switch ev.Type {
		case "message_start":
			u := ev.Message.Usage
			// input_tokens leaves out what the prompt cache served or
			// stored; the prompt's size is all three, as OpenAI counts it.
			st.usage.InputTokens = int(u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens)
			st.usage.OutputTokens = int(u.OutputTokens)
			st.sawUse = true
		case "content_block_start":
			b := ev.ContentBlock
			switch b.Type {
			case "tool_use":
				st.toolCalls.Begin(ev.Index, b.ID, b.Name)
			case "text":
				if b.Text != "" {
					return hyponema.ChatChunk{Text: b.Text}, nil
				}
			}
		case "content_block_delta":
			switch ev.Delta.Type {
			case "text_delta":
				if ev.Delta.Text != "" {
					return hyponema.ChatChunk{Text: ev.Delta.Text}, nil
				}
			case "input_json_delta":
				st.toolCalls.Append(ev.Index, ev.Delta.PartialJSON)
			}
		case "message_delta":
			if r := ev.Delta.StopReason; r != "" {
				st.finish = finishReason(r)
			}
			// Usage here is cumulative; input_tokens comes only from newer
			// API versions, and only then overrides message_start's.
			st.usage.OutputTokens = int(ev.Usage.OutputTokens)
			if ev.Usage.JSON.InputTokens.Valid() {
				st.usage.InputTokens = int(ev.Usage.InputTokens + ev.Usage.CacheCreationInputTokens + ev.Usage.CacheReadInputTokens)
			}
			st.sawUse = true
		case "message_stop":
			// The reply is whole; what follows, if anything, is not ours.
			st.s.Close()
			return st.last(), nil
		}
	}
	if err := st.s.Err(); err != nil {
		st.err = st.streamError(err)
		return hyponema.ChatChunk{}, st.err
	}
	// The body ended without message_stop, but properly: give what came.
	return st.last(), nil
}

// last returns the closing chunk and marks the stream done.
func (st *stream) last() hyponema.ChatChunk {
	st.done = true
	c := hyponema.ChatChunk{FinishReason: st.finish, ToolCalls: st.toolCalls.Done()}
	if st.sawUse {
		u := st.usage
		c.Usage = &u
	}
	return c
}

// finishReason maps Anthropic's stop reasons to the common ones; others
// (pause_turn …) pass through.
func finishReason(r anthropic.StopReason) string {
	switch r {
	case anthropic.StopReasonEndTurn, anthropic.StopReasonStopSequence:
		return llm.FinishStop
	case anthropic.StopReasonMaxTokens, anthropic.StopReasonModelContextWindowExceeded:
		return llm.FinishLength
	case anthropic.StopReasonToolUse:
		return llm.FinishToolCalls
	case anthropic.StopReasonRefusal:
		return llm.FinishContentFilter
	}
	return string(r)
}

// streamError classifies an error that ended the stream.
func (st *stream) streamError(err error) *hyponema.ProviderError {
	if st.ctx.Err() != nil {
		return upstream.TransportError(st.ctx, name, st.p.key, err, true)
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		// An error event inside the 200 stream (overloaded_error …): judge
		// it by the status its type stands for.
		return upstream.StreamError(name, st.p.key, upstream.StatusForErrorType(string(ae.Type())), ae.RawJSON())
	}
	if strings.HasPrefix(err.Error(), "received error while streaming") {
		// An error event that the SDK could not decode.
		return upstream.StreamError(name, st.p.key, http.StatusInternalServerError, err.Error())
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return upstream.Malformed(name, st.p.key, st.status, err)
	}
	return upstream.TransportError(st.ctx, name, st.p.key, err, true)
}

// Close implements hyponema.ChatStream.
func (st *stream) Close() error { return st.s.Close() }
