package local_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/local"
)

func reply(t *testing.T, req *hyponema.ChatRequest) llmtest.Result {
	t.Helper()
	s, err := local.New().StreamChat(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	r := llmtest.Collect(s)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

func user(texts ...string) []hyponema.ChatMessage {
	var msgs []hyponema.ChatMessage
	for i, t := range texts {
		if i > 0 {
			msgs = append(msgs, hyponema.ChatMessage{Role: hyponema.RoleAssistant, Text: "earlier reply"})
		}
		msgs = append(msgs, hyponema.ChatMessage{Role: hyponema.RoleUser, Text: t})
	}
	return msgs
}

func TestEchoesLabelledAndCounted(t *testing.T) {
	req := &hyponema.ChatRequest{Model: "hyponema-demo", System: "Be nice.", Messages: user("hello", "how are you?")}
	r := reply(t, req)
	want := local.Label + ` You said: "how are you?". (message 2)`
	if r.Text != want {
		t.Errorf("got %q, want %q", r.Text, want)
	}
	if r.TextChunks < 5 {
		t.Errorf("%d chunks, want word-sized chunks", r.TextChunks)
	}
	if r.FinishReason != llm.FinishStop || r.Usage == nil || r.Usage.OutputTokens != hyponema.EstimateTokens(want) ||
		r.Usage.InputTokens != hyponema.EstimateTokens("Be nice.")+hyponema.EstimateTokens("hello")+
			hyponema.EstimateTokens("earlier reply")+hyponema.EstimateTokens("how are you?") {
		t.Errorf("finish %q, usage %+v", r.FinishReason, r.Usage)
	}
	// The first message also points to help.
	if r := reply(t, &hyponema.ChatRequest{Model: "x", Messages: user("hi")}); !strings.Contains(r.Text, `(message 1) Say "help"`) {
		t.Errorf("first reply %q", r.Text)
	}
}

func TestDeterministic(t *testing.T) {
	req := &hyponema.ChatRequest{Model: "hyponema-demo", Messages: user("a", "b", "c")}
	first := reply(t, req)
	for range 5 {
		if r := reply(t, req); r.Text != first.Text || *r.Usage != *first.Usage || r.TextChunks != first.TextChunks {
			t.Fatalf("got %+v, then %+v", first, r)
		}
	}
}

func TestHelp(t *testing.T) {
	req := &hyponema.ChatRequest{Model: "hyponema-demo", Messages: user("  HELP "),
		Tools: []hyponema.ToolDefinition{{Name: "weather"}, {Name: "search"}}}
	r := reply(t, req)
	for _, want := range []string{local.Label, "not understand language", "/call", "weather, search", "HYPONEMA_OPENAI_API_KEY"} {
		if !strings.Contains(r.Text, want) {
			t.Errorf("help %q lacks %q", r.Text, want)
		}
	}
}

func TestEchoModel(t *testing.T) {
	text := "exactly  this, with  spaces and ünïcode "
	req := &hyponema.ChatRequest{Model: local.EchoModel, Messages: append(user("first", text),
		hyponema.ChatMessage{Role: hyponema.RoleAssistant, Text: "not me"}), MaxOutputTokens: 1}
	r := reply(t, req)
	if r.Text != text || r.FinishReason != llm.FinishStop {
		t.Errorf("got %q (%s), want %q", r.Text, r.FinishReason, text)
	}
}

func TestToolRoundTrip(t *testing.T) {
	tools := []hyponema.ToolDefinition{{Name: "weather"}}
	req := &hyponema.ChatRequest{Model: "hyponema-demo", Tools: tools, Messages: user(`/call weather {"city":"Paris"}`)}
	r := reply(t, req)
	if len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != "weather" || r.ToolCalls[0].Arguments != `{"city":"Paris"}` ||
		r.ToolCalls[0].ID == "" || r.FinishReason != llm.FinishToolCalls {
		t.Fatalf("got %+v", r)
	}
	req.Messages = append(req.Messages,
		hyponema.ChatMessage{Role: hyponema.RoleAssistant, Text: r.Text, ToolCalls: r.ToolCalls},
		hyponema.ChatMessage{Role: hyponema.RoleTool, ToolCallID: r.ToolCalls[0].ID, Text: "18°C"})
	r = reply(t, req)
	if want := local.Label + ` The tool weather answered: "18°C".`; r.Text != want || len(r.ToolCalls) != 0 {
		t.Errorf("got %q, want %q", r.Text, want)
	}
	// Unknown tools and bad arguments are explained, not called.
	for _, msg := range []string{"/call nope {}", "/call weather [1]"} {
		req.Messages = user(msg)
		if r := reply(t, req); len(r.ToolCalls) != 0 || !strings.HasPrefix(r.Text, local.Label) {
			t.Errorf("%s: got %+v", msg, r)
		}
	}
}

func TestMaxOutputTokens(t *testing.T) {
	req := &hyponema.ChatRequest{Model: "hyponema-demo", Messages: user(strings.Repeat("blah ", 100)), MaxOutputTokens: 10}
	r := reply(t, req)
	if r.FinishReason != llm.FinishLength || hyponema.EstimateTokens(r.Text) > 10 || !strings.HasPrefix(r.Text, "[Hyponema") {
		t.Errorf("got %q (%s)", r.Text, r.FinishReason)
	}
}

func TestContext(t *testing.T) {
	p := local.New()
	p.ChunkDelay = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	s, err := p.StreamChat(ctx, &hyponema.ChatRequest{Model: "hyponema-demo", Messages: user("one two three four five")})
	if err != nil {
		t.Fatal(err)
	}
	r := llmtest.Collect(s)
	var pe *hyponema.ProviderError
	if !errors.As(r.Err, &pe) || !pe.Timeout || r.Text == "" {
		t.Errorf("got %q then %v, want some text then a timeout", r.Text, r.Err)
	}
}
