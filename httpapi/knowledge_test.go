package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/httpapi"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// upload builds a multipart/form-data body: a "file" part (unless
// filename is "-") with the given part Content-Type ("" sends none), and
// the fields, in order.
func upload(t testing.TB, filename, contentType string, content []byte, fields ...string) (body, mediaType string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := w.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if filename != "-" {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+filename+`"`)
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		p, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String(), w.FormDataContentType()
}

const returnsPolicy = "# Returns\n\nYou may return a jacket within 30 days of delivery.\n\n## Refunds\n\nRefunds reach your card in 5 business days.\n"

// TestKnowledgeBaseLifecycle creates, lists, gets and deletes knowledge
// bases.
func TestKnowledgeBaseLifecycle(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		vars := map[string]string{"ws": a.ws, "key": a.key}
		runScenarios(t, ts, vars, []scenario{
			{name: "create", method: "POST", path: "/workspaces/{ws}/knowledge-base", body: `{"name":"Help center","description":"Public articles"}`, status: 201,
				save: map[string]string{"kb": "id"}, contains: []string{`"id":"kb_`, `"workspace_id":"{ws}"`, `"name":"Help center"`, `"description":"Public articles"`}},
			{name: "create another", method: "POST", path: "/workspaces/{ws}/knowledge-base", body: `{"name":"Policies"}`, status: 201,
				save: map[string]string{"kb2": "id"}, contains: []string{`"description":""`}},
			{name: "no name", method: "POST", path: "/workspaces/{ws}/knowledge-base", body: `{"description":"x"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","name"]`, `"type":"missing"`}},
			{name: "blank name", method: "POST", path: "/workspaces/{ws}/knowledge-base", body: `{"name":"  "}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","name"]`}},
			{name: "unknown field", method: "POST", path: "/workspaces/{ws}/knowledge-base", body: `{"name":"x","owner":"me"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","owner"]`, `"type":"extra_forbidden"`}},
			{name: "broken JSON", method: "POST", path: "/workspaces/{ws}/knowledge-base", body: `{"name":`, status: 400, kind: "malformed_json"},
			{name: "get", method: "GET", path: "/workspaces/{ws}/knowledge-base/{kb}", status: 200, contains: []string{`"id":"{kb}"`, `"name":"Help center"`}},
			{name: "list newest first", method: "GET", path: "/workspaces/{ws}/knowledge-base", status: 200,
				contains: []string{`"data":[{"id":"{kb2}"`, `"id":"{kb}"`, `"has_more":false`}},
			{name: "list a page", method: "GET", path: "/workspaces/{ws}/knowledge-base?limit=1&order=asc", status: 200,
				contains: []string{`"id":"{kb}"`, `"has_more":true`, `"next_cursor":`}, absent: []string{`{kb2}`}},
			{name: "delete", method: "DELETE", path: "/workspaces/{ws}/knowledge-base/{kb}", status: 204},
			{name: "gone", method: "GET", path: "/workspaces/{ws}/knowledge-base/{kb}", status: 404, kind: "not_found"},
			{name: "delete again", method: "DELETE", path: "/workspaces/{ws}/knowledge-base/{kb}", status: 404, kind: "not_found"},
			{name: "sources of a deleted one", method: "GET", path: "/workspaces/{ws}/knowledge-base/{kb}/sources", status: 404, kind: "not_found"},
			{name: "unknown", method: "GET", path: "/workspaces/{ws}/knowledge-base/kb_nope", status: 404, kind: "not_found"},
			{name: "no key", method: "GET", path: "/workspaces/{ws}/knowledge-base", key: "-", status: 401, kind: "authentication_required"},
		})
	})
}

