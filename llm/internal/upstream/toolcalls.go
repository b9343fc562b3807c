package upstream

import (
	"strings"

	"github.com/hyponema/hyponema"
)

// ToolCalls gathers tool calls from a stream's fragments: each vendor gives
// a call's ID and name when it begins, at an index of its own, then its
// arguments in pieces, parallel calls interleaved.
type ToolCalls struct {
	calls []hyponema.ToolCall
	args  []*strings.Builder
	at    map[int64]int // the vendor's index → place in calls
}

// Begin starts a new call at the vendor's index.
func (tc *ToolCalls) Begin(index int64, id, name string) {
	if tc.at == nil {
		tc.at = map[int64]int{}
	}
	tc.at[index] = len(tc.calls)
	tc.calls = append(tc.calls, hyponema.ToolCall{ID: id, Name: name})
	tc.args = append(tc.args, new(strings.Builder))
}

// At returns the call begun at index, if any.
func (tc *ToolCalls) At(index int64) (*hyponema.ToolCall, bool) {
	i, ok := tc.at[index]
	if !ok {
		return nil, false
	}
	return &tc.calls[i], true
}

// Append adds a piece of the arguments of the call at index; a piece for
// an index that began no call is dropped.
func (tc *ToolCalls) Append(index int64, fragment string) {
	if i, ok := tc.at[index]; ok {
		tc.args[i].WriteString(fragment)
	}
}

// Done returns the calls in the order they began, each with its arguments
// whole; a call sent without arguments gets {}.
func (tc *ToolCalls) Done() []hyponema.ToolCall {
	for i := range tc.calls {
		args := strings.TrimSpace(tc.args[i].String())
		if args == "" {
			args = "{}"
		}
		tc.calls[i].Arguments = args
	}
	return tc.calls
}
