package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func mustKnowledgeBase(t testing.TB, ks *store.KnowledgeService, workspaceID, name string) *hyponema.KnowledgeBase {
	t.Helper()
	kb := &hyponema.KnowledgeBase{WorkspaceID: workspaceID, Name: name}
	must(t, ks.CreateKnowledgeBase(t.Context(), kb))
	return kb
}

func mustTextSource(t testing.TB, ks *store.KnowledgeService, kb *hyponema.KnowledgeBase, name, text string) *hyponema.Source {
	t.Helper()
	src := &hyponema.Source{WorkspaceID: kb.WorkspaceID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceText, Name: name}
	must(t, ks.CreateSource(t.Context(), src, []byte(text)))
	return src
}

// mustChunks replaces the source's chunks with one per text (headings and
// embeddings optional, by index) and returns them with their IDs.
func mustChunks(t testing.TB, ks *store.KnowledgeService, src *hyponema.Source, texts []string, embs ...[]float32) []*hyponema.Chunk {
	t.Helper()
	chunks := make([]*hyponema.Chunk, len(texts))
	for i, text := range texts {
		chunks[i] = &hyponema.Chunk{Text: text, Heading: src.Name, Tokens: len(strings.Fields(text))}
		if i < len(embs) {
			chunks[i].Embedding = embs[i]
		}
	}
	must(t, ks.ReplaceChunks(t.Context(), src.WorkspaceID, src.ID, 0, chunks, "text/plain", 100))
	return chunks
}

func chunkIDs(cs []*hyponema.Chunk) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func hitIDs(hs []hyponema.SearchHit) []string {
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i] = h.ChunkID
	}
	return ids
}

