package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/internal/binarytest"
	"github.com/hyponema/hyponema/knowledge/extract"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/store/storetest"
)

// TestKnowledgeEndToEnd uses knowledge bases through the built binary, as a
// customer's backend would over HTTP: it uploads a file of each supported
// type (written by the test), adds a text source and URL sources fetched
// through the egress guard, re-syncs one, deletes one, attaches the
// knowledge base to an agent on the offline engine and asks it a question
// whose reply cites the passage. Embeddings come from a real HTTP
// embeddings API, so search is hybrid. It runs on SQLite, and on
// PostgreSQL when the test database is configured.
func TestKnowledgeEndToEnd(t *testing.T) {
	bin := binarytest.Build(t)
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var env []string
			if name == "postgres" {
				env = append(env, "HYPONEMA_DATABASE_URL="+storetest.PostgresDSN(t))
			}
			key := hyponema.NewAPIKeySecret()
			emb := llmtest.NewEmbeddingsServer(t, 256)
			site := newSite(t)
			env = append(env, "HYPONEMA_DATA_DIR="+t.TempDir(), "HYPONEMA_BOOTSTRAP_API_KEY="+key,
				"HYPONEMA_EGRESS_ALLOW=127.0.0.1/32",
				"HYPONEMA_EMBEDDING_MODEL=test-embedding", "HYPONEMA_OPENAI_BASE_URL="+emb.URL(), "HYPONEMA_OPENAI_API_KEY=sk-test")
			p := binarytest.Start(t, bin, env)
			ws := p.Call("GET", "/workspaces", key, "", 200)["data"].([]any)[0].(map[string]any)["id"].(string)
			kb := p.Call("POST", "/workspaces/"+ws+"/knowledge-base", key, `{"name":"Help center"}`, 201)["id"].(string)
			k := &kbClient{t: t, p: p, key: key, base: "/workspaces/" + ws + "/knowledge-base/" + kb}

			// One file of each type, written to disk and uploaded from it,
			// each with its own fact, and a text source as JSON.
			dir := t.TempDir()
			type doc struct {
				file, partType string // the file, and its part's Content-Type ("" sends none)
				content        []byte
				wantType       string // content_type once ready
				query, fact    string // a question, and what the passage answering it says
				id             string
			}
			docs := []*doc{
				{file: "returns.txt", partType: "text/plain",
					content:  []byte("Returns policy\n\nWool jackets may be returned within 45 days of delivery for a full refund to the original card.\n"),
					wantType: "text/plain", query: "Can I return a wool jacket?", fact: "within 45 days of delivery"},
				{file: "shipping.md", partType: "", // no part type: the extension says Markdown
					content: []byte("# Shipping\n\n## Standard\n\nStandard letters travel by rail and take a week.\n\n" +
						"## Express\n\nExpress parcels to Norway arrive within two working days and cost 19 kroner.\n\n" +
						"## Customs\n\nCustoms forms are filled in by our warehouse staff.\n"),
					wantType: "text/markdown", query: "express parcels to Norway", fact: "arrive within two working days"},
				{file: "warranty.html", partType: "text/html",
					content: []byte(`<!doctype html><html><head><title>Warranty</title><style>.zzstylenoise{color:red}</style>` +
						`<script>var zzscriptnoise = "tracking";</script></head><body>` +
						`<nav><a href="/">zznavnoise home</a> | <a href="/shop">shop</a></nav>` +
						`<main><h1>Warranty</h1><p>Every toaster carries a five year warranty covering the heating element.</p>` +
						`<script>zzscriptnoise()</script></main><footer>zzfooternoise copyright</footer></body></html>`),
					wantType: "text/html", query: "toaster warranty", fact: "five year warranty covering the heating element"},
				{file: "lighthouse.pdf", partType: "application/pdf",
					content:  pdfFile(t, "Lighthouse maintenance", "The lighthouse lamp is polished every Tuesday with apple vinegar."),
					wantType: "application/pdf", query: "How is the lighthouse lamp polished?", fact: "polished every Tuesday with apple vinegar"},
				{file: "catalogue.csv", partType: "text/csv",
					content:  []byte("product,colour,price\nUmbrella,violet,24 euros\nKettle,turquoise,31 euros\n"),
					wantType: "text/csv", query: "price of the violet umbrella", fact: "product: Umbrella; colour: violet; price: 24 euros"},
			}
			for _, d := range docs {
				path := filepath.Join(dir, d.file)
				if err := os.WriteFile(path, d.content, 0o600); err != nil {
					t.Fatal(err)
				}
				status, src := k.upload(path, d.partType)
				if status != 201 || src["status"] != "pending" || src["type"] != "file" || src["name"] != d.file ||
					src["size"] != float64(len(d.content)) || src["chunk_count"] != float64(0) {
					t.Fatalf("upload %s: %d %v", d.file, status, src)
				}
				d.id = src["id"].(string)
			}
			text := p.Call("POST", k.base+"/sources", key,
				`{"type":"text","name":"Bakery hours","text":"The bakery on Elm Street opens at seven and closes at noon on Sundays."}`, 201)
			if text["status"] != "pending" {
				t.Fatalf("text source %v", text)
			}
			docs = append(docs, &doc{id: text["id"].(string), wantType: "text/plain",
				query: "When does the bakery close on Sunday?", fact: "closes at noon on Sundays"})

			// The URL source: an HTML page fetched through the egress guard.
			site.set(parkingPage("Bicycle parking is in the courtyard behind the aquarium."))
			page := p.Call("POST", k.base+"/sources", key, `{"type":"url","url":"`+site.URL+`/parking"}`, 201)
			if page["status"] != "pending" || page["name"] != site.URL+"/parking" {
				t.Fatalf("url source %v", page)
			}
			docs = append(docs, &doc{id: page["id"].(string), wantType: "text/html",
				query: "Where is the bicycle parking?", fact: "courtyard behind the aquarium"})

			// Each becomes ready in the background, its chunks hold its
			// text without markup, and a question on its fact finds it first.
			totalChunks := 0
			for _, d := range docs {
				src := k.waitSource(d.id)
				if src["status"] != "ready" || src["error"] != "" || src["content_type"] != d.wantType || src["synced_at"] == nil {
					t.Fatalf("source %s: %v", d.file, src)
				}
				n := int(src["chunk_count"].(float64))
				if n == 0 {
					t.Fatalf("source %s has no chunks: %v", d.file, src)
				}
				totalChunks += n
				chunks := k.chunks(d.id)
				if len(chunks) != n {
					t.Fatalf("source %s: %d chunks listed, chunk_count %d", d.file, len(chunks), n)
				}
				all := ""
				for _, c := range chunks {
					all += c["heading"].(string) + "\n" + c["text"].(string) + "\n"
				}
				if !strings.Contains(all, d.fact) {
					t.Errorf("source %s: chunks lack %q:\n%s", d.file, d.fact, all)
				}
				for _, noise := range []string{"<", "zzscriptnoise", "zznavnoise", "zzstylenoise", "zzfooternoise", "tracking"} {
					if strings.Contains(all, noise) {
						t.Errorf("source %s: chunks hold %q:\n%s", d.file, noise, all)
					}
				}
				hits := k.query(d.query)
				if len(hits) == 0 || hits[0]["source_id"] != d.id || !strings.Contains(hits[0]["text"].(string), d.fact) {
					t.Errorf("query %q: want %s (%s) first, got %v", d.query, d.id, d.file, hits)
				}
			}
			if md := k.chunks(docs[1].id); len(md) != 3 || md[1]["heading"] != "Shipping > Express" {
				t.Errorf("Markdown chunks by heading: %v", md)
			}
			// Every chunk was embedded, in batches, and so were the queries.
			embedded, batches := 0, emb.Batches()
			for _, n := range batches {
				embedded += n
			}
			if embedded < totalChunks+len(docs) || !hasBatchOver(batches, 1) {
				t.Errorf("embeddings server got batches %v for %d chunks and %d queries", batches, totalChunks, len(docs))
			}

			// Re-sync: the page changed; its chunks are remade from the new
			// content and the old fact is no longer found.
			fetches := site.fetches.Load()
			site.set(parkingPage("Bicycle parking moved to the basement under the planetarium."))
			synced := p.Call("POST", k.base+"/sources/"+page["id"].(string)+"/sync", key, "", 202)
			if synced["status"] != "pending" || synced["id"] != page["id"] {
				t.Fatalf("sync answered %v", synced)
			}
			src := k.waitSource(page["id"].(string))
			if src["status"] != "ready" || src["error"] != "" {
				t.Fatalf("after sync: %v", src)
			}
			if site.fetches.Load() <= fetches {
				t.Errorf("the page was not fetched again")
			}
			if c := k.chunks(page["id"].(string)); len(c) != 1 || !strings.Contains(c[0]["text"].(string), "basement under the planetarium") {
				t.Errorf("chunks after sync: %v", c)
			}
			hits := k.query("Where is the bicycle parking? The aquarium courtyard?")
			if len(hits) == 0 || hits[0]["source_id"] != page["id"] || !strings.Contains(hits[0]["text"].(string), "planetarium") {
				t.Errorf("after sync: %v", hits)
			}
			for _, h := range hits {
				if strings.Contains(h["text"].(string), "aquarium") {
					t.Errorf("the old fact is still found after sync: %v", h)
				}
			}

			// URLs that fail: an address the egress guard refuses (a
			// loopback address left out of the allow list; nothing is sent
			// to it), and a page that is not there.
			port := mustPort(t, site.URL)
			refused := p.Call("POST", k.base+"/sources", key, `{"type":"url","url":"http://127.0.0.2:`+port+`/parking"}`, 201)["id"].(string)
			missing := p.Call("POST", k.base+"/sources", key, `{"type":"url","url":"`+site.URL+`/missing"}`, 201)["id"].(string)
			if src := k.waitSource(refused); src["status"] != "failed" || !strings.Contains(src["error"].(string), "egress guard") || src["chunk_count"] != float64(0) {
				t.Errorf("a refused address: %v", src)
			}
			if src := k.waitSource(missing); src["status"] != "failed" || !strings.Contains(src["error"].(string), "404") {
				t.Errorf("a missing page: %v", src)
			}

			// Over the size limit: 413 in the API's error shape.
			big := filepath.Join(dir, "big.txt")
			if err := os.WriteFile(big, bytes.Repeat([]byte("a"), hyponema.MaxSourceFileSize+1), 0o600); err != nil {
				t.Fatal(err)
			}
			status, e := k.upload(big, "text/plain")
			if status != 413 || e["error_kind"] != "payload_too_large" || !strings.Contains(fmt.Sprint(e["detail"]), "20 MiB") || e["request_id"] == "" {
				t.Errorf("a file over the limit: %d %v", status, e)
			}
			// A body that is neither JSON nor multipart: 415.
			status, _, b := k.do("POST", k.base+"/sources", "text/plain", []byte("Returns within 30 days"))
			if status != 415 || !strings.Contains(string(b), `"error_kind":"unsupported_media_type"`) {
				t.Errorf("a text/plain body: %d %s", status, b)
			}
			// A file of a type that cannot be read is refused at once; a URL
			// that serves one fails in ingestion with a reason that names
			// the supported types.
			png := filepath.Join(dir, "logo.png")
			if err := os.WriteFile(png, pngBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			if status, m := k.upload(png, "image/png"); status != 415 || m["error_kind"] != "unsupported_media_type" {
				t.Errorf("a PNG upload: %d %v", status, m)
			}
			logo := p.Call("POST", k.base+"/sources", key, `{"type":"url","url":"`+site.URL+`/logo.png"}`, 201)["id"].(string)
			if src := k.waitSource(logo); src["status"] != "failed" || src["error"] != "cannot read image/png files: the supported types are "+extract.Supported {
				t.Errorf("a PNG URL: %v", src)
			}

			// Deleting a source deletes its chunks: retrieval no longer finds them.
			csv := docs[4]
			csvChunks := k.chunks(csv.id)
			p.Call("DELETE", k.base+"/sources/"+csv.id, key, "", 204)
			p.Call("GET", k.base+"/sources/"+csv.id, key, "", 404)
			p.Call("GET", k.base+"/chunks/"+csvChunks[0]["id"].(string), key, "", 404)
			p.Call("GET", k.base+"/chunks?source_id="+csv.id, key, "", 404)
			for _, c := range objects(p.Call("GET", k.base+"/chunks?limit=100", key, "", 200)["data"]) {
				if c["source_id"] == csv.id {
					t.Errorf("a chunk of a deleted source is listed: %v", c)
				}
			}
			for _, h := range k.query(csv.query) {
				if h["source_id"] == csv.id || strings.Contains(h["text"].(string), "violet") {
					t.Errorf("a deleted source is found: %v", h)
				}
			}

			// An agent on the offline engine: a version made before the
			// knowledge base is attached has none; one made after has it.
			agents := "/workspaces/" + ws + "/agents/"
			agent := p.Call("POST", "/workspaces/"+ws+"/agents", key, `{"name":"Support","instructions":"Help.","model":"local/hyponema-demo"}`, 201)["id"].(string)
			v0 := p.Call("POST", agents+agent+"/versions", key, `{}`, 201)
			if ids := kbIDs(t, v0); len(ids) != 0 {
				t.Errorf("a version before attaching: %v", ids)
			}
			attached := p.Call("POST", k.base+"/attach", key, `{"agent_id":"`+agent+`"}`, 200)
			if ids := kbIDs(t, attached); len(ids) != 1 || ids[0] != kb {
				t.Errorf("attach answered %v", attached)
			}
			v1 := p.Call("POST", agents+agent+"/versions", key, `{}`, 201)
			if ids := kbIDs(t, v1); len(ids) != 1 || ids[0] != kb {
				t.Errorf("the version lacks the knowledge base: %v", v1)
			}
			p.Call("POST", agents+agent+"/publish", key, `{"version_id":"`+v1["id"].(string)+`"}`, 200)
			ses := p.Call("POST", "/sessions", key, `{"agent_id":"`+agent+`"}`, 201)["id"].(string)

			// The reply quotes the best passage and cites it.
			pdf := docs[3]
			reply := p.Call("POST", "/sessions/"+ses+"/messages", key, `{"text":"`+pdf.query+`"}`, 200)
			cites := citationsOf(t, reply)
			if reply["role"] != "assistant" || reply["status"] != "complete" || !strings.Contains(reply["text"].(string), pdf.fact) ||
				len(cites) == 0 || cites[0]["source_id"] != pdf.id || cites[0]["knowledge_base_id"] != kb ||
				!strings.HasPrefix(fmt.Sprint(cites[0]["chunk_id"]), "chk_") {
				t.Fatalf("reply %v", reply)
			}
			if c := p.Call("GET", k.base+"/chunks/"+cites[0]["chunk_id"].(string), key, "", 200); c["source_id"] != pdf.id ||
				!strings.Contains(c["text"].(string), pdf.fact) {
				t.Errorf("the cited chunk: %v", c)
			}
			// The transcript keeps the citations…
			msgs := p.Call("GET", "/sessions/"+ses+"/messages", key, "", 200)["data"].([]any)
			last := msgs[len(msgs)-1].(map[string]any)
			if last["id"] != reply["id"] || !sameJSON(t, last["citations"], reply["citations"]) {
				t.Errorf("stored message %v, reply %v", last, reply)
			}
			// …and so does message.completed in the session's event log.
			completed := k.completedEvent(ses, reply["id"].(string))
			if !sameJSON(t, completed["citations"], reply["citations"]) || completed["text"] != reply["text"] {
				t.Errorf("message.completed %v, reply %v", completed, reply)
			}

			// Another workspace cannot see the knowledge base, and its own
			// knowledge base's searches never find the first one's chunks.
			other := newWorkspace(t, bin, env, "Other")
			for _, path := range []string{k.base, "/workspaces/" + other.ws + "/knowledge-base/" + kb, k.base + "/sources", k.base + "/chunks"} {
				p.Call("GET", path, other.key, "", 404)
			}
			p.Call("POST", k.base+"/query", other.key, `{"query":"lighthouse lamp"}`, 404)
			p.Call("POST", k.base+"/sources", other.key, `{"type":"text","name":"x","text":"y"}`, 404)
			otherKB := "/workspaces/" + other.ws + "/knowledge-base/" + p.Call("POST", "/workspaces/"+other.ws+"/knowledge-base", other.key, `{"name":"Theirs"}`, 201)["id"].(string)
			if d := p.Call("POST", otherKB+"/query", other.key, `{"query":"How is the lighthouse lamp polished?"}`, 200)["data"].([]any); len(d) != 0 {
				t.Errorf("an empty knowledge base found %v", d)
			}
			otherClient := &kbClient{t: t, p: p, key: other.key, base: otherKB}
			theirs := p.Call("POST", otherKB+"/sources", other.key, `{"type":"text","name":"Lamps","text":"Desk lamps are sold on the second floor."}`, 201)["id"].(string)
			otherClient.waitSource(theirs)
			for _, q := range []string{pdf.query, "lighthouse lamp apple vinegar Tuesday", "bicycle parking planetarium"} {
				for _, h := range otherClient.query(q) {
					if h["source_id"] != theirs {
						t.Errorf("workspace %s found another's passage for %q: %v", other.ws, q, h)
					}
				}
			}
			p.Stop()
		})
	}
}