// TestSources adds text, url and file sources and checks the body
// handling of the one route that takes both JSON and multipart.
func TestSources(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		base := "/workspaces/" + a.ws + "/knowledge-base/" + kb + "/sources"
		vars := map[string]string{"ws": a.ws, "key": a.key, "kb": kb}
		runScenarios(t, ts, vars, []scenario{
			{name: "text", method: "POST", path: base, body: `{"type":"text","name":"Returns","text":"You may return a jacket within 30 days."}`, status: 201,
				save: map[string]string{"text": "id"},
				contains: []string{`"id":"src_`, `"knowledge_base_id":"{kb}"`, `"workspace_id":"{ws}"`, `"type":"text"`, `"name":"Returns"`,
					`"status":"pending"`, `"content_type":"text/plain"`, `"size":39`, `"chunk_count":0`, `"synced_at":null`, `"error":""`}},
			{name: "url", method: "POST", path: base, body: `{"type":"url","url":"https://example.com/faq"}`, status: 201,
				save:     map[string]string{"url": "id"},
				contains: []string{`"type":"url"`, `"url":"https://example.com/faq"`, `"name":"https://example.com/faq"`, `"status":"pending"`, `"size":0`}},
			{name: "url named", method: "POST", path: base, body: `{"type":"url","url":"https://example.com/terms","name":"Terms"}`, status: 201,
				contains: []string{`"name":"Terms"`}},
			{name: "text without a name", method: "POST", path: base, body: `{"type":"text","text":"hello"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","name"]`}},
			{name: "text without text", method: "POST", path: base, body: `{"type":"text","name":"x"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","text"]`}},
			{name: "url without url", method: "POST", path: base, body: `{"type":"url"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","url"]`}},
			{name: "url not http", method: "POST", path: base, body: `{"type":"url","url":"ftp://example.com/x"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","url"]`}},
			{name: "url with text", method: "POST", path: base, body: `{"type":"url","url":"https://example.com/x","text":"y"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","text"]`}},
			{name: "no type", method: "POST", path: base, body: `{"name":"x","text":"y"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","type"]`, `"type":"missing"`}},
			{name: "type file as JSON", method: "POST", path: base, body: `{"type":"file","name":"x"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","type"]`, `"type":"enum"`}},
			{name: "unknown field", method: "POST", path: base, body: `{"type":"text","name":"x","text":"y","tags":["a"]}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","tags"]`, `"type":"extra_forbidden"`, `"msg":"is not a known field"`}},
			{name: "wrong type", method: "POST", path: base, body: `{"type":"text","name":"x","text":5}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","text"]`, `"type":"type"`}},
			{name: "broken JSON", method: "POST", path: base, body: `{"type":"text",`, status: 400, kind: "malformed_json"},
			{name: "not an object", method: "POST", path: base, body: `[1]`, status: 422, kind: "validation_error"},
			{name: "get", method: "GET", path: base + "/{text}", status: 200, contains: []string{`"id":"{text}"`, `"name":"Returns"`}},
			{name: "list newest first", method: "GET", path: base + "?order=asc", status: 200, contains: []string{`"data":[{"id":"{text}"`, `"id":"{url}"`, `"has_more":false`}},
			{name: "sync", method: "POST", path: base + "/{url}/sync", status: 202, contains: []string{`"id":"{url}"`, `"status":"pending"`}},
			{name: "sync with {}", method: "POST", path: base + "/{url}/sync", body: `{}`, status: 202},
			{name: "sync unknown", method: "POST", path: base + "/src_nope/sync", status: 404, kind: "not_found"},
			{name: "delete", method: "DELETE", path: base + "/{url}", status: 204},
			{name: "gone", method: "GET", path: base + "/{url}", status: 404, kind: "not_found"},
			{name: "delete again", method: "DELETE", path: base + "/{url}", status: 404, kind: "not_found"},
			{name: "in an unknown knowledge base", method: "POST", path: "/workspaces/{ws}/knowledge-base/kb_nope/sources",
				body: `{"type":"text","name":"x","text":"y"}`, status: 404, kind: "not_found"},
		})

		// A text over MaxSourceTextLen is a bad field (422), not 413: the
		// body is within the route's limit; the field is too long.
		long, _ := json.Marshal(map[string]string{"type": "text", "name": "Long", "text": strings.Repeat("a", hyponema.MaxSourceTextLen+1)})
		m := checkError(t, ts.do("POST", base, a.key, string(long)), 422, "validation_error")
		if b, _ := json.Marshal(m["errors"]); !strings.Contains(string(b), `"loc":["body","text"]`) || !strings.Contains(string(b), `"too_long"`) {
			t.Errorf("long text: %s", b)
		}
		atLimit, _ := json.Marshal(map[string]string{"type": "text", "name": "At the limit", "text": strings.Repeat("a", hyponema.MaxSourceTextLen)})
		ts.must(201, "POST", base, a.key, string(atLimit))

		// Other media types.
		checkError(t, ts.do("POST", base, a.key, "Returns within 30 days", "Content-Type", "text/plain"), 415, "unsupported_media_type")
		checkError(t, ts.do("POST", base, a.key, "a=b", "Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type")
		checkError(t, ts.do("POST", base, a.key, "x", "Content-Type", "not a media type;;"), 415, "unsupported_media_type")
		checkError(t, ts.do("POST", base, a.key, ""), 400, "malformed_json")
	})
}