func TestKnowledgeBaseCRUD(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)

		kb := &hyponema.KnowledgeBase{WorkspaceID: ws.ID, Name: "  Help center ", Description: "FAQ and policies"}
		must(t, ks.CreateKnowledgeBase(ctx, kb))
		if !hyponema.HasPrefix(kb.ID, hyponema.PrefixKnowledgeBase) || kb.Name != "Help center" || kb.CreatedAt.IsZero() ||
			kb.UpdatedAt != kb.CreatedAt {
			t.Fatalf("created %+v", kb)
		}
		got, err := ks.FindKnowledgeBase(ctx, ws.ID, kb.ID)
		must(t, err)
		if *got != *kb {
			t.Errorf("found %+v, want %+v", got, kb)
		}
		_, err = ks.FindKnowledgeBase(ctx, other.ID, kb.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		wantField(t, ks.CreateKnowledgeBase(ctx, &hyponema.KnowledgeBase{WorkspaceID: ws.ID, Name: " "}), "missing", "body", "name")
		wantField(t, ks.CreateKnowledgeBase(ctx, &hyponema.KnowledgeBase{WorkspaceID: ws.ID, Name: strings.Repeat("n", hyponema.MaxNameLen+1)}),
			"too_long", "body", "name")
		wantField(t, ks.CreateKnowledgeBase(ctx, &hyponema.KnowledgeBase{WorkspaceID: ws.ID, Name: "x", Description: "a\x00b"}),
			"invalid", "body", "description")
		wantCode(t, ks.CreateKnowledgeBase(ctx, &hyponema.KnowledgeBase{WorkspaceID: "ws_missing", Name: "x"}), hyponema.ENOTFOUND)

		want := []string{kb.ID}
		for i := range 4 {
			want = append(want, mustKnowledgeBase(t, ks, ws.ID, fmt.Sprint("kb ", i)).ID)
		}
		mustKnowledgeBase(t, ks, other.ID, "theirs")
		list := func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.KnowledgeBase], error) {
			return ks.ListKnowledgeBases(ctx, ws.ID, opt)
		}
		id := func(kb *hyponema.KnowledgeBase) string { return kb.ID }
		wantIDs(t, walk(t, 2, true, id, list), want)
		wantIDs(t, walk(t, 3, false, id, list), reversed(want))

		wantCode(t, ks.DeleteKnowledgeBase(ctx, other.ID, kb.ID), hyponema.ENOTFOUND)
		must(t, ks.DeleteKnowledgeBase(ctx, ws.ID, kb.ID))
		wantCode(t, ks.DeleteKnowledgeBase(ctx, ws.ID, kb.ID), hyponema.ENOTFOUND)
		_, err = ks.FindKnowledgeBase(ctx, ws.ID, kb.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

func TestSourceCRUD(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)
		kb, kb2 := mustKnowledgeBase(t, ks, ws.ID, "Help"), mustKnowledgeBase(t, ks, ws.ID, "Other")
		theirs := mustKnowledgeBase(t, ks, other.ID, "Theirs")

		text := mustTextSource(t, ks, kb, "Returns", "You may return items within 30 days.")
		if !hyponema.HasPrefix(text.ID, hyponema.PrefixSource) || text.Status != hyponema.SourcePending || text.Size != 36 ||
			text.ContentType != "text/plain" || text.SyncedAt != nil || text.Error != "" || text.WorkspaceID != ws.ID {
			t.Fatalf("created %+v", text)
		}
		page := &hyponema.Source{WorkspaceID: ws.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceURL, URL: " https://example.com/faq "}
		must(t, ks.CreateSource(ctx, page, nil))
		if page.Name != "https://example.com/faq" || page.URL != page.Name || page.Size != 0 {
			t.Errorf("url source %+v", page)
		}
		pdf := []byte("%PDF-1.7 \x00\x01\x02 binary")
		file := &hyponema.Source{WorkspaceID: ws.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceFile, Name: "policy.pdf",
			ContentType: "application/pdf"}
		must(t, ks.CreateSource(ctx, file, pdf))

		// Validation.
		src := func(typ, name, url string) *hyponema.Source {
			return &hyponema.Source{WorkspaceID: ws.ID, KnowledgeBaseID: kb.ID, Type: typ, Name: name, URL: url}
		}
		wantField(t, ks.CreateSource(ctx, src("text", "x", ""), nil), "missing", "body", "text")
		wantField(t, ks.CreateSource(ctx, src("text", "", ""), []byte("a")), "missing", "body", "name")
		wantField(t, ks.CreateSource(ctx, src("text", "x", ""), bytes.Repeat([]byte("a"), hyponema.MaxSourceTextLen+1)),
			"too_long", "body", "text")
		wantField(t, ks.CreateSource(ctx, src("text", "x", ""), []byte{0xff, 'a'}), "invalid", "body", "text")
		wantField(t, ks.CreateSource(ctx, src("text", "x", ""), []byte("a\x00b")), "invalid", "body", "text")
		for _, u := range []string{"", "ftp://example.com/x", "/relative", "example.com", "https://", "https://u:p@example.com/",
			"https://example.com/\x01", "https://example.com/" + strings.Repeat("a", hyponema.MaxSourceURLLen)} {
			err := ks.CreateSource(ctx, src("url", "", u), nil)
			if u == "" {
				wantField(t, err, "invalid", "body", "url")
				continue
			}
			wantField(t, err, "invalid", "body", "url")
		}
		wantField(t, ks.CreateSource(ctx, src("url", "", "https://example.com"), []byte("x")), "invalid", "body", "text")
		wantField(t, ks.CreateSource(ctx, src("file", "a.txt", ""), nil), "missing", "body", "file")
		wantCode(t, ks.CreateSource(ctx, src("file", "big.bin", ""), make([]byte, hyponema.MaxSourceFileSize+1)), hyponema.ETOOLARGE)
		wantField(t, ks.CreateSource(ctx, src("html", "x", ""), []byte("x")), "invalid", "body", "type")
		// Another workspace's knowledge base, or a missing one.
		foreign := &hyponema.Source{WorkspaceID: ws.ID, KnowledgeBaseID: theirs.ID, Type: hyponema.SourceText, Name: "x"}
		wantCode(t, ks.CreateSource(ctx, foreign, []byte("x")), hyponema.ENOTFOUND)
		foreign = &hyponema.Source{WorkspaceID: other.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceText, Name: "x"}
		wantCode(t, ks.CreateSource(ctx, foreign, []byte("x")), hyponema.ENOTFOUND)

		// Find: only in its workspace and knowledge base.
		got, err := ks.FindSource(ctx, ws.ID, kb.ID, file.ID)
		must(t, err)
		if got.Name != "policy.pdf" || got.ContentType != "application/pdf" || got.Size != int64(len(pdf)) || got.Type != "file" ||
			!got.CreatedAt.Equal(file.CreatedAt) {
			t.Errorf("found %+v", got)
		}
		_, err = ks.FindSource(ctx, ws.ID, kb2.ID, file.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = ks.FindSource(ctx, other.ID, kb.ID, file.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// Content.
		b, err := ks.SourceContent(ctx, ws.ID, file.ID)
		must(t, err)
		if !bytes.Equal(b, pdf) {
			t.Errorf("content %q", b)
		}
		b, err = ks.SourceContent(ctx, ws.ID, text.ID)
		must(t, err)
		if string(b) != "You may return items within 30 days." {
			t.Errorf("content %q", b)
		}
		b, err = ks.SourceContent(ctx, ws.ID, page.ID)
		must(t, err)
		if b != nil {
			t.Errorf("url content %q", b)
		}
		_, err = ks.SourceContent(ctx, other.ID, file.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// List.
		listOf := func(workspaceID, kbID string) func(hyponema.PageOptions) (hyponema.Page[*hyponema.Source], error) {
			return func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Source], error) {
				return ks.ListSources(ctx, workspaceID, kbID, opt)
			}
		}
		id := func(s *hyponema.Source) string { return s.ID }
		wantIDs(t, walk(t, 2, true, id, listOf(ws.ID, kb.ID)), []string{text.ID, page.ID, file.ID})
		wantIDs(t, walk(t, 1, false, id, listOf(ws.ID, kb.ID)), []string{file.ID, page.ID, text.ID})
		wantIDs(t, walk(t, 5, true, id, listOf(ws.ID, kb2.ID)), nil)
		_, err = ks.ListSources(ctx, other.ID, kb.ID, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)

		// Status changes.
		long := strings.Repeat("é", 2000)
		must(t, ks.FailSource(ctx, ws.ID, page.ID, 0, "fetch: "+long))
		got, _ = ks.FindSource(ctx, ws.ID, kb.ID, page.ID)
		if got.Status != hyponema.SourceFailed || len(got.Error) > 1000 || !strings.HasPrefix(got.Error, "fetch: éé") ||
			!got.UpdatedAt.After(got.CreatedAt) && !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Errorf("failed %+v", got)
		}
		must(t, ks.SetSourcePending(ctx, ws.ID, page.ID))
		got, _ = ks.FindSource(ctx, ws.ID, kb.ID, page.ID)
		if got.Status != hyponema.SourcePending || got.Error != "" {
			t.Errorf("pending %+v", got)
		}
		wantCode(t, ks.FailSource(ctx, other.ID, page.ID, 0, "x"), hyponema.ENOTFOUND)
		wantCode(t, ks.SetSourcePending(ctx, other.ID, page.ID), hyponema.ENOTFOUND)
		wantCode(t, ks.FailSource(ctx, ws.ID, "src_missing", 0, "x"), hyponema.ENOTFOUND)

		// Delete.
		wantCode(t, ks.DeleteSource(ctx, other.ID, kb.ID, file.ID), hyponema.ENOTFOUND)
		wantCode(t, ks.DeleteSource(ctx, ws.ID, kb2.ID, file.ID), hyponema.ENOTFOUND)
		wantCode(t, ks.DeleteSource(ctx, ws.ID, theirs.ID, file.ID), hyponema.ENOTFOUND)
		must(t, ks.DeleteSource(ctx, ws.ID, kb.ID, file.ID))
		wantCode(t, ks.DeleteSource(ctx, ws.ID, kb.ID, file.ID), hyponema.ENOTFOUND)
		_, err = ks.FindSource(ctx, ws.ID, kb.ID, file.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = ks.SourceContent(ctx, ws.ID, file.ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// Deleting the knowledge base deletes its sources.
		must(t, ks.DeleteKnowledgeBase(ctx, ws.ID, kb.ID))
		_, err = ks.SourceContent(ctx, ws.ID, text.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, ks.SetSourcePending(ctx, ws.ID, page.ID), hyponema.ENOTFOUND)
	})
}

