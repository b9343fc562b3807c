package knowledge_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/knowledge"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// BenchmarkIngest measures a source's whole ingestion, as the job does it:
// read the stored file, extract the text of a 1 MiB Markdown document,
// split it, embed the chunks (words only, or through the test embeddings
// server over loopback HTTP), and store them.
//
//	HYPONEMA_TEST_POSTGRES_URL=… go test ./knowledge -run '^$' -bench Ingest -benchtime 10x
func BenchmarkIngest(b *testing.B) {
	doc := benchDocument(1 << 20)
	for _, dialect := range []string{"sqlite", "postgres"} {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.MustOpenSQLite(b)
			if dialect == "postgres" {
				db = storetest.MustOpenPostgres(b)
			}
			for _, embed := range []bool{false, true} {
				b.Run(map[bool]string{false: "words", true: "embeddings"}[embed], func(b *testing.B) {
					ctx := context.Background()
					ks := store.NewKnowledgeService(db)
					in := &knowledge.Ingester{Store: ks}
					if embed {
						emb := llmtest.NewEmbeddingsServer(b, 256)
						in.Embedder = openai.NewEmbedder(openai.Config{BaseURL: emb.URL()}, "bench")
					}
					w, kb := newKnowledgeBase(b, db, ks)
					var chunks int
					var total time.Duration
					for b.Loop() {
						b.StopTimer()
						src := &hyponema.Source{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, Type: hyponema.SourceFile, Name: "guide.md", ContentType: "text/markdown"}
						if err := ks.CreateSource(ctx, src, doc); err != nil {
							b.Fatal(err)
						}
						job := &river.Job[knowledge.IngestArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 3},
							Args: knowledge.IngestArgs{WorkspaceID: w.ID, KnowledgeBaseID: kb.ID, SourceID: src.ID}}
						b.StartTimer()
						start := time.Now()
						if err := in.Work(ctx, job); err != nil {
							b.Fatal(err)
						}
						total += time.Since(start)
						b.StopTimer()
						got, err := ks.FindSource(ctx, w.ID, kb.ID, src.ID)
						if err != nil || got.Status != hyponema.SourceReady {
							b.Fatalf("%+v %v", got, err)
						}
						chunks += got.ChunkCount
						b.StartTimer()
					}
					b.ReportMetric(float64(b.N*len(doc))/(1<<20)/total.Seconds(), "MiB/s")
					b.ReportMetric(float64(chunks)/total.Seconds(), "chunks/s")
				})
			}
		})
	}
}

// benchDocument is a Markdown document of about size bytes: sections of
// paragraphs of varied sentences.
func benchDocument(size int) []byte {
	words := strings.Fields(`coffee grinder return warranty shipping order subscription plan kettle espresso
		machine delivery refund account card payment roast beans filter descaling burr customs office
		decaf origin pause cancel gift points referral repair parts water pressure temperature`)
	var b strings.Builder
	for s, n := 0, 0; b.Len() < size; s++ {
		fmt.Fprintf(&b, "## Section %d\n\n", s)
		for p := range 4 {
			for range 5 {
				fmt.Fprintf(&b, "The %s and the %s of your %s are covered for %d days. ", words[n%len(words)],
					words[(n*7+3)%len(words)], words[(n*13+p)%len(words)], 10+n%50)
				n++
			}
			b.WriteString("\n\n")
		}
	}
	return []byte(b.String())
}
