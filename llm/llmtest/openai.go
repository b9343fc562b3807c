package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// OpenAIServer is a fake OpenAI-compatible Chat Completions server. It
// answers POST /v1/chat/completions (and /chat/completions) with
// "data: {chat.completion.chunk}" events ending in "data: [DONE]", and
// errors as {"error": {"message", "type", "param", "code"}}.
//
// Its methods come from an embedded type: Enqueue, Handle, SetDefault,
// RequireAPIKey (checked as "Authorization: Bearer <key>"), Requests,
// LastRequest and Active.
type OpenAIServer struct {
	core[OpenAIRequest]
}

// NewOpenAIServer starts a fake OpenAI server that stops when t ends.
func NewOpenAIServer(t testing.TB) *OpenAIServer {
	s := &OpenAIServer{}
	s.start(t, s.serve)
	return s
}

// URL returns the base URL to give a client, with its /v1.
func (s *OpenAIServer) URL() string { return s.srv.URL + "/v1" }

// OpenAIRequest is a chat completion request as the fake server received
// it.
type OpenAIRequest struct {
	Header http.Header     `json:"-"`
	Raw    json.RawMessage `json:"-"` // the body as sent

	Model               string          `json:"model"`
	Messages            []OpenAIMessage `json:"messages"`
	Temperature         *float64        `json:"temperature"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Tools               []OpenAITool    `json:"tools"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// OpenAIMessage is one message of a request. Content is the text, whether
// it was sent as a string or as text parts.
type OpenAIMessage struct {
	Role       string           `json:"role"`
	Content    string           `json:"-"`
	ToolCalls  []OpenAIToolCall `json:"tool_calls"`
	ToolCallID string           `json:"tool_call_id"`
	Name       string           `json:"name"`
}

// UnmarshalJSON reads content as a string or as text parts.
func (m *OpenAIMessage) UnmarshalJSON(b []byte) error {
	type plain OpenAIMessage
	var v struct {
		plain
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = OpenAIMessage(v.plain)
	m.Content = textOf(v.Content)
	return nil
}

// OpenAIToolCall is a call in an assistant message of the history.
type OpenAIToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// OpenAITool is a tool offered to the model.
type OpenAITool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

func (s *OpenAIServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || (r.URL.Path != "/v1/chat/completions" && r.URL.Path != "/chat/completions") {
		openAIError(w, http.StatusNotFound, nil, "invalid_request_error", "unknown_url", "Unknown request URL: "+r.Method+" "+r.URL.Path)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req := &OpenAIRequest{}
	if err := json.Unmarshal(body, req); err != nil {
		openAIError(w, http.StatusBadRequest, nil, "invalid_request_error", nil, "We could not parse the JSON body of your request.")
		return
	}
	req.Header, req.Raw = r.Header.Clone(), body
	reply := s.record(req)
	if key := s.requiredKey(); key != "" && r.Header.Get("Authorization") != "Bearer "+key {
		openAIError(w, http.StatusUnauthorized, reply.Header, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
		return
	}
	if reply.Fault.kind == faultHangBeforeHeaders {
		s.hang(r)
		return
	}
	if reply.Status != 0 {
		typ, code := openAIErrorType(reply.Status)
		openAIError(w, reply.Status, reply.Header, typ, code, errorMessage(reply, reply.Status))
		return
	}
	s.stream(w, r, req, reply)
}

// stream writes reply as a chat completion stream.
func (s *OpenAIServer) stream(w http.ResponseWriter, r *http.Request, req *OpenAIRequest, reply Reply) {
	n := s.nextID()
	id := fmt.Sprintf("chatcmpl-fake%d", n)
	created := time.Now().Unix()
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(choices []any, usage any) map[string]any {
		c := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created,
			"model": req.Model, "system_fingerprint": "fp_llmtest", "choices": choices,
		}
		if includeUsage {
			c["usage"] = usage // null but on the last chunk, as OpenAI does
		}
		return c
	}
	choice := func(delta map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
	}

	// The content events: text pieces, then the tool-call fragments.
	var events []map[string]any
	for _, p := range split(reply.Text, reply.Chunks) {
		events = append(events, chunk(choice(map[string]any{"content": p}, nil), nil))
	}
	calls := make([][]map[string]any, len(reply.ToolCalls))
	for i, tc := range reply.ToolCalls {
		callID := tc.ID
		if callID == "" {
			callID = fmt.Sprintf("call_fake%d_%d", n, i)
		}
		args := tc.Arguments
		if args == "" {
			args = "{}"
		}
		// As OpenAI does: the first fragment names the call, with empty
		// arguments; the arguments follow in pieces with only the index.
		calls[i] = append(calls[i], map[string]any{"index": i, "id": callID, "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": ""}})
		for _, frag := range split(args, orDefault(reply.ArgChunks, 3)) {
			calls[i] = append(calls[i], map[string]any{"index": i, "function": map[string]any{"arguments": frag}})
		}
	}
	for _, d := range order(calls, reply.Interleave) {
		events = append(events, chunk(choice(map[string]any{"tool_calls": []any{d}}, nil), nil))
	}

	out := newSSE(w, withHeader(reply.Header, "X-Request-Id", fmt.Sprintf("req_fake%d", n)))
	out.event("", chunk(choice(map[string]any{"role": "assistant", "content": ""}, nil), nil))
	for i := 0; ; i++ {
		// A fault after more events than there are strikes before the end.
		if reply.Fault.kind != noFault && i == min(reply.Fault.after, len(events)) {
			switch reply.Fault.kind {
			case faultCut:
				cut()
			case faultHang:
				s.hang(r)
				return
			case faultMalformed:
				out.event("", `{"id":"`+id+`","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"oops`)
				return
			case faultErrorEvent:
				typ, code := openAIErrorType(reply.Fault.status)
				out.event("", map[string]any{"error": map[string]any{"message": errorMessage(reply, reply.Fault.status), "type": typ, "param": nil, "code": code}})
				return
			}
		}
		if i == len(events) {
			break
		}
		if i > 0 && !s.wait(r, reply.Delay) {
			return
		}
		out.event("", events[i])
		if out.err != nil {
			return
		}
	}

	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
		if len(reply.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	out.event("", chunk(choice(map[string]any{}, finish), nil))
	if includeUsage {
		var inputs []string
		for _, m := range req.Messages {
			inputs = append(inputs, m.Content)
		}
		u := estimateUsage(reply, inputs)
		if reply.Usage != nil {
			u = *reply.Usage
		}
		out.event("", chunk([]any{}, map[string]any{
			"prompt_tokens": u.InputTokens, "completion_tokens": u.OutputTokens,
			"total_tokens": u.InputTokens + u.OutputTokens,
		}))
	}
	out.event("", "[DONE]")
}

// order flattens per-call fragments, call after call or interleaved.
func order(calls [][]map[string]any, interleave bool) []map[string]any {
	var out []map[string]any
	if !interleave {
		for _, c := range calls {
			out = append(out, c...)
		}
		return out
	}
	for j := 0; ; j++ {
		more := false
		for _, c := range calls {
			if j < len(c) {
				out = append(out, c[j])
				more = true
			}
		}
		if !more {
			return out
		}
	}
}

// openAIErrorType gives the error type and code that OpenAI uses for a
// status.
func openAIErrorType(status int) (typ string, code any) {
	switch {
	case status == http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded"
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusNotFound:
		return "invalid_request_error", "model_not_found"
	case status >= 500:
		return "server_error", nil
	default:
		return "invalid_request_error", nil
	}
}

func openAIError(w http.ResponseWriter, status int, extra http.Header, typ string, code any, msg string) {
	writeJSON(w, status, extra, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": code,
	}})
}

// withHeader returns h (copied) with k set to v unless h sets k.
func withHeader(h http.Header, k, v string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	if out.Get(k) == "" {
		out.Set(k, v)
	}
	return out
}

// orDefault returns v, or def when v is not positive.
func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