// fakeSourceQueue records the ingestions queued, or fails.
type fakeSourceQueue struct {
	mu   sync.Mutex
	jobs []string
	fail bool
}

func (q *fakeSourceQueue) EnqueueIngest(ctx context.Context, tx *sql.Tx, workspaceID, kbID, sourceID string) error {
	if tx == nil {
		return errors.New("no transaction")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail {
		return errors.New("queue down")
	}
	q.jobs = append(q.jobs, workspaceID+"/"+kbID+"/"+sourceID)
	return nil
}

// queuedSource makes db queue ingestion on a fakeSourceQueue, and creates
// a text source in a new workspace's knowledge base.
func queuedSource(t *testing.T, db *store.DB) (*fakeSourceQueue, *store.KnowledgeService, *hyponema.Workspace, *hyponema.KnowledgeBase, *hyponema.Source) {
	t.Helper()
	q := &fakeSourceQueue{}
	db.SetSourceQueue(q)
	ks := store.NewKnowledgeService(db)
	ws := mustWorkspace(t, db)
	kb := mustKnowledgeBase(t, ks, ws.ID, "Help")
	return q, ks, ws, kb, mustTextSource(t, ks, kb, "A", "text")
}

// TestSourceQueue: creating a source and marking it pending queue its
// ingestion in the same transaction.
func TestSourceQueue(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		q, ks, ws, kb, src := queuedSource(t, db)
		must(t, ks.FailSource(ctx, ws.ID, src.ID, 0, "no"))
		must(t, ks.SetSourcePending(ctx, ws.ID, src.ID))
		job := ws.ID + "/" + kb.ID + "/" + src.ID
		wantIDs(t, q.jobs, []string{job, job})

		// A queue that fails fails the change, which rolls back.
		q.fail = true
		failing := &hyponema.Source{WorkspaceID: ws.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceText, Name: "B"}
		if err := ks.CreateSource(ctx, failing, []byte("text")); err == nil {
			t.Fatal("CreateSource succeeded with a failing queue")
		}
		p, err := ks.ListSources(ctx, ws.ID, kb.ID, hyponema.PageOptions{})
		must(t, err)
		if len(p.Data) != 1 {
			t.Errorf("%d sources after a failed create", len(p.Data))
		}
		must(t, ks.FailSource(ctx, ws.ID, src.ID, 1, "again"))
		if err := ks.SetSourcePending(ctx, ws.ID, src.ID); err == nil {
			t.Fatal("SetSourcePending succeeded with a failing queue")
		}
		got, _ := ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		if got.Status != hyponema.SourceFailed {
			t.Errorf("status %s after a failed SetSourcePending", got.Status)
		}
	})
}

