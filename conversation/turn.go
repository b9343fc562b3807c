package conversation

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// errSessionEnding stops a turn whose session is being ended.
var errSessionEnding = &hyponema.Error{Code: hyponema.ESESSIONENDED, Message: "The session was ended during the reply."}

// errShuttingDown is how a turn cut short by the server's shutdown fails.
var errShuttingDown = &hyponema.Error{Code: hyponema.EUNAVAILABLE, Message: "The server is shutting down; the reply was cut short."}

// Turn is a reply being generated, as its caller sees it.
type Turn struct {
	// FirstSeq is the seq of the turn's first event (message.created): a
	// stream of the turn follows from FirstSeq-1.
	FirstSeq int64

	t *turn
}

// Wait blocks until the turn ends and returns the assistant's message, or
// the error that stopped it (the partial reply is stored all the same).
func (t *Turn) Wait(ctx context.Context) (*hyponema.Message, error) {
	select {
	case <-t.t.finished:
		return t.t.reply, t.t.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// IsEnd reports whether ev is the last event of this turn: done or error.
func (t *Turn) IsEnd(ev *hyponema.SessionEvent) bool {
	return ev.Seq >= t.FirstSeq && (ev.Type == hyponema.EventDone || ev.Type == hyponema.EventError)
}

// turn is the engine's side of a running reply.
type turn struct {
	e       *Engine
	id      string
	session *hyponema.Session
	pinned  *pinned
	user    *hyponema.Message
	reply   *hyponema.Message // the assistant's message; text grows as it streams
	err     error

	ctx    context.Context
	cancel context.CancelCauseFunc

	mu       sync.Mutex // guards seq, pending, reply.Text while streaming
	seq      int64
	pending  []*hyponema.SessionEvent // published deltas not yet stored
	flushMu  sync.Mutex               // one store write at a time, in order
	finished chan struct{}

	// userStored is closed once the user's message is stored (userErr nil)
	// or failed to be. The model is asked meanwhile, to overlap its first
	// token with the write, but no delta is published before the question.
	userStored chan struct{}
	userErr    error

	// finalStored is set once the last events are stored and the claim
	// released with them: the turn is over but for its cleanup here.
	finalStored atomic.Bool

	toolTime time.Duration // spent in tool calls so far (generate's goroutine only)
	endAfter atomic.Bool   // the agent called end_session
}

// Send stores the user's message and starts the assistant's reply, which
// runs to its end whatever happens to the caller. Returns ENOTFOUND,
// ESESSIONENDED, EINVALID, or ECONFLICT while another reply runs.
func (e *Engine) Send(ctx context.Context, workspaceID, sessionID, text string) (*Turn, error) {
	if text == "" || !utf8.ValidString(text) || len(text) > hyponema.MaxMessageLen {
		return nil, fieldError("text", "must be 1 to 32000 bytes of UTF-8 text")
	}
	s, err := e.Sessions.FindSession(ctx, workspaceID, sessionID)
	if err != nil {
		return nil, err
	}
	if s.Status == hyponema.SessionEnded {
		return nil, hyponema.Errorf(hyponema.ESESSIONENDED, "The session has ended.")
	}
	p, err := e.pin(ctx, workspaceID, s.AgentVersionID)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	t := &turn{e: e, id: hyponema.NewID(hyponema.PrefixTurn), session: s, pinned: p,
		finished: make(chan struct{}), userStored: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancelCause(e.ctx)
	t.user = &hyponema.Message{
		ID: hyponema.NewID(hyponema.PrefixMessage), WorkspaceID: workspaceID, SessionID: sessionID,
		Role: hyponema.RoleUser, Text: text, Status: hyponema.MessageComplete, ToolCalls: []hyponema.ToolCall{}, CreatedAt: now,
	}
	// The reply exists from the start (a follower may flush the turn at any
	// time); its ID is made after the question's, so that the transcript,
	// ordered by ID, reads question then answer.
	t.reply = &hyponema.Message{
		ID: hyponema.NewID(hyponema.PrefixMessage), WorkspaceID: workspaceID, SessionID: sessionID,
		Role: hyponema.RoleAssistant, Status: hyponema.MessageIncomplete, ToolCalls: []hyponema.ToolCall{}, CreatedAt: now,
	}

	// A turn already running here is a conflict at once; registered, this
	// one is found by EndSession, which waits for it.
	e.mu.Lock()
	for old := e.turns[sessionID]; old != nil; old = e.turns[sessionID] {
		if !old.finalStored.Load() {
			e.mu.Unlock()
			return nil, hyponema.Errorf(hyponema.ECONFLICT, "A reply is already being generated in this session.")
		}
		// Its "done" may be out already: wait the moment it takes to go.
		e.mu.Unlock()
		<-old.finished
		e.mu.Lock()
	}
	e.turns[sessionID] = t
	e.mu.Unlock()

	// The model is asked at once, while the session is claimed and the
	// question stored: the writes overlap the model's first token. No delta
	// is published, and nothing stored, before the question is; if the
	// claim fails (another replica's turn), the request is cancelled.
	e.wg.Go(func() { t.run(now) })
	fail := func(err error) (*Turn, error) {
		t.userErr = err
		close(t.userStored)
		t.stop(err)
		<-t.finished
		return nil, err
	}
	// Only turns append to a session's log, each under its claim, and
	// ending a session stops its turn: the last seq read now is still the
	// last when the claim is taken, or the claim fails.
	last, err := e.Events.LastEventSeq(ctx, sessionID)
	if err != nil {
		return fail(err)
	}
	t.mu.Lock()
	t.seq = last
	created := t.event(hyponema.EventMessageCreated, t.user)
	t.mu.Unlock()
	stored := *t.user // the store writes back into what it saves; the turn reads t.user
	if err := e.Messages.StartTurn(ctx, &stored, []*hyponema.SessionEvent{created}, t.id, now.Add(e.TurnLease)); err != nil {
		return fail(err)
	}
	if cause := context.Cause(t.ctx); cause != nil {
		// The session was ended meanwhile; the question is stored, the
		// turn stops before answering.
		close(t.userStored)
		<-t.finished
		return nil, cause
	}
	e.Bus.Publish(created)
	close(t.userStored)
	return &Turn{FirstSeq: created.Seq, t: t}, nil
}

// runningTurn returns the session's turn running in this process, if any.
func (e *Engine) runningTurn(sessionID string) *turn {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.turns[sessionID]
}

// FlushSession stores a running turn's pending deltas, so that a reader of
// the store sees every event published so far.
func (e *Engine) FlushSession(ctx context.Context, sessionID string) error {
	if t := e.runningTurn(sessionID); t != nil {
		return t.flush(ctx, nil, false)
	}
	return nil
}

// event numbers a new event of the turn. Callers hold t.mu or own t alone.
func (t *turn) event(typ string, data any) *hyponema.SessionEvent {
	ev := newEvent(t.session, typ, data, t.e.Now())
	t.seq++
	ev.Seq = t.seq
	return ev
}

func (t *turn) stop(cause error) { t.cancel(cause) }

// run generates the reply, stores it, and releases the session.
func (t *turn) run(start time.Time) {
	var last []*hyponema.SessionEvent
	defer func() {
		// Release the session before telling anyone the turn is over: a
		// client that sends its next message on "done" must not get a 409.
		t.release()
		for _, ev := range last {
			t.e.Bus.Publish(ev)
		}
		if t.endAfter.Load() && t.err == nil {
			// The agent closed the conversation: end it now that its
			// goodbye is stored and sent.
			t.e.wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.e.ctx, 10*time.Second)
				defer cancel()
				if _, err := t.e.EndSession(ctx, t.session.WorkspaceID, t.session.ID, hyponema.EndedByAgent); err != nil && ctx.Err() == nil {
					t.e.Logger.WarnContext(ctx, "ending the session for the agent", "session_id", t.session.ID, "error", err)
				}
			})
		}
	}()
	cfg := t.pinned.version.Config
	ctx, cancel := context.WithTimeout(t.ctx, time.Duration(cfg.TurnTimeoutSeconds)*time.Second)
	defer cancel()

	// Keep the claim alive and the deltas flowing to the store meanwhile.
	stopBackground := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { t.background(stopBackground) })

	usage, ttft, err := t.generate(ctx, start)

	close(stopBackground)
	bg.Wait()
	last = t.finish(usage, ttft, start, err)
}

