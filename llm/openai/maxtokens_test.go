package openai

import "testing"

func TestUsesMaxCompletionTokens(t *testing.T) {
	for base, want := range map[string]bool{
		"https://api.openai.com/v1":                  true,
		"https://API.OpenAI.com/v1/":                 true,
		"https://myco.openai.azure.com/openai/v1":    true,
		"http://localhost:11434/v1":                  false,
		"http://vllm.internal:8000/v1":               false,
		"https://api.openai.com.evil.example.com/v1": false,
	} {
		if got := usesMaxCompletionTokens(base); got != want {
			t.Errorf("usesMaxCompletionTokens(%q) = %v, want %v", base, got, want)
		}
	}
}
