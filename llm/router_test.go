package llm_test

import (
	"strings"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/local"
)

func TestRouterFor(t *testing.T) {
	r := llm.NewRouter()
	loc := local.New()
	r.Register("local", loc)
	r.Register("openai", loc)
	for model, want := range map[string]string{
		"local/hyponema-demo":                     "hyponema-demo",
		"openai/meta-llama/Llama-3.1-8B-Instruct": "meta-llama/Llama-3.1-8B-Instruct",
		"openai/llama3.1:8b":                      "llama3.1:8b",
	} {
		l, name, err := r.For(model)
		if err != nil || l != loc || name != want {
			t.Errorf("For(%q) = %v, %q, %v; want the provider and %q", model, l, name, err, want)
		}
	}
	if got := strings.Join(r.Providers(), ","); got != "local,openai" {
		t.Errorf("Providers() = %s", got)
	}
}

func TestRouterErrors(t *testing.T) {
	r := llm.NewRouter()
	r.Register("local", local.New())
	for model, want := range map[string][]string{
		"openai/gpt-4o-mini":        {hyponema.EPROVIDER, "HYPONEMA_OPENAI_API_KEY", "HYPONEMA_OPENAI_BASE_URL"},
		"anthropic/claude-sonnet-4": {hyponema.EPROVIDER, "HYPONEMA_ANTHROPIC_API_KEY", "HYPONEMA_ANTHROPIC_BASE_URL"},
		"mistral/large":             {hyponema.EPROVIDER, `"mistral"`},
		"gpt-4o":                    {hyponema.EINVALID, "provider/model"},
		"/gpt-4o":                   {hyponema.EINVALID},
		"openai/":                   {hyponema.EINVALID},
	} {
		_, _, err := r.For(model)
		if code := hyponema.ErrorCode(err); code != want[0] {
			t.Errorf("For(%q): code %s, want %s (%v)", model, code, want[0], err)
		}
		for _, w := range want[1:] {
			if msg := hyponema.ErrorMessage(err); !strings.Contains(msg, w) {
				t.Errorf("For(%q): message %q lacks %q", model, msg, w)
			}
		}
	}
}
