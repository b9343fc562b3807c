package openai

import (
	"context"
	"fmt"
	"net/http"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm/internal/upstream"
)

// MaxEmbedBatch is how many texts one embeddings request carries; Embed
// splits larger calls.
const MaxEmbedBatch = 96

// Embedder calls an OpenAI-compatible embeddings API (POST /embeddings).
type Embedder struct {
	svc   openai.EmbeddingService
	key   upstream.Redactor
	model string
}

var _ hyponema.Embedder = (*Embedder)(nil)

// NewEmbedder returns an embedder of model on the server that c names.
func NewEmbedder(c Config, model string) *Embedder {
	svc := openai.NewEmbeddingService(c.options(2)...)
	return &Embedder{svc: svc, key: upstream.Redactor(c.APIKey), model: model}
}

// Embed implements hyponema.Embedder, in batches of MaxEmbedBatch.
func (e *Embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += MaxEmbedBatch {
		batch := texts[start:min(start+MaxEmbedBatch, len(texts))]
		var res *http.Response
		r, err := e.svc.New(ctx, openai.EmbeddingNewParams{
			Model:          openai.EmbeddingModel(e.model),
			Input:          openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: batch},
			EncodingFormat: openai.EmbeddingNewParamsEncodingFormatFloat,
		}, option.WithResponseInto(&res))
		if err != nil {
			if res != nil && res.StatusCode >= 400 {
				return nil, upstream.StatusError(name, e.key, res, upstream.ReadBody(res))
			}
			return nil, upstream.TransportError(ctx, name, e.key, err, false)
		}
		if len(r.Data) != len(batch) {
			return nil, &hyponema.ProviderError{Provider: name, Message: fmt.Sprintf("the embeddings API returned %d vectors for %d texts", len(r.Data), len(batch))}
		}
		vecs := make([][]float32, len(batch))
		for _, d := range r.Data {
			if d.Index < 0 || int(d.Index) >= len(batch) {
				return nil, &hyponema.ProviderError{Provider: name, Message: "the embeddings API returned a vector out of order"}
			}
			v := make([]float32, len(d.Embedding))
			for i, f := range d.Embedding {
				v[i] = float32(f)
			}
			vecs[d.Index] = v
		}
		out = append(out, vecs...)
	}
	return out, nil
}