// TestSourceGeneration: a sync asked for while a source is pending queues
// no second job but moves its generation on, and the result of ingestion
// that read an older generation is refused and changes nothing.
func TestSourceGeneration(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		q, ks, ws, kb, src := queuedSource(t, db)
		if src.Generation != 0 {
			t.Fatalf("new source's generation %d", src.Generation)
		}
		must(t, ks.SetSourcePending(ctx, ws.ID, src.ID)) // while the first job waits
		if len(q.jobs) != 1 {
			t.Fatalf("%d jobs queued, want 1", len(q.jobs))
		}
		got, err := ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		must(t, err)
		if got.Generation != 1 || got.Status != hyponema.SourcePending {
			t.Fatalf("after a sync while pending %+v", got)
		}
		// The job read generation 0: its result and its failure are refused.
		wantCode(t, ks.ReplaceChunks(ctx, ws.ID, src.ID, 0, []*hyponema.Chunk{{Text: "old"}}, "text/plain", 3), hyponema.ECONFLICT)
		wantCode(t, ks.FailSource(ctx, ws.ID, src.ID, 0, "old"), hyponema.ECONFLICT)
		got, _ = ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		if got.Status != hyponema.SourcePending || got.ChunkCount != 0 {
			t.Fatalf("a refused result changed the source: %+v", got)
		}
		must(t, ks.ReplaceChunks(ctx, ws.ID, src.ID, 1, []*hyponema.Chunk{{Text: "new"}}, "text/plain", 3))
		got, _ = ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		if got.Status != hyponema.SourceReady || got.ChunkCount != 1 {
			t.Fatalf("after the current result %+v", got)
		}
		// A ready source's sync queues a job.
		must(t, ks.SetSourcePending(ctx, ws.ID, src.ID))
		if len(q.jobs) != 2 {
			t.Errorf("%d jobs queued, want 2", len(q.jobs))
		}
	})
}

// TestDeleteKnowledgeBaseDetaches: deleting a knowledge base takes it off
// the drafts of the agents it was attached to, and only it.
func TestDeleteKnowledgeBaseDetaches(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks, agents := store.NewKnowledgeService(db), store.NewAgentService(db)
		ws := mustWorkspace(t, db)
		doomed, kept := mustKnowledgeBase(t, ks, ws.ID, "Doomed"), mustKnowledgeBase(t, ks, ws.ID, "Kept")
		a, b := mustAgent(t, db, ws.ID, hyponema.AgentConfig{}), mustAgent(t, db, ws.ID, hyponema.AgentConfig{Name: "Other"})
		for _, x := range []struct{ kb, agent string }{{doomed.ID, a.ID}, {kept.ID, a.ID}, {kept.ID, b.ID}} {
			_, err := agents.AttachKnowledgeBase(ctx, ws.ID, x.kb, x.agent)
			must(t, err)
		}
		must(t, ks.DeleteKnowledgeBase(ctx, ws.ID, doomed.ID))
		for _, c := range []struct {
			agent string
			want  []string
		}{{a.ID, []string{kept.ID}}, {b.ID, []string{kept.ID}}} {
			got, err := agents.FindAgent(ctx, ws.ID, c.agent)
			must(t, err)
			wantIDs(t, got.KnowledgeBaseIDs, c.want)
		}
	})
}

