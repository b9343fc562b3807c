package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/anthropic"
	"github.com/hyponema/hyponema/llm/llmtest"
)

const key = "sk-ant-test-0a1b2c3d4e5f6789"

// fast retries, so that tests of retrying take milliseconds.
var fast = llm.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Second}

func setup(t *testing.T) (*llmtest.AnthropicServer, *anthropic.Provider, *llmtest.Client) {
	t.Helper()
	srv := llmtest.NewAnthropicServer(t)
	c := llmtest.NewClient()
	return srv, anthropic.New(anthropic.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: c.Client}), c
}

func chat(text string) *hyponema.ChatRequest {
	return &hyponema.ChatRequest{
		Model:           "claude-test",
		System:          "You are terse.",
		Messages:        []hyponema.ChatMessage{{Role: hyponema.RoleUser, Text: text}},
		Temperature:     0.7,
		MaxOutputTokens: 256,
	}
}

func stream(t *testing.T, ctx context.Context, l hyponema.LLM, req *hyponema.ChatRequest) (llmtest.Result, error) {
	t.Helper()
	s, err := l.StreamChat(ctx, req)
	if err != nil {
		return llmtest.Result{}, err
	}
	r := llmtest.Collect(s)
	return r, r.Err
}

func providerError(t *testing.T, err error) *hyponema.ProviderError {
	t.Helper()
	var pe *hyponema.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *hyponema.ProviderError", err, err)
	}
	if pe.Provider != "anthropic" {
		t.Errorf("Provider = %q, want anthropic", pe.Provider)
	}
	if strings.Contains(pe.Error(), key) || strings.Contains(hyponema.ErrorMessage(pe), key) {
		t.Errorf("the API key leaked into the error: %v", pe)
	}
	return pe
}

func waitIdle(t *testing.T, srv interface{ Active() int }) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); srv.Active() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server still handles %d requests: a connection was not closed", srv.Active())
		}
	}
}

