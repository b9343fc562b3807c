package openai_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/openai"
)

func TestEmbedder(t *testing.T) {
	srv := llmtest.NewEmbeddingsServer(t, 64)
	e := openai.NewEmbedder(openai.Config{APIKey: "sk-test", BaseURL: srv.URL()}, "test-embed")
	texts := make([]string, openai.MaxEmbedBatch+5)
	for i := range texts {
		texts[i] = strings.Repeat("returns jacket ", i%3+1)
	}
	vecs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != len(texts) || len(vecs[0]) != 64 {
		t.Fatalf("%d vectors of %d dims", len(vecs), len(vecs[0]))
	}
	if b := srv.Batches(); len(b) != 2 || b[0] != openai.MaxEmbedBatch || b[1] != 5 {
		t.Errorf("batches %v", b)
	}
	want := llmtest.Embed(texts[7], 64)
	for i, x := range vecs[7] {
		if math.Abs(float64(x)-want[i]) > 1e-6 {
			t.Fatalf("vector 7 differs at %d", i)
		}
	}
	// A failing server is a ProviderError.
	bad := openai.NewEmbedder(openai.Config{BaseURL: "http://127.0.0.1:1/v1"}, "m") // nothing listens there
	_, err = bad.Embed(context.Background(), []string{"x"})
	var pe *hyponema.ProviderError
	if err == nil || !errorsAs(err, &pe) {
		t.Errorf("err = %v, want a ProviderError", err)
	}
}

func errorsAs(err error, target **hyponema.ProviderError) bool {
	pe, ok := err.(*hyponema.ProviderError)
	if ok {
		*target = pe
	}
	return ok
}
