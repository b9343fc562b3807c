package local

import (
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
)

func TestPassages(t *testing.T) {
	req := &hyponema.ChatRequest{Model: "hyponema-demo",
		Messages: []hyponema.ChatMessage{{Role: hyponema.RoleUser, Text: "How long do I have to return a jacket?"}},
		Passages: []hyponema.SearchHit{{Heading: "Returns", Text: "You may return any item within 30 days of delivery."}, {Text: "second"}}}
	text, calls := respond(req)
	if len(calls) != 0 || !strings.HasPrefix(text, Label) || !strings.Contains(text, "within 30 days") || !strings.Contains(text, "(Returns)") || strings.Contains(text, "second") {
		t.Errorf("reply %q", text)
	}
}
