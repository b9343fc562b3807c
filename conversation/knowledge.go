package conversation

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hyponema/hyponema"
)

// embedTimeout bounds embedding the user's message: past it the turn
// retrieves by words alone rather than keep the user waiting.
const embedTimeout = 5 * time.Second

// retrieve finds the passages of the version's knowledge bases for the
// user's message, within the agent's token budget. Retrieval failing
// never fails the turn: the model answers without passages.
func (t *turn) retrieve(ctx context.Context) []hyponema.SearchHit {
	e := t.e
	cfg := t.pinned.version.Config
	if len(cfg.KnowledgeBaseIDs) == 0 || e.Knowledge == nil {
		return nil
	}
	q := hyponema.SearchQuery{KnowledgeBaseIDs: cfg.KnowledgeBaseIDs, Text: t.user.Text, TopK: cfg.KnowledgeTopK}
	if len(q.Text) > hyponema.MaxQueryLen {
		q.Text = q.Text[:hyponema.MaxQueryLen]
	}
	if e.Embedder != nil {
		ectx, cancel := context.WithTimeout(ctx, embedTimeout)
		vecs, err := e.Embedder.Embed(ectx, []string{q.Text})
		cancel()
		if err == nil && len(vecs) == 1 {
			q.Embedding = vecs[0]
		} else {
			e.Logger.WarnContext(ctx, "embedding the question; retrieving by words only", "session_id", t.session.ID, "error", err)
		}
	}
	hits, err := e.Knowledge.Search(ctx, t.session.WorkspaceID, q)
	if err != nil {
		e.Logger.WarnContext(ctx, "knowledge retrieval", "session_id", t.session.ID, "error", err)
		return nil
	}
	used, out := 0, hits[:0]
	for _, h := range hits {
		cost := hyponema.EstimateTokens(h.Text)
		if used+cost > cfg.KnowledgeTokenBudget && len(out) > 0 {
			break
		}
		used += cost
		out = append(out, h)
	}
	return out
}

// knowledgePrompt is what the model is told of the passages.
func knowledgePrompt(hits []hyponema.SearchHit) string {
	var b strings.Builder
	b.WriteString("\n\n## Knowledge\nPassages from the knowledge base that may answer the user's latest message. " +
		"Answer from them when they are relevant, and say so when they do not hold the answer; do not invent facts beyond them.\n")
	for i, h := range hits {
		fmt.Fprintf(&b, "\n[%d]", i+1)
		if h.Heading != "" {
			fmt.Fprintf(&b, " (%s)", h.Heading)
		}
		b.WriteString("\n")
		b.WriteString(strings.TrimSpace(h.Text))
		b.WriteString("\n")
	}
	return b.String()
}

// citations names the passages a reply was given.
func citations(hits []hyponema.SearchHit) []hyponema.Citation {
	out := make([]hyponema.Citation, len(hits))
	for i, h := range hits {
		out[i] = hyponema.Citation{ChunkID: h.ChunkID, SourceID: h.SourceID, KnowledgeBaseID: h.KnowledgeBaseID}
	}
	return out
}
