// Package openai is Hyponema's provider for OpenAI and every server that
// speaks its Chat Completions API (vLLM, Ollama, llama.cpp, LM Studio …),
// over the official openai-go SDK, streaming.
//
// The SDK's own retries are off: llm.WithRetry retries, and only before the
// first chunk. The SDK's reading of OPENAI_* environment variables is
// avoided too: everything comes from Config, which cmd/hyponema fills from
// HYPONEMA_OPENAI_API_KEY and HYPONEMA_OPENAI_BASE_URL.
package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm/internal/upstream"
)

// name is the provider's name in errors and in agents' model names.
const name = "openai"

// DefaultBaseURL is OpenAI's own API.
const DefaultBaseURL = "https://api.openai.com/v1"

// Config configures a Provider.
type Config struct {
	// APIKey is sent as "Authorization: Bearer <key>"; empty sends no
	// Authorization header, for local servers that want none.
	APIKey string
	// BaseURL is the API root, with its /v1 (default DefaultBaseURL).
	BaseURL string
	// HTTPClient makes the requests (default: a client of the provider's
	// own, with no overall timeout: contexts bound replies).
	HTTPClient *http.Client
}

// Provider streams chat completions. It is safe for concurrent use.
type Provider struct {
	svc openai.ChatCompletionService
	key upstream.Redactor
	// maxCompletionTokens says which field bounds the reply: see
	// usesMaxCompletionTokens.
	maxCompletionTokens bool
}

var _ hyponema.LLM = (*Provider)(nil)

// New returns a provider for the server at c.BaseURL.
func New(c Config) *Provider {
	svc := openai.NewChatCompletionService(c.options(0)...)
	return &Provider{svc: svc, key: upstream.Redactor(c.APIKey), maxCompletionTokens: usesMaxCompletionTokens(c.baseURL())}
}

// baseURL is the API root, DefaultBaseURL unless set.
func (c Config) baseURL() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return c.BaseURL
}

// options are the SDK's settings for a service of c, with the SDK's own
// retries. The services, unlike openai.NewClient, do not read OPENAI_*
// variables from the environment: no setting comes from anywhere but
// Config.
func (c Config) options(maxRetries int) []option.RequestOption {
	return []option.RequestOption{
		option.WithBaseURL(c.baseURL()),
		option.WithAPIKey(c.APIKey),
		option.WithHTTPClient(upstream.HTTPClient(c.HTTPClient)),
		option.WithMaxRetries(maxRetries),
	}
}

// usesMaxCompletionTokens reports whether the server at base wants
// max_completion_tokens rather than max_tokens. OpenAI (and Azure OpenAI)
// deprecated max_tokens and refuse it for their reasoning models; the
// OpenAI-compatible servers (vLLM, Ollama, llama.cpp, LM Studio, TGI)
// have long read max_tokens, while some of them ignore
// max_completion_tokens, which would leave the reply unbounded. So OpenAI's
// own hosts get the new field and every other server the old one.
func usesMaxCompletionTokens(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	return host == "api.openai.com" || strings.HasSuffix(host, ".openai.azure.com")
}

// StreamChat implements hyponema.LLM. It returns once the server has
// answered with a status: a stream for 200, a *hyponema.ProviderError
// otherwise.
func (p *Provider) StreamChat(ctx context.Context, req *hyponema.ChatRequest) (hyponema.ChatStream, error) {
	params, err := p.params(req)
	if err != nil {
		return nil, upstream.Invalid(name, err)
	}
	var res *http.Response
	sdk := p.svc.NewStreaming(ctx, params, option.WithResponseInto(&res))
	if err := sdk.Err(); err != nil {
		sdk.Close()
		if res != nil && res.StatusCode >= 400 {
			// The SDK has read the body and left a copy of it in res.
			return nil, upstream.StatusError(name, p.key, res, upstream.ReadBody(res))
		}
		return nil, upstream.TransportError(ctx, name, p.key, err, false)
	}
	// The SDK's stream has read nothing yet. Its chunks decode through
	// the SDK's reflective JSON layer, which cost 50 µs a chunk here (a
	// tenth of a turn's CPU): the same SSE decoder reads the body into
	// chunk, a plain struct of the fields used, instead.
	return &stream{p: p, ctx: ctx, s: ssestream.NewStream[chunk](ssestream.NewDecoder(res), nil), status: res.StatusCode}, nil
}