// TestSourceUpload uploads files as multipart/form-data.
func TestSourceUpload(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		base := "/workspaces/" + a.ws + "/knowledge-base/" + kb + "/sources"

		body, ct := upload(t, "returns.md", "text/markdown; charset=utf-8", []byte(returnsPolicy))
		src := ts.must(201, "POST", base, a.key, body, "Content-Type", ct).json(t)
		if src["type"] != "file" || src["name"] != "returns.md" || src["content_type"] != "text/markdown; charset=utf-8" ||
			src["size"] != float64(len(returnsPolicy)) || src["status"] != "pending" || src["knowledge_base_id"] != kb {
			t.Errorf("uploaded source: %v", src)
		}
		got := ts.must(200, "GET", base+"/"+src["id"].(string), a.key, "").json(t)
		if got["name"] != "returns.md" || got["size"] != float64(len(returnsPolicy)) {
			t.Errorf("stored source: %v", got)
		}
		// A file of a type that cannot be read is refused at once, whatever
		// it claims to be.
		png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
		for _, c := range []struct{ name, ct string }{{"logo.png", "image/png"}, {"logo", "application/octet-stream"}} {
			body, ct := upload(t, c.name, c.ct, png)
			m := checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 415, "unsupported_media_type")
			if d, _ := m["detail"].(string); !strings.Contains(d, "image/png") || !strings.Contains(d, "PDF") {
				t.Errorf("unreadable upload %s: %v", c.name, m)
			}
		}
		content, err := ts.srv.Knowledge.SourceContent(t.Context(), a.ws, src["id"].(string))
		if err != nil || string(content) != returnsPolicy {
			t.Errorf("stored content %q, %v", content, err)
		}

		// A name field wins over the file's name; no part Content-Type
		// leaves content_type empty for ingestion to detect.
		body, ct = upload(t, "policy.txt", "", []byte("Shipping is free."), "name", "Shipping policy")
		src = ts.must(201, "POST", base, a.key, body, "Content-Type", ct).json(t)
		if src["name"] != "Shipping policy" || src["content_type"] != "" || src["size"] != float64(17) {
			t.Errorf("named upload: %v", src)
		}
		// The path of a file name is dropped.
		body, ct = upload(t, "../../etc/faq.html", "text/html", []byte("<p>FAQ</p>"))
		if src = ts.must(201, "POST", base, a.key, body, "Content-Type", ct).json(t); src["name"] != "faq.html" {
			t.Errorf("name %v", src["name"])
		}

		body, ct = upload(t, "-", "", nil, "name", "x")
		m := checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 422, "validation_error")
		if b, _ := json.Marshal(m["errors"]); !strings.Contains(string(b), `"loc":["body","file"]`) {
			t.Errorf("no file: %s", b)
		}
		body, ct = upload(t, "a.md", "text/markdown", []byte("# A"), "owner", "me")
		m = checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 422, "validation_error")
		if b, _ := json.Marshal(m["errors"]); !strings.Contains(string(b), `"loc":["body","owner"]`) || !strings.Contains(string(b), "extra_forbidden") {
			t.Errorf("unknown field: %s", b)
		}
		body, ct = upload(t, "empty.md", "text/markdown", nil)
		checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 422, "validation_error")
		body, ct = upload(t, "", "text/markdown", []byte("# A"))
		m = checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 422, "validation_error")
		if b, _ := json.Marshal(m["errors"]); !strings.Contains(string(b), `"loc":["body","name"]`) {
			t.Errorf("no name at all: %s", b)
		}
		checkError(t, ts.do("POST", base, a.key, "--x\r\n", "Content-Type", "multipart/form-data"), 400, "malformed_json")
		checkError(t, ts.do("POST", base, a.key, "garbage", "Content-Type", "multipart/form-data; boundary=xyz"), 400, "malformed_json")

		// A file over the limit is 413 in the API's shape, and so is a body
		// over the route's own limit.
		body, ct = upload(t, "big.txt", "text/plain", bytes.Repeat([]byte("a"), hyponema.MaxSourceFileSize+1))
		m = checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 413, "payload_too_large")
		if !strings.Contains(m["detail"].(string), "20 MiB") {
			t.Errorf("detail %v", m["detail"])
		}
		body, ct = upload(t, "huge.txt", "text/plain", bytes.Repeat([]byte("a"), httpapi.MaxSourceBodyBytes))
		m = checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct), 413, "payload_too_large")
		if !strings.Contains(m["detail"].(string), "21 MiB") {
			t.Errorf("detail %v", m["detail"])
		}
		// A file at the limit is taken.
		body, ct = upload(t, "limit.txt", "text/plain", bytes.Repeat([]byte("b"), hyponema.MaxSourceFileSize))
		if src = ts.must(201, "POST", base, a.key, body, "Content-Type", ct).json(t); src["size"] != float64(hyponema.MaxSourceFileSize) {
			t.Errorf("size %v", src["size"])
		}
		// Other routes keep the 1 MiB limit.
		checkError(t, ts.do("POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"`+strings.Repeat("x", 1<<20)+`"}`), 413, "payload_too_large")
	})
}

