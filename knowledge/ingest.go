// Package knowledge ingests knowledge-base sources: a job per source that
// fetches a URL through the egress guard (or reads the stored text or
// file), extracts its text (knowledge/extract), splits it into chunks
// (knowledge/chunk), embeds them when an embedder is configured, and
// stores them, marking the source ready, or failed with the reason.
package knowledge

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/knowledge/chunk"
	"github.com/hyponema/hyponema/knowledge/extract"
)

// QueueName is the job queue that ingestion runs on.
const QueueName = "knowledge"

// FetchTimeout bounds fetching a URL source.
const FetchTimeout = 30 * time.Second

// IngestArgs is the job that ingests one source.
type IngestArgs struct {
	WorkspaceID     string `json:"workspace_id"`
	KnowledgeBaseID string `json:"knowledge_base_id"`
	SourceID        string `json:"source_id"`
}

// Kind implements river.JobArgs.
func (IngestArgs) Kind() string { return "knowledge.ingest" }

// InsertOpts implements river.JobArgsWithInsertOpts: tried up to 3 times.
//
// The jobs are not unique in River's sense: the store queues one only when
// a source becomes pending (store.KnowledgeService.SetSourcePending), and a
// sync asked for while a job runs is seen through the source's Generation
// (Work). River's uniqueness would also refuse a job while the last one's
// completion is still on its way, losing that sync.
func (IngestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: 3}
}

// Queue queues ingestion jobs in the caller's transaction. It implements
// store.SourceQueue.
type Queue struct {
	Client *river.Client[*sql.Tx]
}

// EnqueueIngest implements store.SourceQueue.
func (q Queue) EnqueueIngest(ctx context.Context, tx *sql.Tx, workspaceID, kbID, sourceID string) error {
	_, err := q.Client.InsertTx(ctx, tx, IngestArgs{WorkspaceID: workspaceID, KnowledgeBaseID: kbID, SourceID: sourceID}, nil)
	return err
}

// Ingester works ingestion jobs.
type Ingester struct {
	river.WorkerDefaults[IngestArgs]

	Store    hyponema.KnowledgeService
	Embedder hyponema.Embedder // nil: lexical search only
	Egress   egress.Policy
	Logger   *slog.Logger

	once   sync.Once
	client *http.Client
}

// Register adds the ingester to River's workers.
func (in *Ingester) Register(w *river.Workers) { river.AddWorker(w, in) }

func (in *Ingester) logger() *slog.Logger {
	if in.Logger != nil {
		return in.Logger
	}
	return slog.Default()
}

// Timeout implements river.Worker: a fetch, extraction and embedding of a
// large document.
func (in *Ingester) Timeout(*river.Job[IngestArgs]) time.Duration { return 5 * time.Minute }

// permanent marks a failure that trying again cannot fix.
type permanent struct{ msg string }

func (p *permanent) Error() string { return p.msg }

// maxResyncs bounds how many times one job ingests a source again because
// a sync was asked for while it worked; past it the job fails and River
// tries it again later.
const maxResyncs = 5

// errDeleted ends the job of a source deleted meanwhile.
var errDeleted = errors.New("the source was deleted")

// Work implements river.Worker. When a sync is asked for while it works
// (the source's Generation moved on), its result is refused and it
// ingests the source again.
func (in *Ingester) Work(ctx context.Context, job *river.Job[IngestArgs]) error {
	for range maxResyncs {
		err := in.work(ctx, job)
		switch {
		case errors.Is(err, errDeleted):
			return river.JobCancel(err)
		case hyponema.ErrorCode(err) != hyponema.ECONFLICT:
			return err
		}
	}
	return errors.New("the source was asked to sync again too often")
}

