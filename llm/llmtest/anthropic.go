package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// AnthropicServer is a fake Anthropic Messages server. It answers POST
// /v1/messages with the real event stream (message_start, ping,
// content_block_start, content_block_delta with text_delta and
// input_json_delta, content_block_stop, message_delta, message_stop), and
// errors as {"type": "error", "error": {"type", "message"}}.
//
// Its methods come from an embedded type: Enqueue, Handle, SetDefault,
// RequireAPIKey (accepted as "x-api-key: <key>" or "Authorization: Bearer
// <key>", the two ways Anthropic takes a key), Requests, LastRequest and
// Active.
type AnthropicServer struct {
	core[AnthropicRequest]
}

// NewAnthropicServer starts a fake Anthropic server that stops when t ends.
func NewAnthropicServer(t testing.TB) *AnthropicServer {
	s := &AnthropicServer{}
	s.start(t, s.serve)
	return s
}

// URL returns the base URL to give a client (without /v1, as Anthropic's
// base URL is written).
func (s *AnthropicServer) URL() string { return s.srv.URL }

// AnthropicRequest is a Messages request as the fake server received it.
// System is the system prompt's text, whether it was sent as a string or
// as text blocks.
type AnthropicRequest struct {
	Header http.Header     `json:"-"`
	Raw    json.RawMessage `json:"-"` // the body as sent

	Model       string             `json:"model"`
	MaxTokens   int                `json:"max_tokens"`
	System      string             `json:"-"`
	Messages    []AnthropicMessage `json:"messages"`
	Tools       []AnthropicTool    `json:"tools"`
	Temperature *float64           `json:"temperature"`
	Stream      bool               `json:"stream"`
}