// TestSourceUploadIdempotent sends uploads larger than the JSON limit with
// an Idempotency-Key: the key's middleware reads the whole body, so it must
// take the route's own limit.
func TestSourceUploadIdempotent(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		base := "/workspaces/" + a.ws + "/knowledge-base/" + kb + "/sources"

		body, ct := upload(t, "manual.txt", "text/plain", bytes.Repeat([]byte("manual "), 3<<20/7))
		first := ts.must(201, "POST", base, a.key, body, "Content-Type", ct, "Idempotency-Key", "upload-1")
		again := ts.must(201, "POST", base, a.key, body, "Content-Type", ct, "Idempotency-Key", "upload-1")
		if again.header.Get("Idempotent-Replayed") != "true" || first.str(t, "id") != again.str(t, "id") {
			t.Errorf("not replayed: %s / %s", first.body, again.body)
		}
		list := ts.must(200, "GET", base, a.key, "").json(t)["data"].([]any)
		if len(list) != 1 {
			t.Errorf("%d sources, want 1", len(list))
		}
		other, ct2 := upload(t, "other.txt", "text/plain", []byte("other"))
		checkError(t, ts.do("POST", base, a.key, other, "Content-Type", ct2, "Idempotency-Key", "upload-1"), 409, "idempotency_conflict")

		body, ct = upload(t, "big.txt", "text/plain", bytes.Repeat([]byte("a"), hyponema.MaxSourceFileSize+1))
		checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct, "Idempotency-Key", "upload-2"), 413, "payload_too_large")
		body, ct = upload(t, "huge.txt", "text/plain", bytes.Repeat([]byte("a"), httpapi.MaxSourceBodyBytes))
		checkError(t, ts.do("POST", base, a.key, body, "Content-Type", ct, "Idempotency-Key", "upload-3"), 413, "payload_too_large")
		// Other routes keep the 1 MiB limit under a key too.
		checkError(t, ts.do("POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"`+strings.Repeat("x", 1<<20)+`"}`, "Idempotency-Key", "kb-1"), 413, "payload_too_large")
	})
}

// fakeEmbedder embeds every text as the same vector, or fails.
type fakeEmbedder struct {
	fail  bool
	calls atomic.Int32
}

func (f *fakeEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	f.calls.Add(1)
	if f.fail {
		return nil, &hyponema.ProviderError{Provider: "openai", Message: "the embeddings API is down"}
	}
	out := make([][]float32, len(texts))
	for i := range texts {
		out[i] = []float32{1, 0, 0}
	}
	return out, nil
}

// addChunks makes a text source and stores its chunks as ingestion
// would, returning the source's ID and the chunks' IDs.
func addChunks(t *testing.T, ts *testServer, tn tenant, kb, name string, texts ...string) (string, []string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"type": "text", "name": name, "text": strings.Join(texts, "\n\n")})
	src := ts.must(201, "POST", "/workspaces/"+tn.ws+"/knowledge-base/"+kb+"/sources", tn.key, string(body)).str(t, "id")
	chunks := make([]*hyponema.Chunk, len(texts))
	for i, text := range texts {
		chunks[i] = &hyponema.Chunk{Heading: name, Text: text, Tokens: len(strings.Fields(text)), Embedding: []float32{1, float32(i), 0}}
	}
	if err := ts.srv.Knowledge.ReplaceChunks(t.Context(), tn.ws, src, 0, chunks, "text/plain", int64(len(body))); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(chunks))
	for i, c := range chunks {
		ids[i] = c.ID
	}
	return src, ids
}