// release gives the session back: this process forgets the turn, the
// store's claim is cleared, and Wait returns.
func (t *turn) release() {
	e := t.e
	e.mu.Lock()
	if e.turns[t.session.ID] == t {
		delete(e.turns, t.session.ID)
	}
	e.mu.Unlock()
	if !t.finalStored.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Sessions.ReleaseTurn(ctx, t.session.ID, t.id); err != nil {
			e.Logger.WarnContext(ctx, "releasing turn", "session_id", t.session.ID, "error", err)
		}
	}
	t.cancel(nil)
	close(t.finished)
}

// background renews the turn's claim and flushes its deltas until stop.
func (t *turn) background(stop <-chan struct{}) {
	e := t.e
	flush := time.NewTicker(e.FlushInterval)
	defer flush.Stop()
	renew := time.NewTicker(e.TurnLease / 3)
	defer renew.Stop()
	for {
		select {
		case <-stop:
			return
		case <-flush.C:
			if err := t.flush(t.ctx, nil, false); err != nil && t.ctx.Err() == nil {
				e.Logger.WarnContext(t.ctx, "storing reply deltas", "session_id", t.session.ID, "error", err)
			}
		case <-renew.C:
			if err := e.Sessions.RenewTurn(t.ctx, t.session.ID, t.id, e.Now().Add(e.TurnLease)); err != nil && t.ctx.Err() == nil {
				e.Logger.WarnContext(t.ctx, "renewing turn claim", "session_id", t.session.ID, "error", err)
			}
		}
	}
}