func TestReplaceChunks(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)
		kb, kb2 := mustKnowledgeBase(t, ks, ws.ID, "Help"), mustKnowledgeBase(t, ks, ws.ID, "Other")
		src := mustTextSource(t, ks, kb, "Returns", "…")

		first := mustChunks(t, ks, src, []string{"one", "two \x00 bad \xff", "three"}, []float32{1, 0, 0.5}, nil, []float32{0, 1, 0})
		got, err := ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		must(t, err)
		if got.Status != hyponema.SourceReady || got.ChunkCount != 3 || got.ContentType != "text/plain" || got.Size != 100 ||
			got.SyncedAt == nil || got.Error != "" {
			t.Fatalf("source after ReplaceChunks %+v", got)
		}
		for i, c := range first {
			if !hyponema.HasPrefix(c.ID, hyponema.PrefixChunk) || c.Index != i || c.SourceID != src.ID ||
				c.KnowledgeBaseID != kb.ID || c.WorkspaceID != ws.ID || c.CreatedAt.IsZero() {
				t.Errorf("chunk %d: %+v", i, c)
			}
		}
		c, err := ks.FindChunk(ctx, ws.ID, kb.ID, first[0].ID)
		must(t, err)
		if c.Text != "one" || c.Heading != "Returns" || c.Tokens != 1 || !slices.Equal(c.Embedding, []float32{1, 0, 0.5}) ||
			!c.CreatedAt.Equal(first[0].CreatedAt) {
			t.Errorf("found chunk %+v", c)
		}
		c, err = ks.FindChunk(ctx, ws.ID, kb.ID, first[1].ID)
		must(t, err)
		if c.Text != "two  bad \uFFFD" || c.Embedding != nil {
			t.Errorf("cleaned chunk %q %v", c.Text, c.Embedding)
		}
		_, err = ks.FindChunk(ctx, other.ID, kb.ID, first[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = ks.FindChunk(ctx, ws.ID, kb2.ID, first[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		// Replacing: the old chunks are gone.
		second := mustChunks(t, ks, src, []string{"uno", "dos"})
		for _, c := range first {
			_, err := ks.FindChunk(ctx, ws.ID, kb.ID, c.ID)
			wantCode(t, err, hyponema.ENOTFOUND)
		}
		listOf := func(workspaceID, kbID, sourceID string) func(hyponema.PageOptions) (hyponema.Page[*hyponema.Chunk], error) {
			return func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Chunk], error) {
				return ks.ListChunks(ctx, workspaceID, kbID, sourceID, opt)
			}
		}
		id := func(c *hyponema.Chunk) string { return c.ID }
		wantIDs(t, walk(t, 1, true, id, listOf(ws.ID, kb.ID, src.ID)), chunkIDs(second))
		wantIDs(t, walk(t, 10, true, id, listOf(ws.ID, kb.ID, "")), chunkIDs(second))
		_, err = ks.ListChunks(ctx, other.ID, kb.ID, "", hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = ks.ListChunks(ctx, ws.ID, kb2.ID, src.ID, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)

		// Many chunks: several batches, in index order; a list by source
		// oldest first is in index order.
		texts := make([]string, 700)
		for i := range texts {
			texts[i] = fmt.Sprint("passage number ", i)
		}
		many := mustChunks(t, ks, src, texts)
		ids := walk(t, 200, true, id, listOf(ws.ID, kb.ID, src.ID))
		wantIDs(t, ids, chunkIDs(many))
		p, err := ks.ListChunks(ctx, ws.ID, kb.ID, src.ID, hyponema.PageOptions{Asc: true, Limit: 3})
		must(t, err)
		for i, c := range p.Data {
			if c.Index != i || c.Text != texts[i] || c.Embedding != nil {
				t.Errorf("listed chunk %d: %+v", i, c)
			}
		}
		got, _ = ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		if got.ChunkCount != 700 {
			t.Errorf("chunk_count %d", got.ChunkCount)
		}
		other2 := mustTextSource(t, ks, kb, "Other", "…")
		mustChunks(t, ks, other2, []string{"a", "b"})
		gotKB, err := ks.FindKnowledgeBase(ctx, ws.ID, kb.ID)
		must(t, err)
		if gotKB.ChunkCount != 702 {
			t.Errorf("knowledge base chunk_count %d, want 702", gotKB.ChunkCount)
		}
		must(t, ks.DeleteSource(ctx, ws.ID, kb.ID, other2.ID))
		kbs, err := ks.ListKnowledgeBases(ctx, ws.ID, hyponema.PageOptions{})
		must(t, err)
		for _, k := range kbs.Data {
			if k.ID == kb.ID && k.ChunkCount != 700 {
				t.Errorf("listed knowledge base chunk_count %d, want 700", k.ChunkCount)
			}
		}

		// Replacing with none empties the source.
		must(t, ks.ReplaceChunks(ctx, ws.ID, src.ID, 0, nil, "text/markdown", 7))
		got, _ = ks.FindSource(ctx, ws.ID, kb.ID, src.ID)
		if got.ChunkCount != 0 || got.ContentType != "text/markdown" || got.Size != 7 || got.Status != hyponema.SourceReady {
			t.Errorf("emptied %+v", got)
		}
		wantIDs(t, walk(t, 10, true, id, listOf(ws.ID, kb.ID, "")), nil)

		// Bad input, other workspaces, deleted sources.
		nan := []*hyponema.Chunk{{Text: "x", Embedding: []float32{float32(math.NaN())}}}
		if err := ks.ReplaceChunks(ctx, ws.ID, src.ID, 0, nan, "text/plain", 1); err == nil {
			t.Error("NaN embedding accepted")
		}
		wantCode(t, ks.ReplaceChunks(ctx, other.ID, src.ID, 0, []*hyponema.Chunk{{Text: "x"}}, "text/plain", 1), hyponema.ENOTFOUND)
		must(t, ks.FailSource(ctx, ws.ID, src.ID, 0, "fetch failed"))
		must(t, ks.DeleteSource(ctx, ws.ID, kb.ID, src.ID))
		wantCode(t, ks.ReplaceChunks(ctx, ws.ID, src.ID, 0, []*hyponema.Chunk{{Text: "x"}}, "text/plain", 1), hyponema.ENOTFOUND)
	})
}

// faq is a small help center: a chunk per line.
var faq = []string{
	"Returns: you can return a jacket or any other clothing within 30 days of delivery for a full refund.",
	"Shipping: orders ship within two business days; express shipping arrives the next day.",
	"Warranty: electronics carry a one-year warranty against manufacturing defects.",
	"Gift cards never expire and can be used online or in stores.",
	"Store hours: our stores open at 9am and close at 8pm, Monday to Saturday.",
	"Payment: we accept credit cards, debit cards and bank transfers.",
	"Size guide: jackets run small, so order one size up.",
}