// kbClient calls the routes of one knowledge base (base is its path) with
// a workspace key.
type kbClient struct {
	t    *testing.T
	p    *binarytest.Server
	key  string
	base string
}

// do sends a request with a raw body and returns the status, the headers
// and the body.
func (k *kbClient) do(method, path, contentType string, body []byte) (int, http.Header, []byte) {
	k.t.Helper()
	req, err := http.NewRequest(method, k.p.URL+path, bytes.NewReader(body))
	if err != nil {
		k.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.key)
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		k.t.Fatal(err)
	}
	return res.StatusCode, res.Header, b
}

// upload sends the file at path as a new source, as multipart/form-data
// with the part Content-Type partType ("" sends none), and returns the
// status and the decoded answer.
func (k *kbClient) upload(path, partType string) (int, map[string]any) {
	k.t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		k.t.Fatal(err)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filepath.Base(path)))
	if partType != "" {
		h.Set("Content-Type", partType)
	}
	part, err := w.CreatePart(h)
	if err != nil {
		k.t.Fatal(err)
	}
	if _, err := part.Write(content); err != nil {
		k.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		k.t.Fatal(err)
	}
	status, _, b := k.do("POST", k.base+"/sources", w.FormDataContentType(), buf.Bytes())
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		k.t.Fatalf("upload %s: %d %s", path, status, b)
	}
	return status, m
}