// chunk is what a stream uses of a chat.completion.chunk.
type chunk struct {
	Choices []struct {
		Index int64 `json:"index"`
		Delta struct {
			Content   string      `json:"content"`
			Refusal   string      `json:"refusal"`
			ToolCalls []toolDelta `json:"tool_calls"`
		} `json:"delta"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	// Usage is null on every chunk but the last with include_usage.
	Usage *struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
	} `json:"usage"`
}

// toolDelta is a fragment of a tool call in a chunk.
type toolDelta struct {
	Index    int64  `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// params translates a request to the SDK's.
func (p *Provider) params(req *hyponema.ChatRequest) (openai.ChatCompletionNewParams, error) {
	msgs := make([]openai.ChatCompletionMessageParamUnion, 0, len(req.Messages)+1)
	if req.System != "" {
		msgs = append(msgs, openai.SystemMessage(req.System))
	}
	for i, m := range req.Messages {
		switch m.Role {
		case hyponema.RoleUser:
			msgs = append(msgs, openai.UserMessage(m.Text))
		case hyponema.RoleAssistant:
			a := openai.ChatCompletionAssistantMessageParam{}
			// An assistant turn that only called tools has no content:
			// OpenAI wants it absent (null), not "".
			if m.Text != "" || len(m.ToolCalls) == 0 {
				a.Content.OfString = openai.String(m.Text)
			}
			for _, tc := range m.ToolCalls {
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID:       tc.ID,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: tc.Name, Arguments: orEmptyObject(tc.Arguments)},
					},
				})
			}
			msgs = append(msgs, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case hyponema.RoleTool:
			msgs = append(msgs, openai.ToolMessage(m.Text, m.ToolCallID))
		case hyponema.RoleSystem:
			msgs = append(msgs, openai.SystemMessage(m.Text))
		default:
			return openai.ChatCompletionNewParams{}, fmt.Errorf("message %d has unknown role %q", i, m.Role)
		}
	}
	params := openai.ChatCompletionNewParams{
		Model:    req.Model,
		Messages: msgs,
		// Always sent: the agent's temperature is always set, and 0 is a
		// real choice.
		Temperature:   openai.Float(req.Temperature),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	if req.MaxOutputTokens > 0 {
		if p.maxCompletionTokens {
			params.MaxCompletionTokens = openai.Int(int64(req.MaxOutputTokens))
		} else {
			params.MaxTokens = openai.Int(int64(req.MaxOutputTokens))
		}
	}
	for _, t := range req.Tools {
		schema := shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		if len(t.Parameters) > 0 {
			schema = shared.FunctionParameters{}
			if err := json.Unmarshal(t.Parameters, &schema); err != nil {
				return openai.ChatCompletionNewParams{}, fmt.Errorf("tool %q: parameters are not a JSON Schema object: %w", t.Name, err)
			}
		}
		def := shared.FunctionDefinitionParam{Name: t.Name, Parameters: schema}
		if t.Description != "" {
			def.Description = openai.String(t.Description)
		}
		params.Tools = append(params.Tools, openai.ChatCompletionFunctionTool(def))
	}
	return params, nil
}