func TestKnowledgeSearchLexical(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws := mustWorkspace(t, db)
		kb := mustKnowledgeBase(t, ks, ws.ID, "Help")
		src := mustTextSource(t, ks, kb, "FAQ", strings.Join(faq, "\n"))
		chunks := mustChunks(t, ks, src, faq)
		search := func(text string, topK int) []hyponema.SearchHit {
			t.Helper()
			hits, err := ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: text, TopK: topK})
			if err != nil {
				t.Fatalf("Search(%q): %v", text, err)
			}
			return hits
		}

		// A question: the words that matter, any of them, ranked.
		hits := search("How long do I have to return a jacket?", 3)
		if len(hits) == 0 || hits[0].ChunkID != chunks[0].ID {
			t.Fatalf("question hits %+v", hits)
		}
		h := hits[0]
		if h.SourceID != src.ID || h.KnowledgeBaseID != kb.ID || h.Heading != "FAQ" || h.Text != faq[0] || h.Score <= 0 {
			t.Errorf("hit %+v", h)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i].Score > hits[i-1].Score {
				t.Errorf("hits out of order: %+v", hits)
			}
		}
		// The size guide mentions jackets too, so it follows.
		if !slices.Contains(hitIDs(hits), chunks[6].ID) {
			t.Errorf("size guide (jackets) not among %v", hitIDs(hits))
		}
		// Stemming: returns/returned → return, shipped → ship, expires → expire.
		for q, want := range map[string]int{"returned items": 0, "when is it shipped": 1, "do gift cards expire?": 3,
			"WARRANTIES": 2, "opening hours": 4} {
			if hits := search(q, 1); len(hits) != 1 || hits[0].ChunkID != chunks[want].ID {
				t.Errorf("%q: hits %+v, want chunk %d", q, hits, want)
			}
		}
		// Query syntax of either engine is only text: never an error.
		for _, q := range []string{`"`, `""`, `*`, `jacket*`, `(`, `)`, `(jacket`, `-`, `-jacket`, `NEAR`, `NEAR(jacket return)`,
			`AND`, `OR`, `NOT`, `jacket AND`, `AND OR NOT`, `text:jacket`, `{heading text}:jacket`, `knowledge_base_id:x`,
			`^jacket`, `'`, `\`, `jacket's`, `&|!:*<->`, `a & b`, `!jacket`, `jacket:*`, `"return" NEAR/2 "jacket"`, `+`,
			"\x00", "\xff\xfe", "return\tjacket\n", "  ", "", "the of and", "🧥 jacket 🧥", "курточка", "退货"} {
			hits := search(q, 5)
			if len(hits) > 5 {
				t.Errorf("%q: %d hits", q, len(hits))
			}
		}
		if hits := search(`"return" AND (jacket) -refund*`, 5); len(hits) == 0 || hits[0].ChunkID != chunks[0].ID {
			t.Errorf("syntax-laden query hits %+v", hits)
		}
		if hits := search("the of and", 5); len(hits) != 0 {
			t.Errorf("stop words found %+v", hits)
		}

		// TopK: default, cap, and exact.
		texts := make([]string, 70)
		for i := range texts {
			texts[i] = fmt.Sprint("Policy ", i, ": the returns desk answers questions about policy number ", i, ".")
		}
		mustChunks(t, ks, mustTextSource(t, ks, kb, "Policies", "…"), texts)
		if n := len(search("policy", 0)); n != hyponema.DefaultTopK {
			t.Errorf("TopK 0: %d hits, want %d", n, hyponema.DefaultTopK)
		}
		if n := len(search("policy", 1000)); n != hyponema.MaxTopK {
			t.Errorf("TopK 1000: %d hits, want %d", n, hyponema.MaxTopK)
		}
		if n := len(search("policy", -3)); n != hyponema.DefaultTopK {
			t.Errorf("TopK -3: %d hits", n)
		}
		if n := len(search("policy", 7)); n != 7 {
			t.Errorf("TopK 7: %d hits", n)
		}
		_, err := ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID},
			Text: strings.Repeat("a", hyponema.MaxQueryLen+1)})
		wantCode(t, err, hyponema.EINVALID)
		hits, err = ks.Search(ctx, ws.ID, hyponema.SearchQuery{Text: "jacket"})
		must(t, err)
		if hits == nil || len(hits) != 0 {
			t.Errorf("no knowledge bases: %v", hits)
		}
	})
}

// TestKnowledgeSearchCommonWords: when the words of a question match more
// chunks than a search ranks, the commonest stop selecting chunks; below
// the budget every word selects.
func TestKnowledgeSearchCommonWords(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws := mustWorkspace(t, db)
		kb := mustKnowledgeBase(t, ks, ws.ID, "Help")
		texts := make([]string, 40)
		for i := range texts {
			texts[i] = fmt.Sprint("Policy ", i, " of the shop.")
		}
		texts[7] += " Warranty: one year."
		texts[23] += " The warranty covers defects."
		chunks := mustChunks(t, ks, mustTextSource(t, ks, kb, "Policies", "…"), texts)
		if db.Dialect() == store.DialectPostgres {
			// The statistics that tell common words, as autovacuum keeps them.
			_, err := db.Writer().ExecContext(ctx, `ANALYZE chunks`)
			must(t, err)
		}
		q := hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "What does the warranty policy say?", TopK: 10}
		hits, err := ks.Search(ctx, ws.ID, q)
		must(t, err)
		if len(hits) != 10 {
			t.Fatalf("within the budget: %v", hitIDs(hits))
		}
		// The rare word weighs more (bm25; inverse document frequency on
		// PostgreSQL, from ANALYZE's statistics).
		if ids := hitIDs(hits[:2]); !slices.Contains(ids, chunks[7].ID) || !slices.Contains(ids, chunks[23].ID) {
			t.Errorf("within the budget: %v", hitIDs(hits))
		}
		defer store.SetRankBudgets(10, 10)()
		hits, err = ks.Search(ctx, ws.ID, q)
		must(t, err)
		if ids := hitIDs(hits); len(ids) != 2 || !slices.Contains(ids, chunks[7].ID) || !slices.Contains(ids, chunks[23].ID) {
			t.Fatalf("over the budget: %v", ids)
		}
		// Only common words: the rarest still selects.
		hits, err = ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "shop policy", TopK: 3})
		must(t, err)
		if len(hits) != 3 {
			t.Fatalf("common words: %v", hitIDs(hits))
		}
	})
}

