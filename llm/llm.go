// Package llm holds what Hyponema's model providers share: the Router that
// resolves an agent's "provider/model" to a hyponema.LLM, the WithRetry
// decorator that retries a reply until its first chunk, and the finish
// reasons that every provider reports in the same words.
//
// The providers themselves live below it: llm/openai (any OpenAI-compatible
// server), llm/anthropic, and llm/local (the built-in offline engine, which
// is not a language model). llm/llmtest has fake vendor servers for tests.
package llm

// Finish reasons, in OpenAI's words, which every provider maps its own to,
// so that the conversation engine can tell why a reply stopped without
// knowing the vendor. A provider passes through a reason that none of these
// fits, and leaves it empty if the stream ended without saying.
const (
	FinishStop          = "stop"           // the model finished its reply (or hit a stop sequence)
	FinishLength        = "length"         // the reply reached MaxOutputTokens
	FinishToolCalls     = "tool_calls"     // the model wants the tools it called to run
	FinishContentFilter = "content_filter" // the provider withheld the reply (a refusal or filter)
)
