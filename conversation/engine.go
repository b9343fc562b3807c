// Package conversation is the conversation engine, the heart of Hyponema: it
// creates and ends sessions, runs each turn (prompt, model stream, storage)
// independently of the client connection that asked for it, and lets any
// number of streams follow a session's events live or replay what they
// missed.
//
// Every event gets a sequence number that increases within its session.
// Events other than text deltas are stored before they are published;
// deltas are published first (so the first one reaches the client at
// once) and stored in batches every FlushInterval, together with the
// reply's text so far, so that a crash loses at most that much.
package conversation

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hyponema/hyponema"
)

// Models resolves an agent's "provider/model" to the provider that serves
// it and the provider's own model name.
type Models interface {
	For(model string) (hyponema.LLM, string, error)
}

// Engine runs conversations. Set its fields, then call Start.
type Engine struct {
	Sessions hyponema.SessionService
	Messages hyponema.MessageService
	Events   hyponema.EventService
	Agents   hyponema.AgentService
	Personas hyponema.PersonaService
	Models   Models
	Bus      hyponema.EventBus
	Logger   *slog.Logger

	// Tools runs the tools attached to agent versions; nil runs none
	// (built-in tools still work).
	Tools hyponema.ToolCaller
	// WorkspaceEvents records tool.failed for webhooks; nil records none.
	WorkspaceEvents hyponema.EventLog
	// Knowledge retrieves passages for agents with knowledge bases, with
	// Embedder's vectors when one is configured; nil retrieves nothing.
	Knowledge hyponema.KnowledgeService
	Embedder  hyponema.Embedder

	// FlushInterval is how often a running turn stores its deltas.
	FlushInterval time.Duration
	// TurnLease is how long a turn's claim on its session lasts without
	// renewal; a crashed process's claims expire after it.
	TurnLease time.Duration
	// SweepInterval is how often expired sessions are ended and abandoned
	// turns released.
	SweepInterval time.Duration
	// Now is the clock.
	Now func() time.Time

	mu       sync.Mutex
	turns    map[string]*turn // running turns by session ID
	versions sync.Map         // agent version ID → *pinned (immutable)
	schemas  sync.Map         // sha256 of a tool's parameters → *jsonschema.Schema
	locks    [64]sync.Mutex   // per-session (striped) seq allocation outside turns

	ctx    context.Context // the engine's life; turns run under it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start fills defaults and starts the sweeper. Stop with Close.
func (e *Engine) Start() {
	if e.Logger == nil {
		e.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if e.FlushInterval == 0 {
		e.FlushInterval = 100 * time.Millisecond
	}
	if e.TurnLease == 0 {
		e.TurnLease = 10 * time.Second
	}
	if e.SweepInterval == 0 {
		e.SweepInterval = 5 * time.Second
	}
	if e.Now == nil {
		// Microseconds: what both databases keep, so that events and stored
		// rows show the same times.
		e.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	e.turns = map[string]*turn{}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Go(e.sweep)
}

// Close stops taking turns, lets running ones finish until ctx ends, then
// cancels the rest (their replies are stored as incomplete).
func (e *Engine) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		for {
			e.mu.Lock()
			n := len(e.turns)
			e.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	e.cancel()
	e.wg.Wait()
	return err
}

// pinned is an agent version with the persona version it pinned.
type pinned struct {
	version *hyponema.AgentVersion
	persona *hyponema.PersonaVersion
}

// pin loads a version and its persona version; both are immutable, so they
// are cached for the process's life.
func (e *Engine) pin(ctx context.Context, workspaceID, versionID string) (*pinned, error) {
	if p, ok := e.versions.Load(versionID); ok && p.(*pinned).version.WorkspaceID == workspaceID {
		return p.(*pinned), nil
	}
	v, err := e.Agents.FindAgentVersionByID(ctx, workspaceID, versionID)
	if err != nil {
		return nil, err
	}
	p := &pinned{version: v}
	if v.PersonaVersionID != "" {
		if p.persona, err = e.Personas.FindPersonaVersionByID(ctx, workspaceID, v.PersonaVersionID); err != nil {
			return nil, err
		}
	}
	e.versions.Store(versionID, p)
	return p, nil
}

// AgentVersion returns an agent version from the engine's cache of the
// versions that sessions run (immutable, so never stale).
func (e *Engine) AgentVersion(ctx context.Context, workspaceID, versionID string) (*hyponema.AgentVersion, error) {
	p, err := e.pin(ctx, workspaceID, versionID)
	if err != nil {
		return nil, err
	}
	return p.version, nil
}

// sessionLock serializes seq allocation for one session outside of turns.
func (e *Engine) sessionLock(sessionID string) *sync.Mutex {
	var h uint32 = 2166136261
	for i := 0; i < len(sessionID); i++ {
		h = (h ^ uint32(sessionID[i])) * 16777619
	}
	return &e.locks[h%uint32(len(e.locks))]
}

// withSeq stores events made outside a turn (a session created or ended):
// under the session's lock, write gets the session's last seq, stores its
// change with events numbered after it, and returns them; they are
// published once stored.
func (e *Engine) withSeq(ctx context.Context, sessionID string, write func(last int64) ([]*hyponema.SessionEvent, error)) error {
	l := e.sessionLock(sessionID)
	l.Lock()
	last, err := e.Events.LastEventSeq(ctx, sessionID)
	var events []*hyponema.SessionEvent
	if err == nil {
		events, err = write(last)
	}
	l.Unlock()
	if err != nil {
		return err
	}
	for _, ev := range events {
		e.Bus.Publish(ev)
	}
	return nil
}

// numbered gives events the seqs after last.
func numbered(last int64, events ...*hyponema.SessionEvent) []*hyponema.SessionEvent {
	for i, ev := range events {
		ev.Seq = last + int64(i) + 1
	}
	return events
}

// sweep ends expired sessions and releases the claims of turns whose
// process died, until the engine closes.
func (e *Engine) sweep() {
	t := time.NewTicker(e.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		}
		e.SweepOnce(e.ctx)
	}
}

// SweepOnce ends the sessions that expired and releases abandoned turns.
func (e *Engine) SweepOnce(ctx context.Context) {
	now := e.Now()
	if ids, err := e.Sessions.ReleaseExpiredTurns(ctx, now); err != nil {
		e.logSweepError(ctx, "releasing abandoned turns", err)
	} else if len(ids) > 0 {
		e.Logger.InfoContext(ctx, "released abandoned turns", "sessions", ids)
	}
	expired, err := e.Sessions.ListExpiredSessions(ctx, now, 100)
	if err != nil {
		e.logSweepError(ctx, "listing expired sessions", err)
		return
	}
	for _, s := range expired {
		reason := hyponema.EndedByTimeout
		if !now.Before(s.CreatedAt.Add(time.Duration(s.MaxDurationSeconds) * time.Second)) {
			reason = hyponema.EndedByMaxDuration
		}
		if _, err := e.EndSession(ctx, s.WorkspaceID, s.ID, reason); err != nil {
			e.logSweepError(ctx, "ending expired session", err)
		}
	}
}

func (e *Engine) logSweepError(ctx context.Context, what string, err error) {
	if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		e.Logger.WarnContext(ctx, what, "error", err)
	}
}

// Recover releases turn claims left by a process that died, at start-up.
// With all, every claim is released, not only expired ones: right for
// SQLite, where one server process owns the database, so any claim found at
// start is a dead process's.
func (e *Engine) Recover(ctx context.Context, all bool) error {
	now := e.Now()
	if all {
		now = now.Add(e.TurnLease + time.Hour)
	}
	ids, err := e.Sessions.ReleaseExpiredTurns(ctx, now)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		e.Logger.InfoContext(ctx, "released turns of a previous process", "sessions", ids)
	}
	return nil
}
