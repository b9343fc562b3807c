package knowledge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/jobs"
	"github.com/hyponema/hyponema/knowledge"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

const policyDoc = `# Returns

You may return any item within 30 days of delivery. Items must be unused and in their original packaging.

# Shipping

Orders ship within two business days. Express delivery arrives the next day.
`

func TestIngest(t *testing.T) {
	storetest.ForEachDialectDSN(t, func(t *testing.T, db *store.DB, dsn string) {
		ctx := context.Background()
		emb := llmtest.NewEmbeddingsServer(t, 128)
		ks := store.NewKnowledgeService(db)
		policy, _ := egress.ParseAllow("127.0.0.1/32")
		startIngestQueue(t, db, dsn, &knowledge.Ingester{Store: ks, Egress: policy,
			Embedder: openai.NewEmbedder(openai.Config{BaseURL: emb.URL()}, "test")})

		// /changing serves version 1 the first time, after it has been
		// asked for and until the test lets it answer; then version 2.
		var fetches atomic.Int32
		asked, answer := make(chan struct{}), make(chan struct{})
		page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/missing":
				http.NotFound(w, r)
				return
			case "/changing":
				w.Header().Set("Content-Type", "text/plain")
				if fetches.Add(1) == 1 {
					close(asked)
					<-answer
					w.Write([]byte("The office opens at eight."))
					return
				}
				w.Write([]byte("The office opens at nine."))
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<html><head><title>FAQ</title><script>evil()</script></head><body><nav>menu</nav><h1>Warranty</h1><p>Every jacket has a two year warranty.</p></body></html>`))
		}))
		defer page.Close()

		w, kb := newKnowledgeBase(t, db, ks)
		text := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceText, Name: "policy.md", ContentType: "text/markdown"}
		url := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceURL, URL: page.URL + "/faq", Name: "FAQ"}
		missing := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceURL, URL: page.URL + "/missing", Name: "gone"}
		forbidden := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceURL, URL: "http://127.0.0.2:9/x", Name: "inside"}
		if err := ks.CreateSource(ctx, text, []byte(policyDoc)); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*hyponema.Source{url, missing, forbidden} {
			if err := ks.CreateSource(ctx, s, nil); err != nil {
				t.Fatal(err)
			}
		}
		wait := func(s *hyponema.Source) *hyponema.Source { t.Helper(); return waitSource(t, ks, s) }
		if got := wait(text); got.Status != hyponema.SourceReady || got.ChunkCount != 2 {
			t.Errorf("text source %+v", got)
		}
		if got := wait(url); got.Status != hyponema.SourceReady || got.ContentType != "text/html" {
			t.Errorf("url source %+v", got)
		}
		if got := wait(missing); got.Status != hyponema.SourceFailed || !strings.Contains(got.Error, "404") {
			t.Errorf("missing page %+v", got)
		}
		if got := wait(forbidden); got.Status != hyponema.SourceFailed || !strings.Contains(got.Error, "egress") {
			t.Errorf("forbidden URL %+v", got)
		}
		p, err := ks.ListChunks(ctx, w.ID, kb.ID, url.ID, hyponema.PageOptions{})
		if err != nil || len(p.Data) != 1 || strings.Contains(p.Data[0].Text, "evil") || strings.Contains(p.Data[0].Text, "menu") ||
			p.Data[0].Heading != "Warranty" {
			t.Fatalf("url chunks %+v %v", p.Data, err)
		}

		// Hybrid search with the embeddings the ingester stored.
		qv := llmtest.Embed("How long do I have to return a jacket?", 128)
		vec := make([]float32, len(qv))
		for i, x := range qv {
			vec[i] = float32(x)
		}
		hits, err := ks.Search(ctx, w.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "How long do I have to return a jacket?", Embedding: vec, TopK: 3})
		if err != nil || len(hits) == 0 || !strings.Contains(hits[0].Text, "30 days") {
			t.Fatalf("hits %+v %v", hits, err)
		}
		if len(emb.Batches()) == 0 {
			t.Error("no embeddings were asked for")
		}

		// A re-sync queues the source again; deleting removes its chunks.
		if err := ks.SetSourcePending(ctx, w.ID, url.ID); err != nil {
			t.Fatal(err)
		}
		if got := wait(url); got.Status != hyponema.SourceReady {
			t.Errorf("re-synced %+v", got)
		}

		// A sync asked for while the job fetches the old page: the job's
		// result is refused, and it fetches again.
		changing := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceURL, URL: page.URL + "/changing", Name: "hours"}
		if err := ks.CreateSource(ctx, changing, nil); err != nil {
			t.Fatal(err)
		}
		<-asked
		if err := ks.SetSourcePending(ctx, w.ID, changing.ID); err != nil {
			t.Fatal(err)
		}
		close(answer)
		got := wait(changing)
		p, err = ks.ListChunks(ctx, w.ID, kb.ID, changing.ID, hyponema.PageOptions{})
		if got.Status != hyponema.SourceReady || err != nil || len(p.Data) != 1 || !strings.Contains(p.Data[0].Text, "nine") {
			t.Errorf("synced while fetching: %+v, chunks %+v %v", got, p.Data, err)
		}
		if n := fetches.Load(); n != 2 {
			t.Errorf("%d fetches, want 2", n)
		}

		if err := ks.DeleteSource(ctx, w.ID, kb.ID, text.ID); err != nil {
			t.Fatal(err)
		}
		hits, _ = ks.Search(ctx, w.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "return jacket days", TopK: 5})
		for _, h := range hits {
			if h.SourceID == text.ID {
				t.Error("a deleted source is still found")
			}
		}
	})
}

// ingestTimeout bounds the wait for a source to be ingested.
const ingestTimeout = 60 * time.Second

// startIngestQueue runs the ingester on a job queue of db, stopped when
// the test ends, and makes new sources queue their ingestion on it.
func startIngestQueue(t *testing.T, db *store.DB, dsn string, in *knowledge.Ingester) {
	t.Helper()
	ctx := context.Background()
	if err := jobs.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	in.Register(workers)
	q, err := jobs.Open(ctx, db, jobs.Config{Workers: workers, PostgresDSN: dsn, FetchPollInterval: 20 * time.Millisecond,
		Queues: map[string]river.QueueConfig{knowledge.QueueName: {MaxWorkers: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	db.SetSourceQueue(knowledge.Queue{Client: q.Client()})
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Stop(context.Background()) })
}

// waitSource returns the source once it is no longer pending.
func waitSource(t *testing.T, ks hyponema.KnowledgeService, src *hyponema.Source) *hyponema.Source {
	t.Helper()
	deadline := time.Now().Add(ingestTimeout)
	for {
		got, err := ks.FindSource(context.Background(), src.WorkspaceID, src.KnowledgeBaseID, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != hyponema.SourcePending {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("source %s still pending after %v", src.Name, ingestTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newKnowledgeBase creates a workspace and a knowledge base in it.
func newKnowledgeBase(t testing.TB, db *store.DB, ks hyponema.KnowledgeService) (*hyponema.Workspace, *hyponema.KnowledgeBase) {
	t.Helper()
	ctx := context.Background()
	w := &hyponema.Workspace{Name: "Acme"}
	if err := store.NewWorkspaceService(db).CreateWorkspace(ctx, w); err != nil {
		t.Fatal(err)
	}
	kb := &hyponema.KnowledgeBase{WorkspaceID: w.ID, Name: "Help"}
	if err := ks.CreateKnowledgeBase(ctx, kb); err != nil {
		t.Fatal(err)
	}
	return w, kb
}
