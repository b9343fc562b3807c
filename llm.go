package hyponema

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// LLM streams chat replies from one model provider. Implementations live in
// llm/… (OpenAI-compatible, Anthropic, the offline local engine); the
// conversation engine only sees this interface.
type LLM interface {
	// StreamChat starts a reply. Errors, from here or from the stream, are
	// *ProviderError values.
	StreamChat(ctx context.Context, req *ChatRequest) (ChatStream, error)
}

// ChatRequest is a provider-neutral chat completion request.
type ChatRequest struct {
	Model           string // the provider's model name, without "provider/"
	System          string
	Messages        []ChatMessage
	Temperature     float64
	MaxOutputTokens int
	Tools           []ToolDefinition
	// Passages are the knowledge-base passages retrieved for the turn.
	// They are in System already, for models; engines that read structure
	// (the offline local engine) may use them directly.
	Passages []SearchHit

	// FirstTokenTimeout bounds the wait for the reply's first chunk (0: no
	// bound but ctx's). The whole reply is bounded by ctx.
	FirstTokenTimeout time.Duration
}

// ChatMessage is one message of the history sent to a model.
type ChatMessage struct {
	Role       string // user, assistant or tool
	Text       string
	ToolCalls  []ToolCall // an assistant's calls
	ToolCallID string     // the call that a tool message answers
}

// ToolDefinition declares a function that the model may call.
type ToolDefinition struct {
	Name        string
	Description string
	Parameters  json.RawMessage // JSON Schema of the arguments
}

// ToolCall is a function call that a model made, with its arguments as JSON.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ChatChunk is one piece of a streamed reply. Text is a delta; ToolCalls are
// whole calls, accumulated from the provider's deltas, given once complete;
// Usage and FinishReason come with the last chunk.
type ChatChunk struct {
	Text         string
	ToolCalls    []ToolCall
	Usage        *Usage
	FinishReason string
}

// ChatStream is a reply being streamed.
type ChatStream interface {
	// Next returns the next chunk, io.EOF after the last one, or a
	// *ProviderError.
	Next() (ChatChunk, error)
	// Close releases the stream; it may be called at any time.
	Close() error
}

// ProviderError is how a model provider fails: its HTTP status (0 when the
// request never got an answer), whether it timed out, and how long it asked
// us to wait. Its Unwrap gives the domain error that clients see, whose
// message never holds the provider's keys or raw response.
type ProviderError struct {
	Provider   string
	Status     int
	Timeout    bool
	RetryAfter time.Duration
	Message    string // for people: what went wrong, safe to show
	Err        error  // the cause, for logs
}

// Error implements error.
func (e *ProviderError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Provider, e.Message, e.Err)
	}
	return e.Provider + ": " + e.Message
}

// Unwrap returns the domain error: ETIMEOUT, ERATELIMITED or EPROVIDER.
func (e *ProviderError) Unwrap() error {
	code := EPROVIDER
	switch {
	case e.Timeout:
		code = ETIMEOUT
	case e.Status == 429:
		code = ERATELIMITED
	}
	return &Error{Code: code, Message: e.Provider + ": " + e.Message}
}

// Retryable reports whether trying again may help: rate limits, server
// errors and connection failures, but not a timeout (it used up the time)
// or a request the provider refused.
func (e *ProviderError) Retryable() bool {
	return !e.Timeout && (e.Status == 0 || e.Status == 429 || e.Status >= 500)
}
