// Package enginetest starts a conversation engine over a real database,
// for the tests and benchmarks that drive it.
package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/hyponema/hyponema/bus"
	"github.com/hyponema/hyponema/conversation"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/store"
)

// Start returns an engine over db's store services, with models and an
// in-process bus; configure, if given, sets more of it (tools, knowledge,
// intervals …) before it starts. It is closed when the test ends.
func Start(tb testing.TB, db *store.DB, models *llm.Router, configure ...func(*conversation.Engine)) *conversation.Engine {
	tb.Helper()
	e := &conversation.Engine{
		Sessions: store.NewSessionService(db),
		Messages: store.NewMessageService(db),
		Events:   store.NewEventService(db),
		Agents:   store.NewAgentService(db),
		Personas: store.NewPersonaService(db),
		Models:   models,
		Bus:      bus.NewMemory(),
	}
	for _, c := range configure {
		c(e)
	}
	e.Start()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}
