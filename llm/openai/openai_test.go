package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
)

const key = "sk-test-7f3c9a1b2d4e5f60"

// fast retries, so that tests of retrying take milliseconds.
var fast = llm.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Second}

// setup starts a fake server and a provider that talks to it through a
// client that counts its connections.
func setup(t *testing.T) (*llmtest.OpenAIServer, *openai.Provider, *llmtest.Client) {
	t.Helper()
	srv := llmtest.NewOpenAIServer(t)
	c := llmtest.NewClient()
	return srv, openai.New(openai.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: c.Client}), c
}

func chat(text string) *hyponema.ChatRequest {
	return &hyponema.ChatRequest{
		Model:           "gpt-test",
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

// providerError asserts that err is a *hyponema.ProviderError and returns it.
func providerError(t *testing.T, err error) *hyponema.ProviderError {
	t.Helper()
	var pe *hyponema.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *hyponema.ProviderError", err, err)
	}
	if pe.Provider != "openai" {
		t.Errorf("Provider = %q, want openai", pe.Provider)
	}
	if strings.Contains(pe.Error(), key) || strings.Contains(hyponema.ErrorMessage(pe), key) {
		t.Errorf("the API key leaked into the error: %v", pe)
	}
	return pe
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
		t.Errorf("usage %+v, want 12 in, 5 out", r.Usage)
	}
	if r.FinishReason != llm.FinishStop {
		t.Errorf("finish reason %q, want stop", r.FinishReason)
	}
	c.CheckNoLeaks(t, -1)
}

func TestDelayBetweenChunks(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.Reply{Text: "one two three", Delay: 30 * time.Millisecond})
	start := time.Now()
	r, err := stream(t, context.Background(), p, chat("hi"))
	if err != nil || r.TextChunks != 3 {
		t.Fatalf("%d chunks, %v", r.TextChunks, err)
	}
	if elapsed := time.Since(start); elapsed < 50*time.Millisecond {
		t.Errorf("three chunks 30ms apart took %v", elapsed)
	}
}

func TestRequestShape(t *testing.T) {
	srv, p, _ := setup(t)
	schema := json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)
	req := &hyponema.ChatRequest{
		Model:  "llama3.1:8b",
		System: "You are a weather bot.",
		Messages: []hyponema.ChatMessage{
			{Role: hyponema.RoleUser, Text: "Weather in Paris?"},
			{Role: hyponema.RoleAssistant, ToolCalls: []hyponema.ToolCall{{ID: "call_1", Name: "weather", Arguments: `{"city":"Paris"}`}}},
			{Role: hyponema.RoleTool, ToolCallID: "call_1", Text: "18°C, sunny"},
			{Role: hyponema.RoleAssistant, Text: "It is 18°C and sunny."},
			{Role: hyponema.RoleUser, Text: "Thanks!"},
		},
		Temperature:     0,
		MaxOutputTokens: 77,
		Tools:           []hyponema.ToolDefinition{{Name: "weather", Description: "Current weather", Parameters: schema}},
	}
	if _, err := stream(t, context.Background(), p, req); err != nil {
		t.Fatal(err)
	}
	got := srv.LastRequest()
	if h := got.Header.Get("Authorization"); h != "Bearer "+key {
		t.Errorf("Authorization = %q, want the key as a bearer token", h)
	}
	if got.Model != "llama3.1:8b" || !got.Stream || got.StreamOptions == nil || !got.StreamOptions.IncludeUsage {
		t.Errorf("model %q, stream %v, stream_options %+v: want the model, streaming, and usage included", got.Model, got.Stream, got.StreamOptions)
	}
	if got.Temperature == nil || *got.Temperature != 0 {
		t.Errorf("temperature %v, want 0 sent explicitly", got.Temperature)
	}
	if got.MaxTokens == nil || *got.MaxTokens != 77 || got.MaxCompletionTokens != nil {
		t.Errorf("max_tokens %v, max_completion_tokens %v: want max_tokens 77 for a compatible server", got.MaxTokens, got.MaxCompletionTokens)
	}
	roles := []string{}
	for _, m := range got.Messages {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "system,user,assistant,tool,assistant,user" {
		t.Fatalf("roles %v", roles)
	}
	m := got.Messages
	if m[0].Content != "You are a weather bot." || m[1].Content != "Weather in Paris?" || m[5].Content != "Thanks!" {
		t.Errorf("system or user text wrong: %+v", m)
	}
	if len(m[2].ToolCalls) != 1 || m[2].ToolCalls[0].ID != "call_1" || m[2].ToolCalls[0].Function.Name != "weather" ||
		m[2].ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || m[2].ToolCalls[0].Type != "function" {
		t.Errorf("assistant tool calls %+v", m[2].ToolCalls)
	}
	if !strings.Contains(string(got.Raw), `"role":"assistant"`) || strings.Contains(string(got.Raw), `"content":""`) {
		t.Errorf("an assistant message with only tool calls must have no content: %s", got.Raw)
	}
	if m[3].ToolCallID != "call_1" || m[3].Content != "18°C, sunny" || m[4].Content != "It is 18°C and sunny." {
		t.Errorf("tool or assistant message wrong: %+v %+v", m[3], m[4])
	}
	if len(got.Tools) != 1 || got.Tools[0].Type != "function" || got.Tools[0].Function.Name != "weather" ||
		got.Tools[0].Function.Description != "Current weather" {
		t.Fatalf("tools %+v", got.Tools)
	}
	var params, want any
	json.Unmarshal(got.Tools[0].Function.Parameters, &params)
	json.Unmarshal(schema, &want)
	if fmt.Sprint(params) != fmt.Sprint(want) {
		t.Errorf("parameters %s, want %s", got.Tools[0].Function.Parameters, schema)
	}
}