// UnmarshalJSON reads system as a string or as text blocks.
func (r *AnthropicRequest) UnmarshalJSON(b []byte) error {
	type plain AnthropicRequest
	var v struct {
		plain
		System json.RawMessage `json:"system"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = AnthropicRequest(v.plain)
	r.System = textOf(v.System)
	return nil
}

// AnthropicMessage is one message of a request; content sent as a plain
// string reads as one text block.
type AnthropicMessage struct {
	Role    string           `json:"role"`
	Content []AnthropicBlock `json:"-"`
}

// UnmarshalJSON reads content as a string or as blocks.
func (m *AnthropicMessage) UnmarshalJSON(b []byte) error {
	var v struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	m.Role = v.Role
	var s string
	if json.Unmarshal(v.Content, &s) == nil {
		m.Content = []AnthropicBlock{{Type: "text", Text: s}}
		return nil
	}
	return json.Unmarshal(v.Content, &m.Content)
}

// AnthropicBlock is a content block: text (Text), tool_use (ID, Name,
// Input) or tool_result (ToolUseID, Content as text, IsError).
type AnthropicBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   string          `json:"-"`
	IsError   bool            `json:"is_error"`
}

// UnmarshalJSON reads a tool result's content as a string or text blocks.
func (b *AnthropicBlock) UnmarshalJSON(data []byte) error {
	type plain AnthropicBlock
	var v struct {
		plain
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*b = AnthropicBlock(v.plain)
	b.Content = textOf(v.Content)
	return nil
}

// AnthropicTool is a tool offered to the model.
type AnthropicTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

func (s *AnthropicServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		anthropicError(w, http.StatusNotFound, nil, "not_found_error", "Not found: "+r.Method+" "+r.URL.Path)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req := &AnthropicRequest{}
	if err := json.Unmarshal(body, req); err != nil {
		anthropicError(w, http.StatusBadRequest, nil, "invalid_request_error", "There was an issue with the format of your request: invalid JSON")
		return
	}
	req.Header, req.Raw = r.Header.Clone(), body
	reply := s.record(req)
	if key := s.requiredKey(); key != "" && r.Header.Get("X-Api-Key") != key && r.Header.Get("Authorization") != "Bearer "+key {
		anthropicError(w, http.StatusUnauthorized, reply.Header, "authentication_error", "invalid x-api-key")
		return
	}
	if reply.Fault.kind == faultHangBeforeHeaders {
		s.hang(r)
		return
	}
	if reply.Status != 0 {
		anthropicError(w, reply.Status, reply.Header, anthropicErrorType(reply.Status), errorMessage(reply, reply.Status))
		return
	}
	s.stream(w, r, req, reply)
}

// step is one event of a stream; counted steps are the content events
// that faults count.
type step struct {
	name    string
	data    any
	counted bool
}

// stream writes reply as a Messages event stream.
func (s *AnthropicServer) stream(w http.ResponseWriter, r *http.Request, req *AnthropicRequest, reply Reply) {
	n := s.nextID()
	var inputs []string
	inputs = append(inputs, req.System)
	for _, m := range req.Messages {
		for _, b := range m.Content {
			inputs = append(inputs, b.Text, b.Content, string(b.Input))
		}
	}
	u := estimateUsage(reply, inputs)
	if reply.Usage != nil {
		u = *reply.Usage
	}

	var steps []step
	index := 0
	if reply.Text != "" {
		steps = append(steps, step{name: "content_block_start", data: map[string]any{
			"type": "content_block_start", "index": index, "content_block": map[string]any{"type": "text", "text": ""}}})
		steps = append(steps, step{name: "ping", data: map[string]any{"type": "ping"}})
		for _, p := range split(reply.Text, reply.Chunks) {
			steps = append(steps, step{name: "content_block_delta", counted: true, data: map[string]any{
				"type": "content_block_delta", "index": index, "delta": map[string]any{"type": "text_delta", "text": p}}})
		}
		steps = append(steps, step{name: "content_block_stop", data: map[string]any{"type": "content_block_stop", "index": index}})
		index++
	}
	for i, tc := range reply.ToolCalls {
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("toolu_fake%d_%d", n, i)
		}
		args := tc.Arguments
		if args == "" {
			args = "{}"
		}
		steps = append(steps, step{name: "content_block_start", data: map[string]any{
			"type": "content_block_start", "index": index,
			"content_block": map[string]any{"type": "tool_use", "id": id, "name": tc.Name, "input": map[string]any{}}}})
		// As Anthropic does: an empty fragment first, then the pieces.
		steps = append(steps, step{name: "content_block_delta", data: map[string]any{
			"type": "content_block_delta", "index": index, "delta": map[string]any{"type": "input_json_delta", "partial_json": ""}}})
		for _, frag := range split(args, orDefault(reply.ArgChunks, 3)) {
			steps = append(steps, step{name: "content_block_delta", counted: true, data: map[string]any{
				"type": "content_block_delta", "index": index, "delta": map[string]any{"type": "input_json_delta", "partial_json": frag}}})
		}
		steps = append(steps, step{name: "content_block_stop", data: map[string]any{"type": "content_block_stop", "index": index}})
		index++
	}

	out := newSSE(w, withHeader(reply.Header, "Request-Id", fmt.Sprintf("req_fake%d", n)))
	out.event("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": fmt.Sprintf("msg_fake%d", n), "type": "message", "role": "assistant", "model": req.Model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil,
		"usage": map[string]any{"input_tokens": u.InputTokens, "output_tokens": 1,
			"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
	}})
	out.event("ping", map[string]any{"type": "ping"})

	counted := 0
	fault := func() bool { // reports whether the stream must end now
		switch reply.Fault.kind {
		case faultCut:
			cut()
		case faultHang:
			s.hang(r)
			return true
		case faultMalformed:
			out.event("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"oops`)
			return true
		case faultErrorEvent:
			out.event("error", map[string]any{"type": "error", "error": map[string]any{
				"type": anthropicErrorType(reply.Fault.status), "message": errorMessage(reply, reply.Fault.status)}})
			return true
		}
		return false
	}
	for _, st := range steps {
		if st.counted {
			if reply.Fault.kind != noFault && counted == reply.Fault.after && fault() {
				return
			}
			if counted > 0 && !s.wait(r, reply.Delay) {
				return
			}
			counted++
		}
		out.event(st.name, st.data)
		if out.err != nil {
			return
		}
	}
	// A fault after more events than there are strikes before the end.
	if reply.Fault.kind != noFault && counted <= reply.Fault.after && fault() {
		return
	}

	stop := reply.FinishReason
	if stop == "" {
		stop = "end_turn"
		if len(reply.ToolCalls) > 0 {
			stop = "tool_use"
		}
	}
	out.event("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": stop, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": u.OutputTokens}})
	out.event("message_stop", map[string]any{"type": "message_stop"})
}

// anthropicErrorType gives the error type that Anthropic uses for a status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func anthropicError(w http.ResponseWriter, status int, extra http.Header, typ, msg string) {
	writeJSON(w, status, extra, map[string]any{"type": "error",
		"error": map[string]any{"type": typ, "message": msg}, "request_id": "req_fake"})
}