// generate streams the model's reply into t.reply, publishing deltas, and
// runs the tools it calls, round after round, until it answers without
// calling any (or the rounds run out, when it must answer without tools).
func (t *turn) generate(ctx context.Context, start time.Time) (*hyponema.Usage, *int, error) {
	e := t.e
	cfg := t.pinned.version.Config
	llm, model, err := e.Models.For(cfg.Model)
	if err != nil {
		return nil, nil, err
	}
	history, err := t.history(ctx)
	if err != nil {
		return nil, nil, err
	}
	req := &hyponema.ChatRequest{
		Model:             model,
		System:            hyponema.SystemPrompt(t.pinned.version, t.pinned.persona, t.session.Variables),
		Messages:          history,
		Temperature:       cfg.Temperature,
		MaxOutputTokens:   cfg.MaxOutputTokens,
		FirstTokenTimeout: time.Duration(cfg.FirstTokenTimeoutMS) * time.Millisecond,
	}
	if hits := t.retrieve(ctx); len(hits) > 0 {
		req.System += knowledgePrompt(hits)
		req.Passages = hits
		t.mu.Lock()
		t.reply.Citations = citations(hits)
		t.mu.Unlock()
	}
	ts := t.toolset(ctx)
	var usage *hyponema.Usage
	var ttft *int
	for round := 0; ; round++ {
		offer := len(ts.defs) > 0 && round < cfg.MaxToolRounds && !t.endAfter.Load()
		req.Tools = nil
		if offer {
			req.Tools = ts.defs
		}
		text, calls, err := t.stream(ctx, llm, req, start, &ttft, &usage)
		if err != nil || len(calls) == 0 || !offer {
			return usage, ttft, err
		}
		if <-t.userStored; t.userErr != nil {
			return usage, ttft, t.userErr
		}
		req.Messages = append(req.Messages, hyponema.ChatMessage{Role: hyponema.RoleAssistant, Text: text, ToolCalls: calls})
		req.Messages = append(req.Messages, t.runTools(ctx, ts, calls)...)
	}
}

