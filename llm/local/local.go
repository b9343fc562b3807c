// Package local is Hyponema's built-in offline engine. It is NOT a language
// model and says so in every reply: it follows a few fixed rules, so that
// a newcomer can try Hyponema without any model provider, and so that
// tests and demos get replies that are the same every time.
//
// What it does, for any model name (agents use local/hyponema-demo):
//   - "help" (or "/help", "?") explains what it is and how to get real
//     replies;
//   - "/call <tool> <JSON arguments>" calls one of the agent's tools, and
//     once the tool has answered it reports what the tool said, so that
//     tool calling can be tried offline;
//   - when the agent has knowledge bases, a message gets the passage that
//     retrieval ranked first, quoted;
//   - anything else is echoed back, quoted, with the number of the user's
//     message in the conversation.
//
// The model "echo" is a hook for tests: it replies exactly the last user
// message, without label.
//
// Replies stream word by word, with Usage estimated by
// hyponema.EstimateTokens.
package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
)

// name is the provider's name in errors and in agents' model names.
const name = "local"

// Label starts every reply but the echo model's, so that no one takes the
// engine for a model.
const Label = "[Hyponema local engine — not a language model]"

// EchoModel is the model that replies exactly the last user message.
const EchoModel = "echo"

// maxQuote bounds how much of a message a reply quotes back, in runes.
const maxQuote = 300

// maxPassage bounds how much of a knowledge-base passage a reply quotes.
const maxPassage = 1500

// Provider is the local engine. It is safe for concurrent use.
type Provider struct {
	// ChunkDelay is waited before each chunk after the first, for demos
	// that want the reply to appear as if typed (default 0: no waiting).
	ChunkDelay time.Duration
}

var _ hyponema.LLM = (*Provider)(nil)

// New returns the local engine.
func New() *Provider { return &Provider{} }

// StreamChat implements hyponema.LLM. It never fails but for ctx.
func (p *Provider) StreamChat(ctx context.Context, req *hyponema.ChatRequest) (hyponema.ChatStream, error) {
	if ctx.Err() != nil {
		return nil, ctxError(ctx)
	}
	text, calls := respond(req)
	finish := llm.FinishStop
	if len(calls) > 0 {
		finish = llm.FinishToolCalls
	}
	// Keep to the agent's bound like a model would, on a word boundary;
	// the echo model is exact by design, so it is left alone.
	if req.Model != EchoModel && req.MaxOutputTokens > 0 && hyponema.EstimateTokens(text) > req.MaxOutputTokens {
		text = cut(text, req.MaxOutputTokens)
		finish = llm.FinishLength
		calls = nil
	}

	usage := &hyponema.Usage{InputTokens: hyponema.EstimateTokens(req.System), OutputTokens: hyponema.EstimateTokens(text)}
	for _, m := range req.Messages {
		usage.InputTokens += hyponema.EstimateTokens(m.Text)
		for _, tc := range m.ToolCalls {
			usage.InputTokens += hyponema.EstimateTokens(tc.Name) + hyponema.EstimateTokens(tc.Arguments)
		}
	}
	for _, tc := range calls {
		usage.OutputTokens += hyponema.EstimateTokens(tc.Name) + hyponema.EstimateTokens(tc.Arguments)
	}

	chunks := make([]hyponema.ChatChunk, 0, 16)
	for _, w := range words(text) {
		chunks = append(chunks, hyponema.ChatChunk{Text: w})
	}
	chunks = append(chunks, hyponema.ChatChunk{ToolCalls: calls, Usage: usage, FinishReason: finish})
	return &stream{ctx: ctx, chunks: chunks, delay: p.ChunkDelay}, nil
}

// respond decides the reply to a request.
func respond(req *hyponema.ChatRequest) (string, []hyponema.ToolCall) {
	var last *hyponema.ChatMessage
	turn := 0 // the number of the user's latest message
	for i := range req.Messages {
		if req.Messages[i].Role == hyponema.RoleUser {
			last = &req.Messages[i]
			turn++
		}
	}
	if req.Model == EchoModel {
		if last == nil {
			return "", nil
		}
		return last.Text, nil
	}

	// Tools that have just answered: say what they said.
	if results := trailingToolResults(req.Messages); len(results) > 0 {
		var sb strings.Builder
		sb.WriteString(Label)
		for _, r := range results {
			fmt.Fprintf(&sb, " The tool %s answered: \"%s\".", r.name, quote(r.text))
		}
		return sb.String(), nil
	}

	if last == nil {
		return Label + ` Hello! I am Hyponema's offline engine, not a language model. Say "help" to learn what I can do.`, nil
	}
	said := strings.TrimSpace(last.Text)
	switch strings.ToLower(said) {
	case "help", "/help", "?", "help?", "help!":
		return help(req), nil
	case "":
		return fmt.Sprintf("%s You said nothing. (message %d)", Label, turn), nil
	}
	if rest, ok := strings.CutPrefix(said, "/call "); ok {
		return call(req, strings.TrimSpace(rest), turn)
	}
	if len(req.Passages) > 0 {
		// The best passage that retrieval found, as it is: the engine
		// cannot read it, but a question about a document gets the part
		// of the document that is most likely to answer it.
		best := req.Passages[0]
		where := ""
		if best.Heading != "" {
			where = " (" + best.Heading + ")"
		}
		text := strings.Join(strings.Fields(best.Text), " ")
		if r := []rune(text); len(r) > maxPassage {
			text = string(r[:maxPassage]) + "…"
		}
		return fmt.Sprintf("%s The best passage I found in the knowledge base%s: \"%s\"", Label, where, text), nil
	}
	reply := fmt.Sprintf("%s You said: \"%s\". (message %d)", Label, quote(said), turn)
	if turn == 1 {
		reply += ` Say "help" to learn what I can do.`
	}
	return reply, nil
}