// TestChunksAndQuery lists chunks and searches a knowledge base.
func TestChunksAndQuery(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		embedder := &fakeEmbedder{}
		ts := newTestServer(t, db, func(s *httpapi.Server) { s.Embedder = embedder })
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		other := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Other"}`).str(t, "id")
		base := "/workspaces/" + a.ws + "/knowledge-base/" + kb

		// Nothing is chunked until ingestion runs.
		if d := ts.must(200, "GET", base+"/chunks", a.key, "").json(t)["data"].([]any); len(d) != 0 {
			t.Fatalf("chunks before ingestion: %v", d)
		}
		returns, rc := addChunks(t, ts, a, kb, "Returns", "You may return a jacket within 30 days of delivery.", "Refunds reach your card in 5 business days.")
		shipping, sc := addChunks(t, ts, a, kb, "Shipping", "Shipping is free on orders over 50 euros.")
		addChunks(t, ts, a, other, "Elsewhere", "A jacket in another knowledge base.")

		vars := map[string]string{"ws": a.ws, "key": a.key, "kb": kb, "returns": returns, "shipping": shipping,
			"rc0": rc[0], "rc1": rc[1], "sc0": sc[0], "other": other}
		runScenarios(t, ts, vars, []scenario{
			{name: "source ready", method: "GET", path: base + "/sources/{returns}", status: 200, contains: []string{`"status":"ready"`, `"chunk_count":2`, `"synced_at":"`}},
			{name: "list", method: "GET", path: base + "/chunks?order=asc", status: 200,
				contains: []string{`"data":[{"id":"{rc0}"`, `"id":"{rc1}"`, `"id":"{sc0}"`, `"has_more":false`}, absent: []string{"another knowledge base", "embedding"}},
			{name: "list one source", method: "GET", path: base + "/chunks?order=asc&source_id={returns}", status: 200,
				contains: []string{`"data":[{"id":"{rc0}"`, `"index":0`, `"index":1`, `"heading":"Returns"`, `"source_id":"{returns}"`, `"knowledge_base_id":"{kb}"`}, absent: []string{"{sc0}"}},
			{name: "list a page", method: "GET", path: base + "/chunks?limit=1", status: 200, contains: []string{`"has_more":true`}},
			{name: "list an unknown source", method: "GET", path: base + "/chunks?source_id=src_nope", status: 404, kind: "not_found"},
			{name: "get", method: "GET", path: base + "/chunks/{rc1}", status: 200,
				contains: []string{`"id":"{rc1}"`, `"text":"Refunds reach your card in 5 business days."`, `"tokens":8`}, absent: []string{"embedding"}},
			{name: "get unknown", method: "GET", path: base + "/chunks/chk_nope", status: 404, kind: "not_found"},
			{name: "get from another knowledge base", method: "GET", path: "/workspaces/{ws}/knowledge-base/{other}/chunks/{rc1}", status: 404, kind: "not_found"},

			{name: "query", method: "POST", path: base + "/query", body: `{"query":"How long do I have to return a jacket?"}`, status: 200,
				contains: []string{`"data":[{"chunk_id":"{rc0}","source_id":"{returns}","knowledge_base_id":"{kb}","heading":"Returns","text":"You may return a jacket within 30 days of delivery.","score":`},
				absent:   []string{"another knowledge base"}},
			{name: "query top_k", method: "POST", path: base + "/query", body: `{"query":"jacket refunds shipping","top_k":1}`, status: 200,
				contains: []string{`"data":[{"chunk_id":`}, absent: []string{`},{"chunk_id"`}},
			{name: "empty query", method: "POST", path: base + "/query", body: `{"query":""}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","query"]`}},
			{name: "blank query", method: "POST", path: base + "/query", body: `{"query":"   "}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","query"]`}},
			{name: "no query", method: "POST", path: base + "/query", body: `{"top_k":3}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","query"]`, `"type":"missing"`}},
			{name: "long query", method: "POST", path: base + "/query", body: `{"query":"` + strings.Repeat("é", hyponema.MaxQueryLen+1) + `"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","query"]`, `"type":"too_long"`}},
			{name: "query at the limit", method: "POST", path: base + "/query", body: `{"query":"` + strings.Repeat("é", hyponema.MaxQueryLen) + `"}`, status: 200},
			{name: "top_k 0", method: "POST", path: base + "/query", body: `{"query":"jacket","top_k":0}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","top_k"]`}},
			{name: "top_k too large", method: "POST", path: base + "/query", body: `{"query":"jacket","top_k":51}`, status: 422, kind: "validation_error", contains: []string{`"loc":["body","top_k"]`}},
			{name: "top_k at the limit", method: "POST", path: base + "/query", body: `{"query":"jacket","top_k":50}`, status: 200},
			{name: "unknown field", method: "POST", path: base + "/query", body: `{"query":"jacket","knowledge_base_ids":["{other}"]}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","knowledge_base_ids"]`}},
			{name: "unknown knowledge base", method: "POST", path: "/workspaces/{ws}/knowledge-base/kb_nope/query", body: `{"query":"jacket"}`, status: 404, kind: "not_found"},

			{name: "delete a source", method: "DELETE", path: base + "/sources/{returns}", status: 204},
			{name: "its chunks are gone", method: "GET", path: base + "/chunks/{rc0}", status: 404, kind: "not_found"},
			{name: "and unsearchable", method: "POST", path: base + "/query", body: `{"query":"return a jacket"}`, status: 200, absent: []string{"{rc0}"}},
		})
		if embedder.calls.Load() == 0 {
			t.Error("the embedder was never asked")
		}

		// An embedder that fails leaves the search lexical.
		embedder.fail = true
		r := ts.must(200, "POST", base+"/query", a.key, `{"query":"free shipping"}`).json(t)
		if d := r["data"].([]any); len(d) != 1 || d[0].(map[string]any)["chunk_id"] != sc[0] {
			t.Errorf("lexical fallback: %v", r)
		}
	})
}