// work ingests the source once.
func (in *Ingester) work(ctx context.Context, job *river.Job[IngestArgs]) error {
	a := job.Args
	src, err := in.Store.FindSource(ctx, a.WorkspaceID, a.KnowledgeBaseID, a.SourceID)
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return errDeleted
	} else if err != nil {
		return err
	}
	if src.Status != hyponema.SourcePending {
		return nil // a job queued twice (a stale pending source), done already
	}
	chunks, contentType, size, err := in.ingest(ctx, src)
	if err == nil {
		err = in.Store.ReplaceChunks(ctx, a.WorkspaceID, src.ID, src.Generation, chunks, contentType, size)
	}
	switch code := hyponema.ErrorCode(err); {
	case err == nil:
		return nil
	case code == hyponema.ENOTFOUND:
		return errDeleted
	case code == hyponema.ECONFLICT:
		return err
	}
	var p *permanent
	final := errors.As(err, &p) || job.Attempt >= job.MaxAttempts
	if !final {
		return err // River tries again
	}
	reason := err.Error()
	if p == nil {
		reason = "ingestion failed: " + hyponema.ErrorMessage(err)
	}
	switch ferr := in.Store.FailSource(context.WithoutCancel(ctx), a.WorkspaceID, src.ID, src.Generation, reason); hyponema.ErrorCode(ferr) {
	case "":
	case hyponema.ENOTFOUND:
		return errDeleted
	default:
		return ferr // ECONFLICT: try the new sync
	}
	in.logger().Info("knowledge source failed", "source_id", src.ID, "reason", reason)
	return river.JobCancel(err)
}

// ingest turns the source into chunks.
func (in *Ingester) ingest(ctx context.Context, src *hyponema.Source) ([]*hyponema.Chunk, string, int64, error) {
	var data []byte
	contentType, filename := src.ContentType, src.Name
	switch src.Type {
	case hyponema.SourceURL:
		var err error
		if data, contentType, err = in.fetch(ctx, src.URL); err != nil {
			return nil, "", 0, err
		}
		filename = src.URL
	default:
		var err error
		if data, err = in.Store.SourceContent(ctx, src.WorkspaceID, src.ID); err != nil {
			return nil, "", 0, err
		}
		if src.Type == hyponema.SourceText && contentType == "" {
			contentType = "text/plain"
		}
	}
	doc, err := extract.Extract(data, contentType, filename)
	if err != nil {
		return nil, "", 0, &permanent{hyponema.ErrorMessage(err)}
	}
	pieces := chunk.Split(doc.Text, chunk.Options{})
	if len(pieces) == 0 {
		return nil, "", 0, &permanent{"no text found"}
	}
	chunks := make([]*hyponema.Chunk, len(pieces))
	texts := make([]string, len(pieces))
	for i, p := range pieces {
		chunks[i] = &hyponema.Chunk{WorkspaceID: src.WorkspaceID, KnowledgeBaseID: src.KnowledgeBaseID, SourceID: src.ID,
			Index: i, Heading: p.Heading, Text: p.Text, Tokens: p.Tokens}
		texts[i] = p.Text
		if p.Heading != "" {
			texts[i] = p.Heading + "\n" + p.Text
		}
	}
	if in.Embedder != nil {
		vecs, err := in.Embedder.Embed(ctx, texts)
		if err != nil {
			return nil, "", 0, fmt.Errorf("embedding the chunks: %w", err)
		}
		for i, v := range vecs {
			chunks[i].Embedding = v
		}
	}
	return chunks, doc.ContentType, int64(len(data)), nil
}

// fetch GETs a URL source through the egress guard.
func (in *Ingester) fetch(ctx context.Context, u string) ([]byte, string, error) {
	in.once.Do(func() {
		p := in.Egress
		p.Timeout = FetchTimeout
		p.MaxResponseBytes = hyponema.MaxSourceFileSize
		in.client = p.Client()
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", &permanent{"the URL is not valid"}
	}
	req.Header.Set("User-Agent", "Hyponema-Knowledge/1")
	req.Header.Set("Accept", "text/html, text/markdown, text/plain, application/pdf, text/csv;q=0.9, */*;q=0.5")
	resp, err := in.client.Do(req)
	if err != nil {
		var ge *egress.Error
		if errors.As(err, &ge) {
			if ge.Reason == egress.ReasonTooLarge {
				return nil, "", &permanent{fmt.Sprintf("the document is larger than %d bytes", hyponema.MaxSourceFileSize)}
			}
			return nil, "", &permanent{"refused by the egress guard: " + ge.Msg}
		}
		return nil, "", errors.New("the URL could not be fetched")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		if egress.ReasonOf(err) == egress.ReasonTooLarge {
			return nil, "", &permanent{fmt.Sprintf("the document is larger than %d bytes", hyponema.MaxSourceFileSize)}
		}
		return nil, "", errors.New("the document could not be read")
	}
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, "", fmt.Errorf("the server answered %d", resp.StatusCode)
	case resp.StatusCode >= 300:
		return nil, "", &permanent{fmt.Sprintf("the server answered %d", resp.StatusCode)}
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil {
		ct = mt
	}
	return body, ct, nil
}
