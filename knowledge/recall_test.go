package knowledge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/knowledge"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// The retrieval quality that the knowledge base promises on the small set
// in testdata/recall: the share of its questions whose answering passage is
// among the first recallK hits.
const (
	recallK    = 3
	minRecall  = 0.9
	recallDims = 384 // of the test embeddings server's vectors
)

// recallDocs are the documents of testdata/recall, each ingested as the
// kind of source that such a document usually is.
var recallDocs = []struct {
	name, typ, contentType string
}{
	{"returns.md", hyponema.SourceFile, "text/markdown"},
	{"shipping.html", hyponema.SourceFile, "text/html"},
	{"warranty.txt", hyponema.SourceText, "text/plain"},
	{"plans.csv", hyponema.SourceFile, "text/csv"},
	{"account.md", hyponema.SourceText, "text/markdown"},
}

// recallQuestion is one question of testdata/recall/questions.json: the
// passage that answers it is the chunk of the source named Source whose
// text holds Answer.
type recallQuestion struct {
	Question string `json:"question"`
	Source   string `json:"source"`
	Answer   string `json:"answer"`
}

// TestRecall measures recall@3 of KnowledgeService.Search on the documents
// and questions of testdata/recall, ingested by the ingestion job, with
// lexical search only and with embeddings from a real (if simple)
// embeddings API server, on each database.
func TestRecall(t *testing.T) {
	questions := readRecallQuestions(t)
	docs := map[string][]byte{}
	for _, d := range recallDocs {
		b, err := os.ReadFile(filepath.Join("testdata", "recall", d.name))
		if err != nil {
			t.Fatal(err)
		}
		docs[d.name] = b
	}
	for _, q := range questions {
		if _, ok := docs[q.Source]; !ok {
			t.Fatalf("question %q: unknown source %q", q.Question, q.Source)
		}
	}

	for _, mode := range []string{"lexical", "hybrid"} {
		t.Run(mode, func(t *testing.T) {
			storetest.ForEachDialectDSN(t, func(t *testing.T, db *store.DB, dsn string) {
				ctx := context.Background()
				ks := store.NewKnowledgeService(db)
				var (
					emb      *llmtest.EmbeddingsServer
					embedder hyponema.Embedder // nil: lexical search only
				)
				if mode == "hybrid" {
					emb = llmtest.NewEmbeddingsServer(t, recallDims)
					embedder = openai.NewEmbedder(openai.Config{BaseURL: emb.URL()}, "test-embedding")
				}
				startIngestQueue(t, db, dsn, &knowledge.Ingester{Store: ks, Embedder: embedder})

				w, kb := newKnowledgeBase(t, db, ks)
				names := map[string]string{} // source ID → file name
				ids := map[string]string{}   // file name → source ID
				var sources []*hyponema.Source
				for _, d := range recallDocs {
					src := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: d.typ, Name: d.name, ContentType: d.contentType}
					if err := ks.CreateSource(ctx, src, docs[d.name]); err != nil {
						t.Fatalf("%s: %v", d.name, err)
					}
					names[src.ID], ids[d.name] = d.name, src.ID
					sources = append(sources, src)
				}
				for _, src := range sources {
					got := waitSource(t, ks, src)
					if got.Status != hyponema.SourceReady {
						t.Fatalf("%s: %s: %s", src.Name, got.Status, got.Error)
					}
					t.Logf("%s: %d chunks", src.Name, got.ChunkCount)
				}
				if emb != nil && len(emb.Batches()) == 0 {
					t.Fatal("the chunks were not embedded")
				}
				checkRecallAnswers(t, ks, w.ID, kb.ID, ids, questions)

				hits := 0
				for _, q := range questions {
					sq := hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: q.Question, TopK: recallK}
					if embedder != nil {
						vecs, err := embedder.Embed(ctx, []string{q.Question})
						if err != nil || len(vecs) != 1 {
							t.Fatalf("embedding %q: %d vectors, %v", q.Question, len(vecs), err)
						}
						sq.Embedding = vecs[0]
					}
					found, err := ks.Search(ctx, w.ID, sq)
					if err != nil {
						t.Fatalf("search %q: %v", q.Question, err)
					}
					hit := false
					for _, h := range found {
						if h.SourceID == ids[q.Source] && strings.Contains(h.Text, q.Answer) {
							hit = true
							break
						}
					}
					if hit {
						hits++
						continue
					}
					var top []string
					for i, h := range found {
						top = append(top, fmt.Sprintf("    %d. %s [%s] %s", i+1, names[h.SourceID], h.Heading, firstWords(h.Text, 12)))
					}
					t.Logf("miss: %q (wants %q in %s); top %d:\n%s", q.Question, q.Answer, q.Source, recallK, strings.Join(top, "\n"))
				}
				recall := float64(hits) / float64(len(questions))
				t.Logf("recall@%d: %.2f (%d of %d questions)", recallK, recall, hits, len(questions))
				if recall < minRecall {
					t.Errorf("recall@%d is %.2f (%d of %d), want at least %.2f", recallK, recall, hits, len(questions), minRecall)
				}
			})
		})
	}
}

// readRecallQuestions reads testdata/recall/questions.json.
func readRecallQuestions(t *testing.T) []recallQuestion {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "recall", "questions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var qs []recallQuestion
	if err := json.Unmarshal(b, &qs); err != nil {
		t.Fatalf("questions.json: %v", err)
	}
	if len(qs) == 0 {
		t.Fatal("questions.json holds no questions")
	}
	for i, q := range qs {
		if q.Question == "" || q.Source == "" || q.Answer == "" {
			t.Fatalf("questions.json: question %d lacks a field: %+v", i, q)
		}
	}
	return qs
}

// checkRecallAnswers checks the test data: each question's answer is in
// exactly one chunk of its source, so that a hit is the passage that
// answers it and no other.
func checkRecallAnswers(t *testing.T, ks hyponema.KnowledgeService, workspaceID, kbID string, ids map[string]string, questions []recallQuestion) {
	t.Helper()
	chunks := map[string][]*hyponema.Chunk{} // by source ID
	for _, id := range ids {
		opt := hyponema.PageOptions{Limit: hyponema.MaxPageLimit}
		for {
			p, err := ks.ListChunks(context.Background(), workspaceID, kbID, id, opt)
			if err != nil {
				t.Fatal(err)
			}
			chunks[id] = append(chunks[id], p.Data...)
			if !p.HasMore || p.NextCursor == "" {
				break
			}
			opt.Cursor = p.NextCursor
		}
	}
	for _, q := range questions {
		var in []int
		for _, c := range chunks[ids[q.Source]] {
			if strings.Contains(c.Text, q.Answer) {
				in = append(in, c.Index)
			}
		}
		if len(in) != 1 {
			t.Errorf("test data: the answer %q to %q is in %d chunks of %s (%v), want 1", q.Answer, q.Question, len(in), q.Source, in)
		}
	}
}

// firstWords returns the first n words of s.
func firstWords(s string, n int) string {
	ws := strings.Fields(s)
	if len(ws) > n {
		return strings.Join(ws[:n], " ") + " …"
	}
	return strings.Join(ws, " ")
}
