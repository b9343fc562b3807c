package hyponema_test

import (
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
)

func TestAPIKeySecret(t *testing.T) {
	seen := map[string]bool{}
	counts := map[byte]int{}
	for range 2000 {
		s := hyponema.NewAPIKeySecret()
		if !hyponema.ValidAPIKeySecret(s) || len(s) != 45 || !strings.HasPrefix(s, "hyp_") {
			t.Fatalf("bad key %q", s)
		}
		if seen[s] {
			t.Fatalf("duplicate key")
		}
		seen[s] = true
		for i := 4; i < len(s); i++ {
			counts[s[i]]++
		}
	}
	// 82,000 characters over 62 symbols: each should appear about 1,323
	// times; a biased generator (modulo 256) would skew the first symbols.
	if len(counts) != 62 {
		t.Fatalf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n < 1000 || n > 1650 {
			t.Errorf("character %q appears %d times", c, n)
		}
	}
	for _, bad := range []string{"", "hyp_", "hyp_" + strings.Repeat("a", 40), "hyp_" + strings.Repeat("a", 42), "hyx_" + strings.Repeat("a", 41), "hyp_" + strings.Repeat("a", 40) + "-"} {
		if hyponema.ValidAPIKeySecret(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if p := hyponema.APIKeyDisplayPrefix("hyp_AbCdEfGh"); p != "hyp_AbCd…" {
		t.Errorf("display prefix %q", p)
	}
	if h := hyponema.HashAPIKeySecret("hyp_x"); len(h) != 64 || strings.Contains(h, "hyp_") {
		t.Errorf("hash %q", h)
	}
}

func TestIDs(t *testing.T) {
	prev := ""
	for range 10_000 {
		id := hyponema.NewID(hyponema.PrefixAgent)
		if !hyponema.HasPrefix(id, hyponema.PrefixAgent) {
			t.Fatalf("bad id %q", id)
		}
		if id <= prev {
			t.Fatalf("%s not after %s: IDs must sort by creation", id, prev)
		}
		prev = id
	}
	if hyponema.HasPrefix("agt_short", hyponema.PrefixAgent) || hyponema.HasPrefix(prev, hyponema.PrefixPersona) {
		t.Fatal("HasPrefix accepts the wrong shape")
	}
}

func TestCursor(t *testing.T) {
	id := hyponema.NewID(hyponema.PrefixAgent)
	after, err := hyponema.PageOptions{Cursor: hyponema.EncodeCursor(id)}.After()
	if err != nil || after != id {
		t.Fatalf("round trip: %q %v", after, err)
	}
	for _, bad := range []string{"!!", "Zm9v", "YzE"} {
		if _, err := (hyponema.PageOptions{Cursor: bad}).After(); hyponema.ErrorCode(err) != hyponema.EINVALID {
			t.Errorf("cursor %q: %v", bad, err)
		}
	}
	for limit, want := range map[int]int{0: 50, -1: 50, 1: 1, 200: 200, 201: 200} {
		if got := (hyponema.PageOptions{Limit: limit}).PageLimit(); got != want {
			t.Errorf("limit %d → %d, want %d", limit, got, want)
		}
	}
	p := hyponema.NewPage([]string{"a", "b", "c"}, 2, func(s string) string { return s })
	if len(p.Data) != 2 || !p.HasMore || p.NextCursor != hyponema.EncodeCursor("b") {
		t.Fatalf("%+v", p)
	}
	if p := hyponema.NewPage[string](nil, 2, nil); p.Data == nil || p.HasMore {
		t.Fatalf("empty page %+v", p)
	}
}

func TestNormalizeOrigin(t *testing.T) {
	good := map[string]string{
		"https://Example.com":      "https://example.com",
		"https://example.com/":     "https://example.com",
		"http://localhost:3000":    "http://localhost:3000",
		" https://a.example:8443 ": "https://a.example:8443",
	}
	for in, want := range good {
		if got, ok := hyponema.NormalizeOrigin(in); !ok || got != want {
			t.Errorf("%q → %q %v, want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "*", "example.com", "ftp://example.com", "https://example.com/path", "https://u:p@example.com", "https://example.com?q=1", "https://example.com#x", "javascript:alert(1)"} {
		if _, ok := hyponema.NormalizeOrigin(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestAgentConfigValidate(t *testing.T) {
	valid := func() hyponema.AgentConfig {
		c := hyponema.NewAgentConfig()
		c.Name = "Support"
		c.Normalize()
		return c
	}
	if err := (func() *hyponema.AgentConfig { c := valid(); return &c })().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*hyponema.AgentConfig)
		field string
	}{
		{"blank name", func(c *hyponema.AgentConfig) { c.Name = " " }, "name"},
		{"long name", func(c *hyponema.AgentConfig) { c.Name = strings.Repeat("x", 201) }, "name"},
		{"NUL in name", func(c *hyponema.AgentConfig) { c.Name = "a\x00b" }, "name"},
		{"model without provider", func(c *hyponema.AgentConfig) { c.Model = "gpt-4o" }, "model"},
		{"unknown provider", func(c *hyponema.AgentConfig) { c.Model = "acme/x" }, "model"},
		{"control character in model", func(c *hyponema.AgentConfig) { c.Model = "openai/gpt\x00" }, "model"},
		{"temperature", func(c *hyponema.AgentConfig) { c.Temperature = 2.5 }, "temperature"},
		{"negative temperature", func(c *hyponema.AgentConfig) { c.Temperature = -0.1 }, "temperature"},
		{"tokens", func(c *hyponema.AgentConfig) { c.MaxOutputTokens = 0 }, "max_output_tokens"},
		{"persona id shape", func(c *hyponema.AgentConfig) { c.PersonaID = "agt_x" }, "persona_id"},
		{"language", func(c *hyponema.AgentConfig) { c.Language = "english please" }, "language"},
		{"origin", func(c *hyponema.AgentConfig) { c.AllowedOrigins = []string{"https://ok.example", "nope"} }, "allowed_origins"},
		{"metadata key", func(c *hyponema.AgentConfig) { c.Metadata = map[string]string{strings.Repeat("k", 41): "v"} }, "metadata"},
		{"metadata value", func(c *hyponema.AgentConfig) { c.Metadata = map[string]string{"k": strings.Repeat("v", 501)} }, "metadata"},
		{"instructions", func(c *hyponema.AgentConfig) { c.Instructions = strings.Repeat("i", hyponema.MaxInstructionsLen+1) }, "instructions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if hyponema.ErrorCode(err) != hyponema.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			e := err.(*hyponema.Error)
			if len(e.Fields) == 0 || len(e.Fields[0].Loc) < 2 || e.Fields[0].Loc[0] != "body" || e.Fields[0].Loc[1] != tt.field {
				t.Fatalf("fields %+v, want body.%s", e.Fields, tt.field)
			}
			if !strings.HasPrefix(e.Message, tt.field) {
				t.Errorf("message %q does not name %s", e.Message, tt.field)
			}
		})
	}
}

func TestAgentPatch(t *testing.T) {
	c := hyponema.NewAgentConfig()
	c.Name, c.Instructions = "a", "keep"
	name, temp := "b", 0.0
	(&hyponema.AgentPatch{Name: &name, Temperature: &temp}).Apply(&c)
	if c.Name != "b" || c.Temperature != 0 || c.Instructions != "keep" {
		t.Fatalf("%+v", c)
	}
}

func TestErrors(t *testing.T) {
	if hyponema.ErrorCode(nil) != "" || hyponema.ErrorMessage(nil) != "" {
		t.Fatal("nil error has a code")
	}
	plain := errTest("db exploded: SELECT secret")
	if hyponema.ErrorCode(plain) != hyponema.EINTERNAL || strings.Contains(hyponema.ErrorMessage(plain), "SELECT") {
		t.Fatal("internal errors must not show their text")
	}
	e := hyponema.Errorf(hyponema.ENOTFOUND, "agent %s not found", "x")
	if hyponema.ErrorCode(e) != hyponema.ENOTFOUND || hyponema.ErrorMessage(e) != "agent x not found" {
		t.Fatal(e)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
