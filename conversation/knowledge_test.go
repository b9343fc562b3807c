package conversation_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// knowledgeAgent publishes an agent on model with a knowledge base of two
// passages attached, and returns it with the returns passage's chunk.
func knowledgeAgent(t *testing.T, h *harness, model string, emb *llmtest.EmbeddingsServer) (*hyponema.Agent, *hyponema.Chunk) {
	t.Helper()
	ctx := context.Background()
	ks := store.NewKnowledgeService(h.db)
	kb := &hyponema.KnowledgeBase{WorkspaceID: h.ws, Name: "Help"}
	if err := ks.CreateKnowledgeBase(ctx, kb); err != nil {
		t.Fatal(err)
	}
	src := &hyponema.Source{WorkspaceID: h.ws, KnowledgeBaseID: kb.ID, Type: hyponema.SourceText, Name: "policy"}
	if err := ks.CreateSource(ctx, src, []byte("policy")); err != nil {
		t.Fatal(err)
	}
	texts := []string{
		"You may return any item within 30 days of delivery, unused and in its original packaging.",
		"Orders ship within two business days; express delivery arrives the next day.",
	}
	chunks := []*hyponema.Chunk{{Heading: "Returns", Text: texts[0]}, {Heading: "Shipping", Text: texts[1]}}
	if emb != nil {
		for _, c := range chunks {
			c.Embedding = embedding(c.Heading + "\n" + c.Text)
		}
	}
	if err := ks.ReplaceChunks(ctx, h.ws, src.ID, 0, chunks, "text/plain", 6); err != nil {
		t.Fatal(err)
	}
	a := h.draft("help desk", func(c *hyponema.AgentConfig) { c.Model = model })
	if _, err := store.NewAgentService(h.db).AttachKnowledgeBase(ctx, h.ws, kb.ID, a.ID); err != nil {
		t.Fatal(err)
	}
	return h.publish(a), chunks[0]
}

// embedding is llmtest's model in float32s, as the store keeps vectors.
func embedding(text string) []float32 {
	v := llmtest.Embed(text, 64)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestKnowledgeGroundedTurn: the user's question retrieves from the
// attached knowledge base; the passages reach the model's system prompt,
// and the reply's citations are in message.completed and stored with it.
func TestKnowledgeGroundedTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		for _, hybrid := range []bool{false, true} {
			name := map[bool]string{false: "words", true: "hybrid"}[hybrid]
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, db)
				h.e.Knowledge = store.NewKnowledgeService(db)
				var emb *llmtest.EmbeddingsServer
				if hybrid {
					emb = llmtest.NewEmbeddingsServer(t, 64)
					h.e.Embedder = openai.NewEmbedder(openai.Config{BaseURL: emb.URL()}, "test-embed")
				}

				// A model: the passages are in its system prompt.
				a, returns := knowledgeAgent(t, h, "openai/gpt-test", emb)
				h.openai.Enqueue(llmtest.Reply{Text: "Within 30 days [1]."})
				s := h.session(a.ID, nil)
				turn := h.send(s.ID, "How long do I have to return something?")
				evs := h.collect(s.ID, turn)
				req := h.openai.LastRequest()
				if req == nil || len(req.Messages) == 0 || req.Messages[0].Role != "system" ||
					!strings.Contains(req.Messages[0].Content, "within 30 days of delivery") ||
					!strings.Contains(req.Messages[0].Content, "(Returns)") {
					t.Fatalf("system prompt lacks the passage: %+v", req)
				}
				if i := strings.Index(req.Messages[0].Content, "30 days"); i > strings.Index(req.Messages[0].Content, "two business days") &&
					strings.Contains(req.Messages[0].Content, "two business days") {
					t.Error("the returns passage is not first")
				}
				if hybrid && len(emb.Batches()) == 0 {
					t.Error("the question was not embedded")
				}
				var completed *hyponema.SessionEvent
				for _, ev := range evs {
					if ev.Type == hyponema.EventMessageCompleted {
						completed = ev
					}
				}
				if completed == nil {
					t.Fatalf("no message.completed in %s", types(evs))
				}
				var done hyponema.Message
				if err := json.Unmarshal(completed.Data, &done); err != nil {
					t.Fatal(err)
				}
				want := hyponema.Citation{ChunkID: returns.ID, SourceID: returns.SourceID, KnowledgeBaseID: returns.KnowledgeBaseID}
				if len(done.Citations) == 0 || done.Citations[0] != want {
					t.Fatalf("message.completed citations %+v, want %+v first (%s)", done.Citations, want, completed.Data)
				}
				msgs := h.transcript(s.ID)
				last := msgs[len(msgs)-1]
				if last.Role != hyponema.RoleAssistant || !slices.Equal(last.Citations, done.Citations) {
					t.Fatalf("stored reply %+v", last)
				}
				if msgs[len(msgs)-2].Citations != nil {
					t.Error("the user's message has citations")
				}

				// The local engine answers with the best passage.
				a, _ = knowledgeAgent(t, h, "local/hyponema-demo", emb)
				s = h.session(a.ID, nil)
				msg, err := h.send(s.ID, "When will my order ship?").Wait(context.Background())
				if err != nil || !strings.Contains(msg.Text, "two business days") || !strings.Contains(msg.Text, "(Shipping)") ||
					len(msg.Citations) == 0 {
					t.Fatalf("local reply %v %+v", err, msg)
				}
			})
		}
	})
}