// waitSource polls the source until it is no longer pending, for up to
// 30 s, and returns it.
func (k *kbClient) waitSource(id string) map[string]any {
	k.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		src := k.p.Call("GET", k.base+"/sources/"+id, k.key, "", 200)
		if src["status"] != "pending" {
			return src
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("source %s still pending: %v", id, src)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chunks lists a source's chunks in its order.
func (k *kbClient) chunks(sourceID string) []map[string]any {
	k.t.Helper()
	return objects(k.p.Call("GET", k.base+"/chunks?order=asc&limit=100&source_id="+sourceID, k.key, "", 200)["data"])
}

// query searches the knowledge base and returns its hits, best first.
func (k *kbClient) query(q string) []map[string]any {
	k.t.Helper()
	b, _ := json.Marshal(map[string]any{"query": q, "top_k": 10})
	return objects(k.p.Call("POST", k.base+"/query", k.key, string(b), 200)["data"])
}

// completedEvent replays the session's events (SSE) and returns the data
// of the message.completed event of the message id.
func (k *kbClient) completedEvent(session, id string) map[string]any {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", k.p.URL+"/sessions/"+session+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+k.key)
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(res.Body)
		k.t.Fatalf("events: %d %s", res.StatusCode, b)
	}
	var found map[string]any
	var seen []string
	err = readSSE(res.Body, func(event string, data []byte) (bool, error) {
		seen = append(seen, event)
		if event != "message.completed" {
			return false, nil
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return false, fmt.Errorf("message.completed data %s: %w", data, err)
		}
		if m["id"] == id {
			found = m
			return true, nil
		}
		return false, nil
	})
	if err != nil || found == nil {
		k.t.Fatalf("no message.completed for %s among %v: %v", id, seen, err)
	}
	return found
}

// pngBytes is the start of a PNG image.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

// site is a local web server whose /parking page the test changes, with
// an image at /logo.png; every other path is 404. It listens on 127.0.0.1.
type site struct {
	*httptest.Server
	mu      sync.Mutex
	page    string
	fetches atomic.Int64
}

func newSite(t *testing.T) *site {
	s := &site{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/parking":
		case "/logo.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngBytes)
			return
		default:
			http.NotFound(w, r)
			return
		}
		s.fetches.Add(1)
		s.mu.Lock()
		page := s.page
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) set(page string) {
	s.mu.Lock()
	s.page = page
	s.mu.Unlock()
}

// parkingPage is an HTML page with fact in its main content, and markup,
// scripts and navigation around it that must not reach the chunks.
func parkingPage(fact string) string {
	return `<!DOCTYPE html><html><head><title>Parking</title><script>window.zzscriptnoise = 1;</script></head>` +
		`<body><nav><ul><li><a href="/">zznavnoise home</a></li></ul></nav>` +
		`<main><h1>Parking</h1><p><strong>` + fact + `</strong></p></main>` +
		`<footer>zzfooternoise</footer></body></html>`
}

// pdfFile makes a one-page PDF with a title and a paragraph.
func pdfFile(t *testing.T, title, text string) []byte {
	t.Helper()
	f := fpdf.New("P", "mm", "A4", "")
	f.SetTitle(title, true)
	f.SetFont("Helvetica", "", 12)
	f.AddPage()
	f.MultiCell(0, 6, text, "", "L", false)
	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tenant is a workspace and its key.
type tenant struct{ ws, key string }

// newWorkspace runs "hyponema workspace create" on the server's
// database, as an operator would.
func newWorkspace(t *testing.T, bin string, env []string, name string) tenant {
	t.Helper()
	cmd := exec.Command(bin, "workspace", "create", "--name", name)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("workspace create: %v: %s", err, stderr.String())
	}
	var got struct {
		WorkspaceID string `json:"workspace_id"`
		APIKey      string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &got); err != nil || got.WorkspaceID == "" || got.APIKey == "" {
		t.Fatalf("workspace create printed %q: %v", out, err)
	}
	return tenant{got.WorkspaceID, got.APIKey}
}

// kbIDs returns the knowledge_base_ids of an agent or version, wherever it
// sits in the object.
func kbIDs(t *testing.T, obj map[string]any) []string {
	t.Helper()
	var find func(v any) ([]any, bool)
	find = func(v any) ([]any, bool) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if ids, ok := m["knowledge_base_ids"].([]any); ok {
			return ids, true
		}
		for _, c := range m {
			if ids, ok := find(c); ok {
				return ids, true
			}
		}
		return nil, false
	}
	ids, ok := find(obj)
	if !ok {
		t.Fatalf("no knowledge_base_ids in %v", obj)
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i], _ = id.(string)
	}
	return out
}

func citationsOf(t *testing.T, msg map[string]any) []map[string]any {
	t.Helper()
	c, ok := msg["citations"].([]any)
	if !ok {
		t.Fatalf("no citations: %v", msg)
	}
	return objects(c)
}

func objects(v any) []map[string]any {
	list, _ := v.([]any)
	out := make([]map[string]any, len(list))
	for i, o := range list {
		out[i], _ = o.(map[string]any)
	}
	return out
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func hasBatchOver(batches []int, n int) bool {
	for _, b := range batches {
		if b > n {
			return true
		}
	}
	return false
}

func mustPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		t.Fatalf("no port in %q: %v", raw, err)
	}
	return u.Port()
}
