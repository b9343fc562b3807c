package hyponema

import (
	"context"
	"time"
)

// ID prefixes of knowledge bases, their sources and chunks.
const (
	PrefixKnowledgeBase = "kb_"
	PrefixSource        = "src_"
	PrefixChunk         = "chk_"
)

// Source types and statuses.
const (
	SourceText = "text"
	SourceURL  = "url"
	SourceFile = "file"

	SourcePending = "pending" // ingestion queued or running
	SourceReady   = "ready"   // chunked (and embedded, when embeddings are configured)
	SourceFailed  = "failed"  // Error says why
)

// Knowledge limits.
const (
	MaxSourceTextLen  = 1 << 20  // a text source, and the text extracted from any source
	MaxSourceFileSize = 20 << 20 // an uploaded file
	MaxTopK           = 50
	DefaultTopK       = 5
	MaxQueryLen       = 2000

	MaxKnowledgeBasesPerAgent = 10
)

// Citation names a passage that an assistant's reply was given.
type Citation struct {
	ChunkID         string `json:"chunk_id"`
	SourceID        string `json:"source_id"`
	KnowledgeBaseID string `json:"knowledge_base_id"`
}

// KnowledgeBase is a named collection of sources that agents retrieve from.
type KnowledgeBase struct {
	ID          string    `json:"id" doc:"Knowledge base ID (kb_…)."`
	WorkspaceID string    `json:"workspace_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	ChunkCount  int64     `json:"chunk_count" doc:"Passages in all its ready sources: what searches go through."`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Source is one document of a knowledge base: text given inline, a URL
// fetched through the egress guard, or an uploaded file.
type Source struct {
	ID              string     `json:"id" doc:"Source ID (src_…)."`
	WorkspaceID     string     `json:"workspace_id"`
	KnowledgeBaseID string     `json:"knowledge_base_id"`
	Type            string     `json:"type" enum:"text,url,file"`
	Name            string     `json:"name" doc:"A name for people: given, or the file name, or the URL."`
	URL             string     `json:"url,omitempty" doc:"For url sources."`
	ContentType     string     `json:"content_type" doc:"The media type the text was extracted from (text/plain, text/markdown, text/html, application/pdf, text/csv)."`
	Size            int64      `json:"size" doc:"Bytes of the original document."`
	Status          string     `json:"status" enum:"pending,ready,failed"`
	Error           string     `json:"error" doc:"Why ingestion failed; empty otherwise."`
	ChunkCount      int        `json:"chunk_count"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	SyncedAt        *time.Time `json:"synced_at" doc:"When its chunks were last made."`

	// Generation counts the syncs asked for. Ingestion reads it with the
	// source and hands it back with its result, which applies only if no
	// sync was asked for meanwhile (else the document may be older than
	// the request).
	Generation int64 `json:"-"`
}

// Chunk is a passage of a source: what retrieval returns and the model
// reads.
type Chunk struct {
	ID              string    `json:"id" doc:"Chunk ID (chk_…)."`
	WorkspaceID     string    `json:"workspace_id"`
	KnowledgeBaseID string    `json:"knowledge_base_id"`
	SourceID        string    `json:"source_id"`
	Index           int       `json:"index" doc:"Its place in the source, from 0."`
	Heading         string    `json:"heading" doc:"The headings it sits under, joined by \" > \"."`
	Text            string    `json:"text"`
	Tokens          int       `json:"tokens" doc:"Estimated tokens."`
	CreatedAt       time.Time `json:"created_at"`

	// Embedding is the chunk's vector when embeddings are configured.
	// Never serialized.
	Embedding []float32 `json:"-"`
}

// SearchHit is one chunk that a search found, with its score: the
// reciprocal rank fusion of its lexical and vector ranks when both exist,
// else its lexical score.
type SearchHit struct {
	ChunkID         string  `json:"chunk_id"`
	SourceID        string  `json:"source_id"`
	KnowledgeBaseID string  `json:"knowledge_base_id"`
	Heading         string  `json:"heading"`
	Text            string  `json:"text"`
	Score           float64 `json:"score"`
}