// TestKnowledgeSearchDeleted: deleted sources and knowledge bases vanish
// from search, and on SQLite the full-text index stays in step with the
// chunks through replacements and cascades.
func TestKnowledgeSearchDeleted(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws := mustWorkspace(t, db)
		kb := mustKnowledgeBase(t, ks, ws.ID, "Help")
		a := mustTextSource(t, ks, kb, "A", "…")
		b := mustTextSource(t, ks, kb, "B", "…")
		emb := []float32{1, 0, 0, 0}
		ca := mustChunks(t, ks, a, []string{"jacket returns within 30 days"}, emb)
		cb := mustChunks(t, ks, b, []string{"jacket sizes run small"}, emb)
		q := hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "jacket", TopK: 10}
		vq := hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Embedding: emb, TopK: 10}
		for _, q := range []hyponema.SearchQuery{q, vq} {
			hits, err := ks.Search(ctx, ws.ID, q)
			must(t, err)
			if len(hits) != 2 {
				t.Fatalf("before: %+v", hits)
			}
		}
		integrity := func() {
			t.Helper()
			if db.Dialect() == store.DialectSQLite {
				_, err := db.Writer().ExecContext(ctx, `INSERT INTO chunks_fts (chunks_fts) VALUES ('integrity-check')`)
				must(t, err)
			}
		}
		integrity()
		must(t, ks.DeleteSource(ctx, ws.ID, kb.ID, a.ID))
		integrity()
		for _, q := range []hyponema.SearchQuery{q, vq} {
			hits, err := ks.Search(ctx, ws.ID, q)
			must(t, err)
			wantIDs(t, hitIDs(hits), chunkIDs(cb))
		}
		_, err := ks.FindChunk(ctx, ws.ID, kb.ID, ca[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)

		must(t, ks.DeleteKnowledgeBase(ctx, ws.ID, kb.ID))
		integrity()
		for _, q := range []hyponema.SearchQuery{q, vq} {
			hits, err := ks.Search(ctx, ws.ID, q)
			must(t, err)
			if len(hits) != 0 {
				t.Errorf("after deleting the knowledge base: %+v", hits)
			}
		}
		var n int
		must(t, db.Writer().QueryRowContext(ctx, `SELECT COUNT(*) FROM chunks`).Scan(&n))
		if n != 0 {
			t.Errorf("%d chunks left", n)
		}
	})
}

// basis returns the unit vector along axis i of dim dimensions, tilted a
// little toward axis j.
func basis(dim, i, j int, tilt float32) []float32 {
	v := make([]float32, dim)
	v[i] = 1
	v[j] += tilt
	return v
}

func TestKnowledgeSearchHybrid(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		for _, budget := range []int64{store.DefaultVectorCacheBytes, 0, 100} {
			t.Run(fmt.Sprint("cache=", budget), func(t *testing.T) {
				ks := store.NewKnowledgeService(db)
				ks.SetVectorCacheBytes(budget) // for every service of db
				defer ks.SetVectorCacheBytes(store.DefaultVectorCacheBytes)
				ws := mustWorkspace(t, db)
				kb := mustKnowledgeBase(t, ks, ws.ID, "Help")
				src := mustTextSource(t, ks, kb, "FAQ", "…")
				const dim = 8
				// Each line has its own axis. The query leans toward the
				// returns line (0) and, less, the money-back line (7), which
				// shares no word with the question.
				texts := append(slices.Clone(faq), "Changed your mind? Get your money back, no questions asked.")
				embs := make([][]float32, len(texts))
				for i := range texts {
					embs[i] = basis(dim, i, i, 0)
				}
				chunks := mustChunks(t, ks, src, texts, embs...)
				other := mustTextSource(t, ks, kb, "Other dims", "…")
				mustChunks(t, ks, other, []string{"three dimensional vectors"}, []float32{1, 0, 0})

				query := make([]float32, dim)
				query[0], query[7] = 0.8, 0.6
				q := hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "How long do I have to return a jacket?",
					Embedding: query, TopK: 3}
				for range 2 { // a second time from the cache
					hits, err := ks.Search(ctx, ws.ID, q)
					must(t, err)
					// By words: returns (0), size guide (6). By vector: returns
					// (0), money back (7); the rest, at similarity 0, are not
					// ranked. The size guide and money back tie, in row order.
					wantIDs(t, hitIDs(hits), []string{chunks[0].ID, chunks[6].ID, chunks[7].ID})
					for i, want := range []float64{2.0 / 61, 1.0 / 62, 1.0 / 62} {
						if math.Abs(hits[i].Score-want) > 1e-9 {
							t.Errorf("hit %d score %v, want %v", i, hits[i].Score, want)
						}
					}
					if hits[2].Text != texts[7] {
						t.Errorf("vector-only hit %+v", hits[2])
					}
				}

				// Vector only: the text has no meaningful word.
				hits, err := ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Text: "how do I?",
					Embedding: query, TopK: 2})
				must(t, err)
				wantIDs(t, hitIDs(hits), []string{chunks[0].ID, chunks[7].ID})
				if math.Abs(hits[0].Score-1.0/61) > 1e-9 {
					t.Errorf("vector-only score %v", hits[0].Score)
				}
				// A zero query vector ranks nothing by vector.
				hits, err = ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Embedding: make([]float32, dim)})
				must(t, err)
				if len(hits) != 0 {
					t.Errorf("zero vector hits %v", hitIDs(hits))
				}

				// Replacing the chunks changes what the vectors find, at once.
				moved := slices.Clone(embs)
				moved[0], moved[7] = basis(dim, 5, 6, 0), basis(dim, 7, 0, 0.2)
				re := mustChunks(t, ks, src, texts, moved...)
				hits, err = ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID}, Embedding: query, TopK: 1})
				must(t, err)
				wantIDs(t, hitIDs(hits), []string{re[7].ID})
			})
		}
	})
}