// stream runs one model call, publishing its text as deltas of the reply,
// and returns its text and tool calls.
func (t *turn) stream(ctx context.Context, llm hyponema.LLM, req *hyponema.ChatRequest, start time.Time,
	ttft **int, usage **hyponema.Usage) (string, []hyponema.ToolCall, error) {
	e := t.e
	stream, err := llm.StreamChat(ctx, req)
	if err != nil {
		return "", nil, err
	}
	defer stream.Close()
	var text strings.Builder
	var calls []hyponema.ToolCall
	var last *hyponema.Usage // a stream's usage comes whole with its last chunk
	defer func() { *usage = addUsage(*usage, last) }()
	for {
		chunk, err := stream.Next()
		if err == io.EOF {
			return text.String(), calls, nil
		} else if err != nil {
			return text.String(), calls, err
		}
		if chunk.Usage != nil {
			last = chunk.Usage
		}
		calls = append(calls, chunk.ToolCalls...)
		if chunk.Text == "" {
			continue
		}
		if *ttft == nil {
			<-t.userStored
			if t.userErr != nil {
				return text.String(), calls, t.userErr
			}
		}
		t.mu.Lock()
		if *ttft == nil {
			ms := int(e.Now().Sub(start).Milliseconds())
			*ttft = &ms
		}
		d := chunk.Text
		if text.Len() == 0 && t.reply.Text != "" && !endsInSpace(t.reply.Text) {
			d = "\n\n" + d // a new round's text: a new paragraph of the reply
		}
		text.WriteString(chunk.Text)
		t.reply.Text += d
		ev := t.event(hyponema.EventMessageDelta, delta{MessageID: t.reply.ID, Delta: d})
		t.pending = append(t.pending, ev)
		e.Bus.Publish(ev)
		t.mu.Unlock()
	}
}

func endsInSpace(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsSpace(r)
}

// addUsage sums the usage of a turn's model calls.
func addUsage(a, b *hyponema.Usage) *hyponema.Usage {
	if a == nil {
		if b == nil {
			return nil
		}
		c := *b
		return &c
	}
	if b != nil {
		a.InputTokens += b.InputTokens
		a.OutputTokens += b.OutputTokens
	}
	return a
}

type delta struct {
	MessageID string `json:"message_id"`
	Delta     string `json:"delta"`
}

type turnError struct {
	Detail    string `json:"detail"`
	ErrorKind string `json:"error_kind"`
	MessageID string `json:"message_id"`
}