func TestNoKeyNoAuthorization(t *testing.T) {
	srv := llmtest.NewOpenAIServer(t)
	p := openai.New(openai.Config{BaseURL: srv.URL()})
	if _, err := stream(t, context.Background(), p, chat("hi")); err != nil {
		t.Fatal(err)
	}
	if h := srv.LastRequest().Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization %q sent without a key", h)
	}
}

func TestEnvironmentIgnored(t *testing.T) {
	// The SDK's NewClient would read these; the provider must take only
	// its Config.
	t.Setenv("OPENAI_API_KEY", "from-env")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-From-Env: yes")
	t.Setenv("OPENAI_ORG_ID", "org-from-env")
	srv := llmtest.NewOpenAIServer(t)
	p := openai.New(openai.Config{BaseURL: srv.URL()})
	if _, err := stream(t, context.Background(), p, chat("hi")); err != nil {
		t.Fatal(err)
	}
	h := srv.LastRequest().Header
	if h.Get("X-From-Env") != "" || h.Get("Authorization") != "" || h.Get("Openai-Organization") != "" {
		t.Errorf("environment leaked into the request: %v", h)
	}
}

func TestParallelToolCallDeltas(t *testing.T) {
	srv, p, _ := setup(t)
	calls := []hyponema.ToolCall{
		{ID: "call_a", Name: "weather", Arguments: `{"city":"Zürich","days":3}`},
		{ID: "call_b", Name: "search", Arguments: `{"query":"what is \"SSE\"?","limit":5}`},
	}
	srv.Enqueue(llmtest.Reply{Text: "Checking.", ToolCalls: calls, ArgChunks: 7, Interleave: true})
	r, err := stream(t, context.Background(), p, chat("weather and search"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Checking." {
		t.Errorf("text %q", r.Text)
	}
	if len(r.ToolCalls) != 2 || r.ToolCalls[0] != calls[0] || r.ToolCalls[1] != calls[1] {
		t.Errorf("tool calls %+v, want %+v", r.ToolCalls, calls)
	}
	if r.FinishReason != llm.FinishToolCalls {
		t.Errorf("finish reason %q, want tool_calls", r.FinishReason)
	}
}

func TestToolCallWithoutArguments(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.Reply{ToolCalls: []hyponema.ToolCall{{Name: "now"}}})
	r, err := stream(t, context.Background(), p, chat("time?"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != "now" || r.ToolCalls[0].Arguments != "{}" || r.ToolCalls[0].ID == "" {
		t.Errorf("tool calls %+v", r.ToolCalls)
	}
}

func TestServerErrorRetriedThenSucceeds(t *testing.T) {
	srv, p, c := setup(t)
	baseline := runtime.NumGoroutine()
	srv.Enqueue(llmtest.Fail(500), llmtest.Fail(503), llmtest.Text("Third time lucky."))
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Third time lucky." {
		t.Errorf("text %q", r.Text)
	}
	if n := len(srv.Requests()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	c.CheckNoLeaks(t, baseline)
}

func TestServerErrorGivesUp(t *testing.T) {
	srv, p, c := setup(t)
	srv.SetDefault(llmtest.Reply{Status: 500, ErrorMessage: "upstream exploded"})
	_, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 500 || hyponema.ErrorCode(err) != hyponema.EPROVIDER {
		t.Errorf("status %d, code %s: want 500, EPROVIDER", pe.Status, hyponema.ErrorCode(err))
	}
	if strings.Contains(pe.Message, "exploded") {
		t.Errorf("Message %q holds the upstream body", pe.Message)
	}
	if !strings.Contains(pe.Error(), "exploded") {
		t.Errorf("Error() %q lacks the upstream body for logs", pe.Error())
	}
	if n := len(srv.Requests()); n != fast.MaxAttempts {
		t.Errorf("%d requests, want %d", n, fast.MaxAttempts)
	}
	c.CheckNoLeaks(t, -1)
}

func TestRateLimitRetryAfterHonoured(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.Reply{Status: 429, Header: http.Header{"Retry-After-Ms": {"300"}}}, llmtest.Text("ok"))
	start := time.Now()
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 250*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("retried after %v, want about 300ms", elapsed)
	}
	if r.Text != "ok" || len(srv.Requests()) != 2 {
		t.Errorf("text %q after %d requests", r.Text, len(srv.Requests()))
	}
}