// TestQueryWithoutEmbedder searches by words alone.
func TestQueryWithoutEmbedder(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		_, ids := addChunks(t, ts, a, kb, "Hours", "The shop opens at nine.", "The shop closes at six.", "Parking is behind the shop.")
		r := ts.must(200, "POST", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/query", a.key, `{"query":"When does it close?"}`).json(t)
		d := r["data"].([]any)
		if len(d) == 0 || d[0].(map[string]any)["chunk_id"] != ids[1] {
			t.Fatalf("hits: %v", r)
		}
		if s, _ := d[0].(map[string]any)["score"].(float64); s <= 0 {
			t.Errorf("score %v", d[0])
		}
		if r["has_more"] != false {
			t.Errorf("has_more %v", r["has_more"])
		}
		// Words that no chunk has find nothing.
		if r := ts.must(200, "POST", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/query", a.key, `{"query":"zebra"}`); !strings.Contains(string(r.body), `"data":[]`) {
			t.Errorf("found: %s", r.body)
		}
	})
}

// TestKnowledgeAttach attaches knowledge bases to an agent's draft; its
// versions capture the list.
func TestKnowledgeAttach(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		kb2 := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Policies"}`).str(t, "id")
		agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"Support"}`).str(t, "id")
		vars := map[string]string{"ws": a.ws, "key": a.key, "kb": kb, "kb2": kb2, "agent": agent}
		runScenarios(t, ts, vars, []scenario{
			{name: "attach", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", body: `{"agent_id":"{agent}"}`, status: 200,
				contains: []string{`"id":"{agent}"`, `"knowledge_base_ids":["{kb}"]`}},
			{name: "attach again", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", body: `{"agent_id":"{agent}"}`, status: 200,
				contains: []string{`"knowledge_base_ids":["{kb}"]`}},
			{name: "attach another", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb2}/attach", body: `{"agent_id":"{agent}"}`, status: 200,
				contains: []string{`"knowledge_base_ids":["{kb}","{kb2}"]`}},
			{name: "the draft shows them", method: "GET", path: "/workspaces/{ws}/agents/{agent}", status: 200, contains: []string{`"knowledge_base_ids":["{kb}","{kb2}"]`}},
			{name: "version", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{}`, status: 201, save: map[string]string{"v1": "id"},
				contains: []string{`"knowledge_base_ids":["{kb}","{kb2}"]`}},
			{name: "no agent_id", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", body: `{}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","agent_id"]`, `"type":"missing"`}},
			{name: "no body", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", status: 400, kind: "malformed_json"},
			{name: "unknown agent", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", body: `{"agent_id":"agt_nope"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","agent_id"]`, `no such agent`}},
			{name: "unknown field", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", body: `{"agent_id":"{agent}","tool_id":"x"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","tool_id"]`}},
			{name: "unknown knowledge base", method: "POST", path: "/workspaces/{ws}/knowledge-base/kb_nope/attach", body: `{"agent_id":"{agent}"}`, status: 404, kind: "not_found"},
			{name: "detach", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/detach", body: `{"agent_id":"{agent}"}`, status: 200,
				contains: []string{`"knowledge_base_ids":["{kb2}"]`}},
			{name: "detach again", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/detach", body: `{"agent_id":"{agent}"}`, status: 404, kind: "not_found"},
			{name: "detach no agent_id", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/detach", body: `{}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","agent_id"]`}},
			{name: "detach unknown agent", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/detach", body: `{"agent_id":"agt_nope"}`, status: 422, kind: "validation_error",
				contains: []string{`"loc":["body","agent_id"]`}},
			{name: "the version keeps its list", method: "GET", path: "/workspaces/{ws}/agents/{agent}/versions/{v1}", status: 200,
				contains: []string{`"knowledge_base_ids":["{kb}","{kb2}"]`}},
			{name: "detach the last", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb2}/detach", body: `{"agent_id":"{agent}"}`, status: 200,
				contains: []string{`"knowledge_base_ids":[]`}},
			{name: "a new version", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{}`, status: 201, contains: []string{`"knowledge_base_ids":[]`}},
		})

		// At most MaxKnowledgeBasesPerAgent.
		for i := 0; i < hyponema.MaxKnowledgeBasesPerAgent; i++ {
			id := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"kb"}`).str(t, "id")
			ts.must(200, "POST", "/workspaces/"+a.ws+"/knowledge-base/"+id+"/attach", a.key, `{"agent_id":"`+agent+`"}`)
		}
		m := checkError(t, ts.do("POST", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/attach", a.key, `{"agent_id":"`+agent+`"}`), 422, "validation_error")
		if b := mustJSON(t, m["errors"]); !strings.Contains(string(b), `"loc":["body","agent_id"]`) {
			t.Errorf("errors %s", b)
		}
	})
}

