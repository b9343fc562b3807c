package llm

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/hyponema/hyponema"
)

// Router finds the provider for an agent's model name. cmd/hyponema
// registers the providers that the configuration enables; a model naming
// any other provider fails with a message telling the operator what to set.
// It is safe for concurrent use.
type Router struct {
	mu        sync.RWMutex
	providers map[string]hyponema.LLM
}

// NewRouter returns a router with no providers.
func NewRouter() *Router {
	return &Router{providers: map[string]hyponema.LLM{}}
}

// Register makes l answer for models named "provider/…", replacing any
// earlier registration. Wrap vendor providers in WithRetry first: it is
// also what enforces ChatRequest.FirstTokenTimeout.
func (r *Router) Register(provider string, l hyponema.LLM) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.providers[provider] = l
}

// Providers lists the registered provider names, sorted.
func (r *Router) Providers() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.providers))
	for n := range r.providers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// For splits model ("openai/gpt-4o-mini") at its first slash and returns
// the provider registered for the first part with the model name that
// provider knows (the rest, which may hold more slashes, as vLLM's
// "openai/meta-llama/Llama-3.1-8B-Instruct" does). It returns EINVALID for
// a name without a provider, and EPROVIDER for a provider that is not
// configured, naming the environment variables that configure it.
func (r *Router) For(model string) (l hyponema.LLM, modelName string, err error) {
	provider, name, ok := strings.Cut(model, "/")
	if !ok || provider == "" || name == "" {
		return nil, "", hyponema.Errorf(hyponema.EINVALID, "model %q must be provider/model, e.g. openai/gpt-4o-mini", model)
	}
	r.mu.RLock()
	l = r.providers[provider]
	r.mu.RUnlock()
	if l == nil {
		return nil, "", hyponema.Errorf(hyponema.EPROVIDER, "%s", notConfigured(provider))
	}
	return l, name, nil
}

// notConfigured tells the operator how to enable a provider.
func notConfigured(provider string) string {
	switch provider {
	case "openai":
		return "the openai provider is not configured: set HYPONEMA_OPENAI_API_KEY (and HYPONEMA_OPENAI_BASE_URL for an OpenAI-compatible server such as Ollama, vLLM or llama.cpp)"
	case "anthropic":
		return "the anthropic provider is not configured: set HYPONEMA_ANTHROPIC_API_KEY (and HYPONEMA_ANTHROPIC_BASE_URL to use another endpoint)"
	case "local":
		return "the local provider is not configured on this server"
	default:
		return fmt.Sprintf("unknown model provider %q (known: openai, anthropic, local)", provider)
	}
}