func TestRateLimitError(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.RateLimited("7"))
	_, err := stream(t, context.Background(), p, chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 429 || pe.RetryAfter != 7*time.Second || hyponema.ErrorCode(err) != hyponema.ERATELIMITED || !pe.Retryable() {
		t.Errorf("got %+v (code %s), want a retryable 429 asking for 7s", pe, hyponema.ErrorCode(err))
	}
}

func TestRetryAfterBeyondMaxDelayNotRetried(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.RateLimited("30"), llmtest.Text("too soon"))
	start := time.Now()
	_, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 429 || pe.RetryAfter != 30*time.Second || len(srv.Requests()) != 1 || time.Since(start) > time.Second {
		t.Errorf("got %v after %d requests: want the 429 at once", err, len(srv.Requests()))
	}
}

func TestBadRequestNotRetried(t *testing.T) {
	srv, p, _ := setup(t)
	srv.SetDefault(llmtest.Fail(400))
	_, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 400 || pe.Retryable() || len(srv.Requests()) != 1 {
		t.Errorf("got %v after %d requests, want one 400", err, len(srv.Requests()))
	}
}

func TestErrorAfterFirstTokenNotRetried(t *testing.T) {
	for name, fault := range map[string]llmtest.Fault{
		"error event": llmtest.ErrorEventAfter(2, 500),
		"cut":         llmtest.CutAfter(2),
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
			if name == "error event" && pe.Status != 500 {
				t.Errorf("error event: %+v, want status 500", pe)
			}
			c.CheckNoLeaks(t, -1)
		})
	}
}

func TestErrorEventBeforeFirstTokenRetried(t *testing.T) {
	srv, p, _ := setup(t)
	srv.Enqueue(llmtest.Reply{Text: "lost", Fault: llmtest.ErrorEventAfter(0, 500)}, llmtest.Text("found"))
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
			start := time.Now()
			_, err := stream(t, context.Background(), llm.WithRetry(p, fast), req)
			pe := providerError(t, err)
			if !pe.Timeout || hyponema.ErrorCode(err) != hyponema.ETIMEOUT {
				t.Errorf("got %+v, want a timeout", pe)
			}
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("took %v", elapsed)
			}
			if n := len(srv.Requests()); n != 1 {
				t.Errorf("%d requests: a first-token timeout was retried", n)
			}
			c.CheckNoLeaks(t, baseline)
			waitIdle(t, srv)
		})
	}
}

// waitIdle waits until the server has no request in progress: the client
// hung up on the ones that hang.
func waitIdle(t *testing.T, srv interface{ Active() int }) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); srv.Active() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server still handles %d requests: a connection was not closed", srv.Active())
		}
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