// TestDeleteKnowledgeBaseDetaches deletes a knowledge base that an agent's
// draft retrieves from: the draft forgets it, its versions keep it.
func TestDeleteKnowledgeBaseDetaches(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a := ts.newTenant("A")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"Help"}`).str(t, "id")
		agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"Support"}`).str(t, "id")
		vars := map[string]string{"ws": a.ws, "key": a.key, "kb": kb, "agent": agent}
		runScenarios(t, ts, vars, []scenario{
			{name: "attach", method: "POST", path: "/workspaces/{ws}/knowledge-base/{kb}/attach", body: `{"agent_id":"{agent}"}`, status: 200},
			{name: "version", method: "POST", path: "/workspaces/{ws}/agents/{agent}/versions", body: `{}`, status: 201, save: map[string]string{"v1": "id"}},
			{name: "delete", method: "DELETE", path: "/workspaces/{ws}/knowledge-base/{kb}", status: 204},
			{name: "the draft forgets it", method: "GET", path: "/workspaces/{ws}/agents/{agent}", status: 200, contains: []string{`"knowledge_base_ids":[]`}},
			{name: "the version keeps it", method: "GET", path: "/workspaces/{ws}/agents/{agent}/versions/{v1}", status: 200, contains: []string{`"knowledge_base_ids":["{kb}"]`}},
		})
	})
}