// finish stores the reply as it ended, with the last events: completed and
// done, or error, and returns those events, to be published once the
// session is released.
func (t *turn) finish(usage *hyponema.Usage, ttft *int, start time.Time, err error) []*hyponema.SessionEvent {
	e := t.e
	if <-t.userStored; t.userErr != nil {
		return nil // the question was never stored: nothing to answer
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A stop from outside (the session ended, the server stops) explains
	// the failure better than the cancelled stream does.
	if cause := context.Cause(t.ctx); cause == context.Canceled {
		err = errShuttingDown
	} else if cause != nil {
		err = cause
	}
	latency := int(e.Now().Sub(start).Milliseconds())
	t.mu.Lock()
	t.reply.Usage, t.reply.TTFTMS, t.reply.LatencyMS = usage, ttft, &latency
	var last []*hyponema.SessionEvent
	if err == nil {
		t.reply.Status = hyponema.MessageComplete
		last = append(last, t.event(hyponema.EventMessageCompleted, t.reply), t.event(hyponema.EventDone, struct{}{}))
	} else {
		kind, detail := errorKind(err)
		t.reply.Error = detail
		last = append(last, t.event(hyponema.EventError, turnError{Detail: detail, ErrorKind: kind, MessageID: t.reply.ID}))
		t.err = err
		if !errors.Is(err, errSessionEnding) && !errors.Is(err, errShuttingDown) {
			e.Logger.WarnContext(ctx, "reply failed", "session_id", t.session.ID, "error", err)
		}
	}
	t.mu.Unlock()
	if err := t.flush(ctx, last, true); err != nil {
		e.Logger.ErrorContext(ctx, "storing reply", "session_id", t.session.ID, "error", err)
		if t.err == nil {
			t.err = err
		}
	}
	return last
}

// errorKind maps a turn's failure to the error event's kind and detail.
func errorKind(err error) (kind, detail string) {
	switch {
	case errors.Is(err, errSessionEnding):
		return "session_ended", "The session was ended during the reply."
	case errors.Is(err, errShuttingDown):
		return "unavailable", errShuttingDown.Message
	}
	switch hyponema.ErrorCode(err) {
	case hyponema.ETIMEOUT:
		return "provider_timeout", hyponema.ErrorMessage(err)
	case hyponema.ERATELIMITED:
		return "rate_limited", hyponema.ErrorMessage(err)
	case hyponema.EPROVIDER:
		return "provider_error", hyponema.ErrorMessage(err)
	case hyponema.EINTERNAL:
		return "internal_error", "Internal error."
	}
	return "provider_error", hyponema.ErrorMessage(err)
}

// flush stores the pending deltas, the reply's text so far and extra
// events, in one write; writes happen in order, one at a time. Before the
// reply has any text and without extras there is nothing to store. The
// final flush also releases the turn's claim, in the same write.
func (t *turn) flush(ctx context.Context, extra []*hyponema.SessionEvent, final bool) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	t.mu.Lock()
	events := append(t.pending, extra...)
	t.pending = nil
	snapshot := *t.reply
	t.mu.Unlock()
	if len(events) == 0 {
		return nil
	}
	switch {
	case final:
		// Set first: a follower may read "done" from the store as soon as
		// it commits, and its client's next Send must then wait, not fail.
		t.finalStored.Store(true)
		if err := t.e.Messages.FinishTurn(ctx, &snapshot, events, t.id); err != nil {
			t.finalStored.Store(false)
			return err
		}
		return nil
	case snapshot.Text == "" && len(extra) == 0:
		return t.e.Events.AppendEvents(ctx, events)
	}
	return t.e.Messages.SaveMessage(ctx, &snapshot, events)
}

// history builds the conversation sent to the model: the newest messages
// that fit the agent's token budget, oldest first, always including the
// user's new message.
func (t *turn) history(ctx context.Context) ([]hyponema.ChatMessage, error) {
	msgs, err := t.e.Messages.RecentMessages(ctx, t.session.ID, 200)
	if err != nil {
		return nil, err
	}
	// The user's message is being stored meanwhile: it may or may not be
	// among msgs yet, so it is taken from memory.
	msgs = slices.DeleteFunc(msgs, func(m *hyponema.Message) bool { return m.ID == t.user.ID })
	msgs = append(msgs, t.user)
	budget := t.pinned.version.Config.HistoryTokenBudget
	var out []hyponema.ChatMessage
	used := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if m.Text == "" || (m.Role != hyponema.RoleUser && m.Role != hyponema.RoleAssistant) {
			continue
		}
		cost := hyponema.EstimateTokens(m.Text)
		if used+cost > budget && len(out) > 0 {
			break
		}
		used += cost
		out = append(out, hyponema.ChatMessage{Role: m.Role, Text: m.Text})
	}
	slices.Reverse(out)
	return out, nil
}