func TestStream(t *testing.T) {
	srv, p, c := setup(t)
	srv.Enqueue(llmtest.Reply{Text: "Hello there, dear world.", Chunks: 4, Usage: &hyponema.Usage{InputTokens: 12, OutputTokens: 5}})
	r, err := stream(t, context.Background(), p, chat("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Hello there, dear world." || r.TextChunks != 4 {
		t.Errorf("text %q in %d chunks, want the reply in 4", r.Text, r.TextChunks)
	}
	if r.Usage == nil || *r.Usage != (hyponema.Usage{InputTokens: 12, OutputTokens: 5}) {
		t.Errorf("usage %+v, want 12 in (from message_start), 5 out (from message_delta)", r.Usage)
	}
	if r.FinishReason != llm.FinishStop {
		t.Errorf("finish reason %q, want stop (end_turn)", r.FinishReason)
	}
	c.CheckNoLeaks(t, -1)
}

func TestFinishReasons(t *testing.T) {
	srv, p, _ := setup(t)
	for stop, want := range map[string]string{
		"end_turn": llm.FinishStop, "stop_sequence": llm.FinishStop, "max_tokens": llm.FinishLength,
		"tool_use": llm.FinishToolCalls, "refusal": llm.FinishContentFilter, "pause_turn": "pause_turn",
	} {
		srv.Enqueue(llmtest.Reply{Text: "x", FinishReason: stop})
		if r, err := stream(t, context.Background(), p, chat("hi")); err != nil || r.FinishReason != want {
			t.Errorf("%s: got %q, %v; want %q", stop, r.FinishReason, err, want)
		}
	}
}

func TestRequestShape(t *testing.T) {
	srv, p, _ := setup(t)
	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`)
	req := &hyponema.ChatRequest{
		Model:  "claude-sonnet-4-5",
		System: "You are a weather bot.",
		Messages: []hyponema.ChatMessage{
			{Role: hyponema.RoleUser, Text: "Weather in Paris and Rome?"},
			{Role: hyponema.RoleAssistant, Text: "Let me check.", ToolCalls: []hyponema.ToolCall{
				{ID: "toolu_1", Name: "weather", Arguments: `{"city":"Paris"}`},
				{ID: "toolu_2", Name: "weather", Arguments: `{"city":"Rome"}`},
			}},
			{Role: hyponema.RoleTool, ToolCallID: "toolu_1", Text: "18°C"},
			{Role: hyponema.RoleTool, ToolCallID: "toolu_2", Text: "24°C"},
			{Role: hyponema.RoleAssistant, Text: "Paris 18°C, Rome 24°C."},
			{Role: hyponema.RoleUser, Text: "Thanks!"},
		},
		Temperature:     0.2,
		MaxOutputTokens: 77,
		Tools:           []hyponema.ToolDefinition{{Name: "weather", Description: "Current weather", Parameters: schema}},
	}
	if _, err := stream(t, context.Background(), p, req); err != nil {
		t.Fatal(err)
	}
	got := srv.LastRequest()
	// anthropic-sdk-go v2 sends the key as a bearer token; the API also
	// takes x-api-key. Either way it must be there, and only there.
	if got.Header.Get("Authorization") != "Bearer "+key && got.Header.Get("X-Api-Key") != key {
		t.Errorf("no API key in Authorization %q or X-Api-Key %q", got.Header.Get("Authorization"), got.Header.Get("X-Api-Key"))
	}
	if got.Header.Get("Anthropic-Version") == "" {
		t.Error("no anthropic-version header")
	}
	if got.Model != "claude-sonnet-4-5" || got.MaxTokens != 77 || !got.Stream || got.System != "You are a weather bot." {
		t.Errorf("model %q, max_tokens %d, stream %v, system %q", got.Model, got.MaxTokens, got.Stream, got.System)
	}
	if got.Temperature != nil {
		t.Errorf("temperature %v sent; the 2026-10-21 API has none", *got.Temperature)
	}
	m := got.Messages
	if len(m) != 5 {
		t.Fatalf("%d messages, want 5 (the two tool results merged into one user message): %s", len(m), got.Raw)
	}
	if m[0].Role != "user" || len(m[0].Content) != 1 || m[0].Content[0].Text != "Weather in Paris and Rome?" {
		t.Errorf("message 0: %+v", m[0])
	}
	if m[1].Role != "assistant" || len(m[1].Content) != 3 || m[1].Content[0].Text != "Let me check." ||
		m[1].Content[1].Type != "tool_use" || m[1].Content[1].ID != "toolu_1" || m[1].Content[1].Name != "weather" ||
		string(m[1].Content[1].Input) != `{"city":"Paris"}` || m[1].Content[2].ID != "toolu_2" {
		t.Errorf("message 1: %+v", m[1])
	}
	if m[2].Role != "user" || len(m[2].Content) != 2 ||
		m[2].Content[0].Type != "tool_result" || m[2].Content[0].ToolUseID != "toolu_1" || m[2].Content[0].Content != "18°C" ||
		m[2].Content[1].ToolUseID != "toolu_2" || m[2].Content[1].Content != "24°C" {
		t.Errorf("message 2: %+v", m[2])
	}
	if m[3].Role != "assistant" || m[4].Role != "user" || m[4].Content[0].Text != "Thanks!" {
		t.Errorf("messages 3, 4: %+v %+v", m[3], m[4])
	}
	if len(got.Tools) != 1 || got.Tools[0].Name != "weather" || got.Tools[0].Description != "Current weather" {
		t.Fatalf("tools %+v", got.Tools)
	}
	var gotSchema, wantSchema map[string]any
	json.Unmarshal(got.Tools[0].InputSchema, &gotSchema)
	json.Unmarshal(schema, &wantSchema)
	if b1, b2 := mustJSON(gotSchema), mustJSON(wantSchema); b1 != b2 {
		t.Errorf("input_schema %s, want %s", b1, b2)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v) // map keys come out sorted
	return string(b)
}

func TestParallelToolCallDeltas(t *testing.T) {
	srv, p, _ := setup(t)
	calls := []hyponema.ToolCall{
		{ID: "toolu_a", Name: "weather", Arguments: `{"city":"Zürich","days":3}`},
		{ID: "toolu_b", Name: "search", Arguments: `{"query":"what is \"SSE\"?","limit":5}`},
	}
	srv.Enqueue(llmtest.Reply{Text: "Checking.", ToolCalls: calls, ArgChunks: 7})
	r, err := stream(t, context.Background(), p, chat("weather and search"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Checking." || len(r.ToolCalls) != 2 || r.ToolCalls[0] != calls[0] || r.ToolCalls[1] != calls[1] {
		t.Errorf("got %q and %+v, want %+v", r.Text, r.ToolCalls, calls)
	}
	if r.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish reason %q, want tool_calls", r.FinishReason)
	}
}

func TestOverloadedRetriedThenSucceeds(t *testing.T) {
	srv, p, c := setup(t)
	baseline := runtime.NumGoroutine()
	srv.Enqueue(llmtest.Fail(529), llmtest.Fail(500), llmtest.Text("Third time lucky."))
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	if err != nil || r.Text != "Third time lucky." {
		t.Fatalf("got %q, %v", r.Text, err)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	c.CheckNoLeaks(t, baseline)
}

func TestServerErrorGivesUp(t *testing.T) {
	srv, p, c := setup(t)
	srv.SetDefault(llmtest.Reply{Status: 529})
	_, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 529 || hyponema.ErrorCode(err) != hyponema.EPROVIDER || !strings.Contains(pe.Message, "overloaded") {
		t.Errorf("got %+v (code %s), want 529 overloaded, EPROVIDER", pe, hyponema.ErrorCode(err))
	}
	if n := len(srv.Requests()); n != fast.MaxAttempts {
		t.Errorf("%d requests, want %d", n, fast.MaxAttempts)
	}
	c.CheckNoLeaks(t, -1)
}

func TestRateLimitRetryAfterHonoured(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.RateLimited("1"), llmtest.Text("ok"))
	start := time.Now()
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("retried after %v, want about 1s", elapsed)
	}
	if r.Text != "ok" || len(srv.Requests()) != 2 {
		t.Errorf("text %q after %d requests", r.Text, len(srv.Requests()))
	}
}

func TestRetryAfterPastDeadlineFailsAtOnce(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.RateLimited("1"), llmtest.Text("too late"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := stream(t, ctx, llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 429 || hyponema.ErrorCode(err) != hyponema.ERATELIMITED || time.Since(start) > 200*time.Millisecond {
		t.Errorf("got %+v after %v, want the 429 at once", pe, time.Since(start))
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	srv, p, _ := setup(t)
	srv.SetDefault(llmtest.Reply{Status: 400, ErrorMessage: "max_tokens: too large"})
	_, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 400 || pe.Retryable() || len(srv.Requests()) != 1 {
		t.Errorf("got %v after %d requests, want one 400", err, len(srv.Requests()))
	}
	if strings.Contains(pe.Message, "too large") || !strings.Contains(pe.Error(), "too large") {
		t.Errorf("Message %q must be generic, Error() %q must hold the body for logs", pe.Message, pe.Error())
	}
}

func TestErrorAfterFirstTokenNotRetried(t *testing.T) {
	for name, fault := range map[string]llmtest.Fault{
		"overloaded event": llmtest.ErrorEventAfter(2, 529),
		"cut":              llmtest.CutAfter(2),
	} {
		t.Run(name, func(t *testing.T) {
			srv, p, c := setup(t)
			srv.SetDefault(llmtest.Reply{Text: "one two three four", Fault: fault})
			r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
			pe := providerError(t, err)
			if r.Text != "one two " {
				t.Errorf("text before the failure %q, want %q", r.Text, "one two ")
			}
			if len(srv.Requests()) != 1 {
				t.Errorf("%d requests: a reply that had begun was retried", len(srv.Requests()))
			}
			if name == "cut" && (pe.Status != 0 || pe.Timeout) {
				t.Errorf("cut: %+v, want a connection error", pe)
			}
			if name == "overloaded event" && pe.Status != 529 {
				t.Errorf("overloaded: %+v, want status 529", pe)
			}
			c.CheckNoLeaks(t, -1)
		})
	}
}

func TestOverloadedEventBeforeFirstTokenRetried(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.Reply{Text: "lost", Fault: llmtest.ErrorEventAfter(0, 529)}, llmtest.Text("found"))
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	if err != nil || r.Text != "found" {
		t.Errorf("got %q, %v; want the second reply", r.Text, err)
	}
}

func TestFirstTokenTimeout(t *testing.T) {
	for name, fault := range map[string]llmtest.Fault{
		"after headers":  llmtest.HangAfter(0),
		"before headers": llmtest.HangBeforeHeaders(),
	} {
		t.Run(name, func(t *testing.T) {
			srv, p, c := setup(t)
			baseline := runtime.NumGoroutine()
			srv.SetDefault(llmtest.Reply{Text: "never", Fault: fault})
			req := chat("hi")
			req.FirstTokenTimeout = 100 * time.Millisecond
			_, err := stream(t, context.Background(), llm.WithRetry(p, fast), req)
			pe := providerError(t, err)
			if !pe.Timeout || hyponema.ErrorCode(err) != hyponema.ETIMEOUT {
				t.Errorf("got %+v, want a timeout", pe)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests: a first-token timeout was retried", n)
			}
			c.CheckNoLeaks(t, baseline)
			waitIdle(t, srv)
		})
	}
}

func TestDeadlineMidStream(t *testing.T) {
	for name, wrap := range map[string]func(hyponema.LLM) hyponema.LLM{
		"provider":   func(l hyponema.LLM) hyponema.LLM { return l },
		"with retry": func(l hyponema.LLM) hyponema.LLM { return llm.WithRetry(l, fast) },
	} {
		t.Run(name, func(t *testing.T) {
			srv, p, c := setup(t)
			srv.SetDefault(llmtest.Reply{Text: "a b c", Fault: llmtest.HangAfter(1)})
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			r, err := stream(t, ctx, wrap(p), chat("hi"))
			pe := providerError(t, err)
			if !pe.Timeout || r.Text != "a " {
				t.Errorf("got %q then %+v, want the first chunk then a timeout", r.Text, pe)
			}
			c.CheckNoLeaks(t, -1)
			waitIdle(t, srv)
		})
	}
}

func TestMalformedEvent(t *testing.T) {
	srv, p, c := setup(t)
	srv.SetDefault(llmtest.Reply{Text: "fine then", Fault: llmtest.MalformedAfter(1)})
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Retryable() || r.Text != "fine " || !strings.Contains(pe.Message, "malformed") {
		t.Errorf("got %q then %+v, want the text then a non-retryable malformed error", r.Text, pe)
	}
	c.CheckNoLeaks(t, -1)
}

func TestKeyNeverInErrors(t *testing.T) {
	srv, p, _ := setup(t)
	echo := "invalid x-api-key " + key
	for _, reply := range []llmtest.Reply{
		{Status: 401, ErrorMessage: echo},
		{Status: 500, ErrorMessage: echo},
		{Text: "a b", Fault: llmtest.ErrorEventAfter(1, 529), ErrorMessage: echo},
		{Text: "a b", Fault: llmtest.MalformedAfter(1)},
	} {
		srv.Enqueue(reply)
		_, err := stream(t, context.Background(), p, chat("hi"))
		providerError(t, err)
	}
	srv.RequireAPIKey("another-key")
	_, err := stream(t, context.Background(), p, chat("hi"))
	if pe := providerError(t, err); pe.Status != 401 {
		t.Errorf("got %+v, want 401", pe)
	}
}

func TestEnvironmentIgnored(t *testing.T) {
	// The SDK would read these; the provider must take only its Config.
	t.Setenv("ANTHROPIC_API_KEY", "from-env")
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-From-Env: yes")
	srv, p, _ := setup(t)
	if _, err := stream(t, context.Background(), p, chat("hi")); err != nil {
		t.Fatal(err)
	}
	h := srv.LastRequest().Header
	if h.Get("X-From-Env") != "" || strings.Contains(h.Get("Authorization")+h.Get("X-Api-Key"), "from-env") {
		t.Errorf("environment leaked into the request: %v", h)
	}
}

func TestDefaultMaxTokens(t *testing.T) {
	srv, p, _ := setup(t)
	req := chat("hi")
	req.MaxOutputTokens = 0
	if _, err := stream(t, context.Background(), p, req); err != nil {
		t.Fatal(err)
	}
	if got := srv.LastRequest().MaxTokens; got != anthropic.DefaultMaxTokens {
		t.Errorf("max_tokens %d, want the default %d", got, anthropic.DefaultMaxTokens)
	}
}