// stream turns the SDK's chunks into hyponema.ChatChunks: text as it comes,
// and one last chunk with the tool calls (assembled from their fragments),
// the usage and the finish reason.
type stream struct {
	p      *Provider
	ctx    context.Context
	s      *ssestream.Stream[chunk]
	status int

	toolCalls upstream.ToolCalls

	finish string
	usage  *hyponema.Usage
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
		c := st.s.Current()
		// With include_usage, usage is null on every chunk but a last one
		// whose choices are empty.
		if c.Usage != nil {
			st.usage = &hyponema.Usage{InputTokens: int(c.Usage.PromptTokens), OutputTokens: int(c.Usage.CompletionTokens)}
		}
		var text string
		for _, ch := range c.Choices {
			if ch.Index != 0 { // we never ask for n > 1
				continue
			}
			text += ch.Delta.Content + ch.Delta.Refusal
			for _, d := range ch.Delta.ToolCalls {
				st.addToolDelta(d)
			}
			if ch.FinishReason != "" {
				st.finish = ch.FinishReason
			}
		}
		if text != "" {
			return hyponema.ChatChunk{Text: text}, nil
		}
	}
	if err := st.s.Err(); err != nil {
		st.err = st.streamError(err)
		return hyponema.ChatChunk{}, st.err
	}
	// The stream ended ([DONE], or the server closed the response
	// properly without it, as a few compatible servers do): give what was
	// gathered. A finish reason that never came stays empty.
	st.done = true
	return hyponema.ChatChunk{Usage: st.usage, FinishReason: st.finish, ToolCalls: st.toolCalls.Done()}, nil
}

// addToolDelta adds one fragment of a tool call. The first fragment for an
// index carries the call's ID and name, the later ones pieces of its
// arguments; fragments of parallel calls may interleave.
func (st *stream) addToolDelta(d toolDelta) {
	tc, ok := st.toolCalls.At(d.Index)
	// A new ID at a known index is a new call from a server that does not
	// number its calls (it sends every index as 0).
	if !ok || (d.ID != "" && tc.ID != "" && d.ID != tc.ID) {
		st.toolCalls.Begin(d.Index, d.ID, d.Function.Name)
	} else {
		if tc.ID == "" {
			tc.ID = d.ID
		}
		if tc.Name == "" {
			tc.Name = d.Function.Name
		}
	}
	st.toolCalls.Append(d.Index, d.Function.Arguments)
}

// streamError classifies an error that ended the stream.
func (st *stream) streamError(err error) *hyponema.ProviderError {
	if st.ctx.Err() != nil {
		return upstream.TransportError(st.ctx, name, st.p.key, err, true)
	}
	var se *ssestream.StreamError
	if errors.As(err, &se) {
		status, detail := inStreamError(se.Event.Data)
		return upstream.StreamError(name, st.p.key, status, detail)
	}
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syntax) || errors.As(err, &typ) {
		return upstream.Malformed(name, st.p.key, st.status, err)
	}
	return upstream.TransportError(st.ctx, name, st.p.key, err, true)
}

// inStreamError reads the error event that a server sends in place of a
// chunk ({"error": {"message", "type", "code"}}): the status it stands for
// (vLLM puts one in code; OpenAI names a type) and its text for logs.
func inStreamError(data []byte) (status int, detail string) {
	var ev struct {
		Error struct {
			Type string          `json:"type"`
			Code json.RawMessage `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(data, &ev)
	if n, err := strconv.Atoi(strings.Trim(string(ev.Error.Code), `"`)); err == nil && n >= 400 && n <= 599 {
		return n, string(data)
	}
	typ := ev.Error.Type
	if typ == "" {
		var code string
		_ = json.Unmarshal(ev.Error.Code, &code)
		typ = code
	}
	return upstream.StatusForErrorType(typ), string(data)
}

// Close implements hyponema.ChatStream; the SDK's stream closes once.
func (st *stream) Close() error { return st.s.Close() }

// orEmptyObject gives a call with no arguments the empty object, which is
// what a tool that takes none expects to parse.
func orEmptyObject(args string) string {
	if strings.TrimSpace(args) == "" {
		return "{}"
	}
	return args
}