// TestKnowledgeSearchIsolation: a search never returns another
// workspace's chunks, whatever knowledge base IDs it names.
func TestKnowledgeSearchIsolation(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws, other := mustWorkspace(t, db), mustWorkspace(t, db)
		mine, theirs := mustKnowledgeBase(t, ks, ws.ID, "Mine"), mustKnowledgeBase(t, ks, other.ID, "Theirs")
		emb := []float32{0, 1}
		cm := mustChunks(t, ks, mustTextSource(t, ks, mine, "A", "…"), []string{"jacket returns"}, emb)
		ct := mustChunks(t, ks, mustTextSource(t, ks, theirs, "B", "…"), []string{"jacket returns secret"}, emb)
		// Theirs holds most chunks, so that on SQLite a search of mine keeps
		// to it inside the full-text query, and one of theirs ranks every
		// match and drops others: both ways are tested.
		mustChunks(t, ks, mustTextSource(t, ks, theirs, "C", "…"), []string{"jacket one", "jacket two", "jacket three"},
			emb, emb, emb)

		for _, q := range []hyponema.SearchQuery{
			{KnowledgeBaseIDs: []string{theirs.ID}, Text: "jacket"},
			{KnowledgeBaseIDs: []string{theirs.ID}, Text: "jacket", Embedding: emb},
			{KnowledgeBaseIDs: []string{theirs.ID}, Embedding: emb},
			{KnowledgeBaseIDs: []string{"kb_missing", theirs.ID, theirs.ID}, Text: "secret", Embedding: emb},
		} {
			hits, err := ks.Search(ctx, ws.ID, q)
			must(t, err)
			if len(hits) != 0 {
				t.Errorf("%+v found %+v", q, hits)
			}
		}
		hits, err := ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{theirs.ID, mine.ID},
			Text: "jacket secret", Embedding: emb, TopK: 10})
		must(t, err)
		wantIDs(t, hitIDs(hits), chunkIDs(cm))
		hits, err = ks.Search(ctx, other.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{mine.ID, theirs.ID}, Text: "secret", TopK: 10})
		must(t, err)
		wantIDs(t, hitIDs(hits), chunkIDs(ct))
		hits, err = ks.Search(ctx, other.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{mine.ID, theirs.ID}, Text: "jacket",
			Embedding: emb, TopK: 10})
		must(t, err)
		if len(hits) != 4 || slices.Contains(hitIDs(hits), cm[0].ID) {
			t.Errorf("theirs found %v", hitIDs(hits))
		}
		// Another workspace's IDs in every other call, too.
		_, err = ks.FindChunk(ctx, ws.ID, theirs.ID, ct[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = ks.FindChunk(ctx, ws.ID, mine.ID, ct[0].ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantCode(t, ks.ReplaceChunks(ctx, ws.ID, ct[0].SourceID, 0, nil, "text/plain", 0), hyponema.ENOTFOUND)
		wantCode(t, ks.DeleteKnowledgeBase(ctx, ws.ID, theirs.ID), hyponema.ENOTFOUND)
		_, err = ks.SourceContent(ctx, ws.ID, ct[0].SourceID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

// TestKnowledgeSearchConcurrent searches while the chunks change, for the
// race detector and the vector cache: every answer is a consistent one.
func TestKnowledgeSearchConcurrent(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		ks := store.NewKnowledgeService(db)
		ws := mustWorkspace(t, db)
		kb := mustKnowledgeBase(t, ks, ws.ID, "Help")
		src := mustTextSource(t, ks, kb, "FAQ", "…")
		embs := make([][]float32, len(faq))
		for i := range faq {
			embs[i] = basis(len(faq), i, 0, 0)
		}
		mustChunks(t, ks, src, faq, embs...)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 20 {
					hits, err := ks.Search(ctx, ws.ID, hyponema.SearchQuery{KnowledgeBaseIDs: []string{kb.ID},
						Text: "jacket", Embedding: embs[2], TopK: 3})
					if err != nil {
						t.Error(err)
						return
					}
					if len(hits) == 0 {
						t.Error("no hits")
						return
					}
				}
			})
		}
		for range 5 {
			mustChunks(t, ks, src, faq, embs...)
		}
		wg.Wait()
	})
}