func TestClientTimeout(t *testing.T) {
	srv := llmtest.NewOpenAIServer(t)
	srv.SetDefault(llmtest.Reply{Fault: llmtest.HangBeforeHeaders()})
	p := openai.New(openai.Config{APIKey: key, BaseURL: srv.URL(), HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	_, err := stream(t, context.Background(), p, chat("hi"))
	if pe := providerError(t, err); !pe.Timeout {
		t.Errorf("got %+v, want a timeout", pe)
	}
}

func TestMalformedChunk(t *testing.T) {
	srv, p, c := setup(t)
	srv.SetDefault(llmtest.Reply{Text: "fine then", Fault: llmtest.MalformedAfter(1)})
	r, err := stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	pe := providerError(t, err)
	if pe.Retryable() || pe.Timeout || r.Text != "fine " {
		t.Errorf("got %q then %+v, want the text then a non-retryable error", r.Text, pe)
	}
	if !strings.Contains(pe.Message, "malformed") {
		t.Errorf("Message %q", pe.Message)
	}
	// Malformed before any text: still not retried, it would only repeat.
	srv.SetDefault(llmtest.Reply{Text: "x", Fault: llmtest.MalformedAfter(0)})
	_, err = stream(t, context.Background(), llm.WithRetry(p, fast), chat("hi"))
	providerError(t, err)
	if n := len(srv.Requests()); n != 2 {
		t.Errorf("%d requests, want 2 (no retry)", n)
	}
	c.CheckNoLeaks(t, -1)
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := openai.New(openai.Config{APIKey: key, BaseURL: "http://" + addr + "/v1"})
	_, err = stream(t, context.Background(), p, chat("hi"))
	pe := providerError(t, err)
	if pe.Status != 0 || pe.Timeout || !pe.Retryable() || hyponema.ErrorCode(err) != hyponema.EPROVIDER {
		t.Errorf("got %+v, want a retryable connection error", pe)
	}
}

func TestKeyNeverInErrors(t *testing.T) {
	srv, p, _ := setup(t)
	echo := "Incorrect API key provided: " + key
	for _, reply := range []llmtest.Reply{
		{Status: 401, ErrorMessage: echo},
		{Status: 500, ErrorMessage: echo},
		{Text: "a b", Fault: llmtest.ErrorEventAfter(1, 500), ErrorMessage: echo},
		{Text: "a b", Fault: llmtest.MalformedAfter(1)},
	} {
		srv.Enqueue(reply)
		_, err := stream(t, context.Background(), p, chat("hi"))
		providerError(t, err) // checks Error() and the domain message
	}
	srv.RequireAPIKey("another-key")
	_, err := stream(t, context.Background(), p, chat("hi"))
	if pe := providerError(t, err); pe.Status != 401 || !strings.Contains(pe.Message, "API key") {
		t.Errorf("got %+v, want 401 naming the key", pe)
	}
}

func TestInvalidRequest(t *testing.T) {
	_, p, _ := setup(t)
	req := chat("hi")
	req.Tools = []hyponema.ToolDefinition{{Name: "broken", Parameters: json.RawMessage(`{not json`)}}
	_, err := stream(t, context.Background(), llm.WithRetry(p, fast), req)
	if pe := providerError(t, err); pe.Retryable() {
		t.Errorf("got %+v, want a non-retryable error", pe)
	}
}

func TestConcurrentStreams(t *testing.T) {
	srv, p, c := setup(t)
	srv.Handle(func(r *llmtest.OpenAIRequest) llmtest.Reply {
		return llmtest.Reply{Text: "echo " + r.Messages[len(r.Messages)-1].Content, Chunks: 5}
	})
	l := llm.WithRetry(p, fast)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			msg := fmt.Sprintf("message %d", i)
			r, err := stream(t, context.Background(), l, chat(msg))
			if err == nil && r.Text != "echo "+msg {
				err = fmt.Errorf("got %q for %q", r.Text, msg)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(srv.Requests()); got != n {
		t.Errorf("%d requests, want %d", got, n)
	}
	c.CheckNoLeaks(t, -1)
}

func BenchmarkOpenAIStream(b *testing.B) {
	srv := llmtest.NewOpenAIServer(b)
	srv.SetDefault(llmtest.Reply{Text: strings.Repeat("word ", 20), Chunks: 20})
	p := openai.New(openai.Config{APIKey: key, BaseURL: srv.URL()})
	req := chat("hi")
	b.ReportAllocs()
	for b.Loop() {
		s, err := p.StreamChat(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		r := llmtest.Collect(s)
		if r.Err != nil || r.TextChunks != 20 {
			b.Fatalf("%d chunks, %v", r.TextChunks, r.Err)
		}
	}
}