// help explains the engine, and names the agent's tools.
func help(req *hyponema.ChatRequest) string {
	var sb strings.Builder
	sb.WriteString(Label)
	sb.WriteString(" I am Hyponema's built-in offline engine. I do not understand language: I follow a few fixed rules, so that Hyponema can be tried without a model provider.")
	sb.WriteString(` I echo what you say and count your messages; "help" gives this text.`)
	if len(req.Tools) > 0 {
		names := make([]string, len(req.Tools))
		for i, t := range req.Tools {
			names[i] = t.Name
		}
		fmt.Fprintf(&sb, ` To try a tool, send "/call <tool> <JSON arguments>"; this agent's tools: %s.`, strings.Join(names, ", "))
	}
	sb.WriteString(" For real replies, give the agent an openai/… or anthropic/… model and set HYPONEMA_OPENAI_API_KEY or HYPONEMA_ANTHROPIC_API_KEY, or point HYPONEMA_OPENAI_BASE_URL at your own Ollama, vLLM or llama.cpp server.")
	return sb.String()
}

// call answers "/call <tool> <arguments>".
func call(req *hyponema.ChatRequest, rest string, turn int) (string, []hyponema.ToolCall) {
	toolName, args, _ := strings.Cut(rest, " ")
	args = strings.TrimSpace(args)
	if args == "" {
		args = "{}"
	}
	i := slices.IndexFunc(req.Tools, func(t hyponema.ToolDefinition) bool { return t.Name == toolName })
	if i < 0 {
		names := make([]string, len(req.Tools))
		for i, t := range req.Tools {
			names[i] = t.Name
		}
		if len(names) == 0 {
			return fmt.Sprintf("%s This agent has no tools, so there is no %q to call.", Label, toolName), nil
		}
		return fmt.Sprintf("%s This agent has no tool %q; its tools: %s.", Label, toolName, strings.Join(names, ", ")), nil
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(args), &obj); err != nil || obj == nil {
		return fmt.Sprintf("%s The arguments for %s must be a JSON object, such as {\"city\": \"Paris\"}.", Label, toolName), nil
	}
	tc := hyponema.ToolCall{ID: fmt.Sprintf("call_local_%d", turn), Name: toolName, Arguments: args}
	return fmt.Sprintf("%s Calling the tool %s.", Label, toolName), []hyponema.ToolCall{tc}
}

type toolResult struct{ name, text string }

// trailingToolResults returns the tool results that end the history (the
// answers to the engine's last calls), with the names of their tools.
func trailingToolResults(msgs []hyponema.ChatMessage) []toolResult {
	start := len(msgs)
	for start > 0 && msgs[start-1].Role == hyponema.RoleTool {
		start--
	}
	if start == len(msgs) {
		return nil
	}
	names := map[string]string{}
	for _, m := range msgs[:start] {
		for _, tc := range m.ToolCalls {
			names[tc.ID] = tc.Name
		}
	}
	var out []toolResult
	for _, m := range msgs[start:] {
		n := names[m.ToolCallID]
		if n == "" {
			n = "(unknown)"
		}
		out = append(out, toolResult{name: n, text: m.Text})
	}
	return out
}

// quote shortens s for quoting back.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuote {
		return s
	}
	r := []rune(s)
	return string(r[:maxQuote]) + "…"
}

// cut shortens text on a word boundary to about maxTokens tokens.
func cut(text string, maxTokens int) string {
	out := ""
	for _, w := range words(text) {
		if hyponema.EstimateTokens(out+w) > maxTokens {
			break
		}
		out += w
	}
	return out
}

// words splits text into word-sized chunks, each with the spaces after it,
// so that joining them gives the text back.
func words(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] != ' ' && text[i-1] == ' ' {
			out = append(out, text[start:i])
			start = i
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// stream gives prepared chunks.
type stream struct {
	ctx    context.Context
	chunks []hyponema.ChatChunk
	delay  time.Duration
	sent   int
}

// Next implements hyponema.ChatStream.
func (s *stream) Next() (hyponema.ChatChunk, error) {
	if s.ctx.Err() != nil {
		return hyponema.ChatChunk{}, ctxError(s.ctx)
	}
	if s.sent == len(s.chunks) {
		return hyponema.ChatChunk{}, io.EOF
	}
	if s.sent > 0 && s.delay > 0 {
		t := time.NewTimer(s.delay)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return hyponema.ChatChunk{}, ctxError(s.ctx)
		case <-t.C:
		}
	}
	c := s.chunks[s.sent]
	s.sent++
	return c, nil
}

// Close implements hyponema.ChatStream; there is nothing to release.
func (s *stream) Close() error { return nil }

// ctxError is the error for a cancelled or expired context.
func ctxError(ctx context.Context) error {
	e := &hyponema.ProviderError{Provider: name, Message: "the request was cancelled", Err: ctx.Err()}
	if ctx.Err() == context.DeadlineExceeded {
		e.Timeout = true
		e.Message = "the reply did not finish in time"
	}
	return e
}