// TestKnowledgeOfAnotherWorkspace calls every knowledge route with B's key
// on A's knowledge base, source and chunk, under both workspaces: 404.
func TestKnowledgeOfAnotherWorkspace(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ts := newTestServer(t, db)
		a, b := ts.newTenant("A"), ts.newTenant("B")
		kb := ts.must(201, "POST", "/workspaces/"+a.ws+"/knowledge-base", a.key, `{"name":"A help"}`).str(t, "id")
		src, chunks := addChunks(t, ts, a, kb, "A returns", "A secret passage about jackets.")
		agent := ts.must(201, "POST", "/workspaces/"+a.ws+"/agents", a.key, `{"name":"A agent"}`).str(t, "id")
		ts.must(200, "POST", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/attach", a.key, `{"agent_id":"`+agent+`"}`)
		bKB := ts.must(201, "POST", "/workspaces/"+b.ws+"/knowledge-base", b.key, `{"name":"B help"}`).str(t, "id")
		bAgent := ts.must(201, "POST", "/workspaces/"+b.ws+"/agents", b.key, `{"name":"B agent"}`).str(t, "id")
		file, ct := upload(t, "b.md", "text/markdown", []byte("# B"))

		kbPath := "/workspaces/{ws}/knowledge-base/" + kb
		routes := []foreignRoute{
			{"GET", kbPath, "", ""},
			{"DELETE", kbPath, "", ""},
			{"POST", kbPath + "/sources", `{"type":"text","name":"B","text":"B was here"}`, ""},
			{"POST", kbPath + "/sources", file, ct},
			{"POST", kbPath + "/sources", `not even JSON`, ""},
			{"GET", kbPath + "/sources", "", ""},
			{"GET", kbPath + "/sources/" + src, "", ""},
			{"DELETE", kbPath + "/sources/" + src, "", ""},
			{"POST", kbPath + "/sources/" + src + "/sync", "", ""},
			{"GET", kbPath + "/chunks", "", ""},
			{"GET", kbPath + "/chunks?source_id=" + src, "", ""},
			{"GET", kbPath + "/chunks/" + chunks[0], "", ""},
			{"POST", kbPath + "/query", `{"query":"jackets"}`, ""},
			{"POST", kbPath + "/attach", `{"agent_id":"` + agent + `"}`, ""},
			{"POST", kbPath + "/attach", `{"agent_id":"` + bAgent + `"}`, ""},
			{"POST", kbPath + "/detach", `{"agent_id":"` + agent + `"}`, ""},
			{"POST", kbPath + "/detach", `{"agent_id":"` + bAgent + `"}`, ""},
			// A's source, chunk and agent under B's own knowledge base.
			{"GET", "/workspaces/{ws}/knowledge-base/" + bKB + "/sources/" + src, "", ""},
			{"DELETE", "/workspaces/{ws}/knowledge-base/" + bKB + "/sources/" + src, "", ""},
			{"POST", "/workspaces/{ws}/knowledge-base/" + bKB + "/sources/" + src + "/sync", "", ""},
			{"GET", "/workspaces/{ws}/knowledge-base/" + bKB + "/chunks/" + chunks[0], "", ""},
			{"GET", "/workspaces/{ws}/knowledge-base/" + bKB + "/chunks?source_id=" + src, "", ""},
		}
		checkForeign(t, ts, b.key, []string{a.ws, b.ws}, routes, func(path string, r *response) {
			for _, s := range []string{"A help", "A returns", "A secret passage", kb, src, chunks[0]} {
				if strings.Contains(string(r.body), s) && !strings.Contains(path, s) {
					t.Errorf("%s mentions A's %q: %s", path, s, r.body)
				}
			}
		})
		// A's agent named in the body of B's own attach is no agent of B's.
		checkFieldError(t, ts.do("POST", "/workspaces/"+b.ws+"/knowledge-base/"+bKB+"/attach", b.key, `{"agent_id":"`+agent+`"}`), 422, `["body","agent_id"]`)
		// B's searches never find A's chunks.
		if d := ts.must(200, "POST", "/workspaces/"+b.ws+"/knowledge-base/"+bKB+"/query", b.key, `{"query":"jackets"}`).json(t)["data"].([]any); len(d) != 0 {
			t.Errorf("B found %v", d)
		}
		// B's lists show nothing of A's.
		for _, path := range []string{"/workspaces/" + b.ws + "/knowledge-base", "/workspaces/" + b.ws + "/knowledge-base/" + bKB + "/sources", "/workspaces/" + b.ws + "/knowledge-base/" + bKB + "/chunks"} {
			r := ts.must(200, "GET", path, b.key, "")
			for _, s := range []string{a.ws, kb, src, "A help"} {
				if strings.Contains(string(r.body), s) {
					t.Errorf("GET %s with B's key mentions A's %s: %s", path, s, r.body)
				}
			}
		}
		// Nothing of A's changed.
		if s := ts.must(200, "GET", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/sources/"+src, a.key, "").json(t); s["status"] != "ready" {
			t.Errorf("A's source changed: %v", s)
		}
		if d := ts.must(200, "GET", "/workspaces/"+a.ws+"/knowledge-base/"+kb+"/sources", a.key, "").json(t)["data"].([]any); len(d) != 1 {
			t.Errorf("A has %d sources, want 1", len(d))
		}
		if ag := ts.must(200, "GET", "/workspaces/"+a.ws+"/agents/"+agent, a.key, "").json(t); !strings.Contains(string(mustJSON(t, ag["knowledge_base_ids"])), kb) {
			t.Errorf("A's agent lost its knowledge base: %v", ag)
		}
	})
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