// SearchQuery is a retrieval request.
type SearchQuery struct {
	KnowledgeBaseIDs []string  // of the workspace; others find nothing
	Text             string    // the lexical query
	Embedding        []float32 // the query's vector, or nil for lexical only
	TopK             int
}

// KnowledgeService stores knowledge bases, sources and chunks, and
// searches them. Everything is scoped to a workspace.
type KnowledgeService interface {
	CreateKnowledgeBase(ctx context.Context, kb *KnowledgeBase) error
	FindKnowledgeBase(ctx context.Context, workspaceID, id string) (*KnowledgeBase, error)
	ListKnowledgeBases(ctx context.Context, workspaceID string, opt PageOptions) (Page[*KnowledgeBase], error)
	// DeleteKnowledgeBase deletes it with its sources and chunks and
	// detaches it from agents' drafts. Returns ENOTFOUND.
	DeleteKnowledgeBase(ctx context.Context, workspaceID, id string) error

	// CreateSource stores a pending source and its raw content (the text,
	// or the uploaded file's bytes; nil for a URL), for ingestion.
	CreateSource(ctx context.Context, s *Source, content []byte) error
	FindSource(ctx context.Context, workspaceID, kbID, id string) (*Source, error)
	ListSources(ctx context.Context, workspaceID, kbID string, opt PageOptions) (Page[*Source], error)
	// SourceContent returns the raw content stored with the source.
	SourceContent(ctx context.Context, workspaceID, id string) ([]byte, error)
	// DeleteSource deletes the source and its chunks. Returns ENOTFOUND.
	DeleteSource(ctx context.Context, workspaceID, kbID, id string) error
	// SetSourcePending marks a source pending again (a re-sync) and moves
	// its Generation on.
	SetSourcePending(ctx context.Context, workspaceID, id string) error
	// FailSource marks the source failed with reason, if its Generation is
	// still generation; else it returns ECONFLICT and changes nothing.
	FailSource(ctx context.Context, workspaceID, id string, generation int64, reason string) error
	// ReplaceChunks replaces the source's chunks with chunks and marks it
	// ready with the extracted document's content type and size, in one
	// transaction, if its Generation is still generation (ECONFLICT
	// otherwise). Returns ENOTFOUND if the source was deleted meanwhile.
	ReplaceChunks(ctx context.Context, workspaceID, sourceID string, generation int64, chunks []*Chunk, contentType string, size int64) error

	ListChunks(ctx context.Context, workspaceID, kbID, sourceID string, opt PageOptions) (Page[*Chunk], error)
	FindChunk(ctx context.Context, workspaceID, kbID, id string) (*Chunk, error)

	// Search ranks the chunks of the query's knowledge bases (in the
	// workspace) and returns the best TopK.
	Search(ctx context.Context, workspaceID string, q SearchQuery) ([]SearchHit, error)
}

// Embedder turns texts into vectors for retrieval: an OpenAI-compatible
// embeddings API, when one is configured.
type Embedder interface {
	// Embed returns one vector per text, in order. Errors are
	// *ProviderError values.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// KnowledgeAttacher attaches knowledge bases to agents' drafts
// (AgentConfig.KnowledgeBaseIDs); versions capture the list.
type KnowledgeAttacher interface {
	// AttachKnowledgeBase returns the agent; attaching an attached
	// knowledge base changes nothing. Returns ENOTFOUND for either,
	// EINVALID past MaxKnowledgeBasesPerAgent.
	AttachKnowledgeBase(ctx context.Context, workspaceID, kbID, agentID string) (*Agent, error)
	// DetachKnowledgeBase returns ENOTFOUND if it is not attached.
	DetachKnowledgeBase(ctx context.Context, workspaceID, kbID, agentID string) (*Agent, error)
}
