package conversation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/conversation"
	"github.com/hyponema/hyponema/internal/enginetest"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/anthropic"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/llm/local"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// harness is the engine over a real database, with a fake OpenAI server
// behind the real provider as "openai", and the local engine as "local".
type harness struct {
	t         *testing.T
	db        *store.DB
	e         *conversation.Engine
	openai    *llmtest.OpenAIServer
	anthropic *llmtest.AnthropicServer
	models    *llm.Router
	ws        string
}

func onlyLocal() *llm.Router {
	r := llm.NewRouter()
	r.Register("local", local.New())
	return r
}

func newHarness(t *testing.T, db *store.DB) *harness {
	srv := llmtest.NewOpenAIServer(t)
	ant := llmtest.NewAnthropicServer(t)
	models := llm.NewRouter()
	models.Register("local", local.New())
	models.Register("openai", llm.WithRetry(openai.New(openai.Config{APIKey: "sk-test", BaseURL: srv.URL()}),
		llm.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	models.Register("anthropic", llm.WithRetry(anthropic.New(anthropic.Config{APIKey: "sk-ant-test", BaseURL: ant.URL()}),
		llm.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond}))
	e := enginetest.Start(t, db, models, func(e *conversation.Engine) {
		e.FlushInterval = 20 * time.Millisecond
		e.SweepInterval = time.Hour // tests sweep by hand
	})
	w := &hyponema.Workspace{Name: "test"}
	if err := store.NewWorkspaceService(db).CreateWorkspace(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, db: db, e: e, openai: srv, anthropic: ant, models: models, ws: w.ID}
}

// agent creates and publishes an agent with cfg applied over the defaults.
func (h *harness) agent(edit func(*hyponema.AgentConfig)) *hyponema.Agent {
	h.t.Helper()
	return h.publish(h.draft("test agent", edit))
}

// draft creates an agent named name on the fake OpenAI server's model,
// with edit applied over the defaults, and does not publish it.
func (h *harness) draft(name string, edit func(*hyponema.AgentConfig)) *hyponema.Agent {
	h.t.Helper()
	a := &hyponema.Agent{WorkspaceID: h.ws, AgentConfig: hyponema.NewAgentConfig()}
	a.Name, a.Model = name, "openai/gpt-test"
	if edit != nil {
		edit(&a.AgentConfig)
	}
	if err := store.NewAgentService(h.db).CreateAgent(context.Background(), a); err != nil {
		h.t.Fatal(err)
	}
	return a
}

// publish makes a version of the agent's draft and publishes it.
func (h *harness) publish(a *hyponema.Agent) *hyponema.Agent {
	h.t.Helper()
	ctx := context.Background()
	agents := store.NewAgentService(h.db)
	v, err := agents.CreateAgentVersion(ctx, h.ws, a.ID, "")
	if err != nil {
		h.t.Fatal(err)
	}
	if a, err = agents.PublishAgentVersion(ctx, h.ws, a.ID, v.ID); err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) session(agentID string, vars map[string]string) *hyponema.Session {
	h.t.Helper()
	s, err := h.e.CreateSession(context.Background(), conversation.NewSession{WorkspaceID: h.ws, AgentID: agentID, Variables: vars})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// collect follows a turn to its end and returns its events.
func (h *harness) collect(sessionID string, t *conversation.Turn) []*hyponema.SessionEvent {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var evs []*hyponema.SessionEvent
	err := h.e.Follow(ctx, sessionID, t.FirstSeq-1, func(ev *hyponema.SessionEvent) error {
		evs = append(evs, ev)
		return nil
	}, t.IsEnd)
	if err != nil {
		h.t.Fatalf("follow: %v", err)
	}
	return evs
}

// send starts a turn and fails the test if it cannot.
func (h *harness) send(sessionID, text string) *conversation.Turn {
	h.t.Helper()
	t, err := h.e.Send(context.Background(), h.ws, sessionID, text)
	if err != nil {
		h.t.Fatalf("send: %v", err)
	}
	return t
}

func (h *harness) transcript(sessionID string) []*hyponema.Message {
	h.t.Helper()
	p, err := store.NewMessageService(h.db).ListMessages(context.Background(), h.ws, sessionID, hyponema.PageOptions{Asc: true, Limit: 200})
	if err != nil {
		h.t.Fatal(err)
	}
	return p.Data
}

func (h *harness) allEvents(sessionID string) []*hyponema.SessionEvent {
	h.t.Helper()
	evs, err := store.NewEventService(h.db).ListEvents(context.Background(), sessionID, 0, 10_000)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func types(evs []*hyponema.SessionEvent) string {
	var out []string
	for i, ev := range evs {
		if ev.Type == hyponema.EventMessageDelta && i > 0 && evs[i-1].Type == hyponema.EventMessageDelta {
			continue
		}
		out = append(out, ev.Type)
	}
	return strings.Join(out, " ")
}

// checkSeqs asserts that events are numbered 1, 2, 3 … without gaps.
func checkSeqs(t *testing.T, evs []*hyponema.SessionEvent, from int64) {
	t.Helper()
	for i, ev := range evs {
		if ev.Seq != from+int64(i) {
			t.Fatalf("event %d (%s) has seq %d, want %d", i, ev.Type, ev.Seq, from+int64(i))
		}
	}
}

func TestNormalTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		persona := &hyponema.Persona{WorkspaceID: h.ws, PersonaConfig: hyponema.PersonaConfig{Name: "p", Instructions: "Speak like {{style}}."}}
		if err := store.NewPersonaService(db).CreatePersona(ctx, persona); err != nil {
			t.Fatal(err)
		}
		a := h.agent(func(c *hyponema.AgentConfig) {
			c.Instructions = "You help {{customer}} with orders."
			c.FirstMessage = "Hello {{customer}}!"
			c.PersonaID = persona.ID
			c.VariableDefaults = map[string]string{"style": "a pirate"}
		})
		if _, err := h.e.CreateSession(ctx, conversation.NewSession{WorkspaceID: h.ws, AgentID: a.ID}); hyponema.ErrorCode(err) != hyponema.EINVALID ||
			!strings.Contains(hyponema.ErrorMessage(err), "variables.customer") {
			t.Fatalf("a missing variable: %v", err)
		}
		s := h.session(a.ID, map[string]string{"customer": "Ada"})
		h.openai.Enqueue(llmtest.Reply{Text: "Ahoy Ada, your order ships today.", Chunks: 6, Usage: &hyponema.Usage{InputTokens: 42, OutputTokens: 9}})

		turn := h.send(s.ID, "Where is my order?")
		evs := h.collect(s.ID, turn)
		if got := types(evs); got != "message.created message.delta message.completed done" {
			t.Fatalf("events: %s", got)
		}
		checkSeqs(t, evs, turn.FirstSeq)
		var deltas strings.Builder
		for _, ev := range evs {
			if ev.Type == hyponema.EventMessageDelta {
				var d struct{ MessageID, Delta string }
				_ = json.Unmarshal(ev.Data, &d)
				deltas.WriteString(d.Delta)
			}
		}
		if deltas.String() != "Ahoy Ada, your order ships today." {
			t.Fatalf("deltas %q", deltas.String())
		}
		var done hyponema.Message
		_ = json.Unmarshal(evs[len(evs)-2].Data, &done)
		if done.Status != hyponema.MessageComplete || done.Usage == nil || done.Usage.OutputTokens != 9 || done.LatencyMS == nil || done.TTFTMS == nil {
			t.Fatalf("completed message %+v", done)
		}

		req := h.openai.LastRequest()
		if req.Model != "gpt-test" || req.Messages[0].Role != "system" ||
			req.Messages[0].Content != "Speak like a pirate.\n\nYou help Ada with orders." {
			t.Fatalf("request %+v", req.Messages)
		}
		if last := req.Messages[len(req.Messages)-1]; last.Role != "user" || last.Content != "Where is my order?" {
			t.Fatalf("last message %+v", last)
		}
		if req.Messages[1].Role != "assistant" || req.Messages[1].Content != "Hello Ada!" {
			t.Fatalf("first message not in history: %+v", req.Messages)
		}

		msgs := h.transcript(s.ID)
		if len(msgs) != 3 || msgs[0].Text != "Hello Ada!" || msgs[1].Role != "user" || msgs[2].Text != deltas.String() || msgs[2].Status != hyponema.MessageComplete {
			t.Fatalf("transcript %+v", msgs)
		}
		all := h.allEvents(s.ID)
		checkSeqs(t, all, 1)
		if got := types(all); got != "session.created message.completed message.created message.delta message.completed done" {
			t.Fatalf("stored events: %s", got)
		}
	})
}

func TestHistoryBudgetDropsOldestTurns(t *testing.T) {
	h := newHarness(t, storetest.MustOpenSQLite(t))
	a := h.agent(func(c *hyponema.AgentConfig) {
		c.HistoryTokenBudget = 100
		c.Instructions = strings.Repeat("Long rules. ", 200)
	})
	s := h.session(a.ID, nil)
	for i := range 6 {
		h.openai.Enqueue(llmtest.Text(fmt.Sprintf("reply %d %s", i, strings.Repeat("x", 100))))
		h.collect(s.ID, h.send(s.ID, fmt.Sprintf("question %d %s", i, strings.Repeat("y", 100))))
	}
	req := h.openai.LastRequest()
	if !strings.HasPrefix(req.Messages[0].Content, "Long rules.") {
		t.Fatal("the system prompt was dropped")
	}
	if n := len(req.Messages); n < 2 || n > 5 {
		t.Fatalf("%d messages sent; the budget should keep only the newest few", n)
	}
	if last := req.Messages[len(req.Messages)-1]; !strings.HasPrefix(last.Content, "question 5") {
		t.Fatalf("the new message is not last: %q", last.Content)
	}
}

func TestProviderFailures(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		a := h.agent(func(c *hyponema.AgentConfig) { c.FirstTokenTimeoutMS = 300 })

		t.Run("500 before the first token is retried", func(t *testing.T) {
			s := h.session(a.ID, nil)
			h.openai.Enqueue(llmtest.Fail(500), llmtest.Text("Recovered."))
			evs := h.collect(s.ID, h.send(s.ID, "hi"))
			if types(evs) != "message.created message.delta message.completed done" {
				t.Fatalf("events %s", types(evs))
			}
		})
		t.Run("500 every time is provider_error", func(t *testing.T) {
			s := h.session(a.ID, nil)
			h.openai.Enqueue(llmtest.Fail(500), llmtest.Fail(500), llmtest.Fail(500), llmtest.Fail(500))
			evs := h.collect(s.ID, h.send(s.ID, "hi"))
			checkErrorEvent(t, evs, "provider_error")
			msgs := h.transcript(s.ID)
			if msgs[0].Role != "user" || msgs[len(msgs)-1].Status != hyponema.MessageIncomplete {
				t.Fatalf("transcript %+v", msgs)
			}
		})
		t.Run("failure after the first token keeps the partial reply", func(t *testing.T) {
			s := h.session(a.ID, nil)
			h.openai.Enqueue(llmtest.Reply{Text: "one two three four", Chunks: 4, Fault: llmtest.CutAfter(2)})
			evs := h.collect(s.ID, h.send(s.ID, "hi"))
			checkErrorEvent(t, evs, "provider_error")
			msgs := h.transcript(s.ID)
			last := msgs[len(msgs)-1]
			if last.Role != "assistant" || last.Status != hyponema.MessageIncomplete || last.Text == "" ||
				!strings.HasPrefix("one two three four", last.Text) || last.Text == "one two three four" || last.Error == "" {
				t.Fatalf("partial reply %+v", last)
			}
			// The session still works.
			h.openai.Enqueue(llmtest.Text("fine now"))
			if evs := h.collect(s.ID, h.send(s.ID, "again")); types(evs) != "message.created message.delta message.completed done" {
				t.Fatalf("next turn %s", types(evs))
			}
		})
		t.Run("a hang is provider_timeout", func(t *testing.T) {
			s := h.session(a.ID, nil)
			h.openai.Enqueue(llmtest.Reply{Text: "never", Fault: llmtest.HangAfter(0)})
			checkErrorEvent(t, h.collect(s.ID, h.send(s.ID, "hi")), "provider_timeout")
		})
		t.Run("a malformed chunk is provider_error", func(t *testing.T) {
			s := h.session(a.ID, nil)
			h.openai.Enqueue(llmtest.Reply{Text: "a b c", Chunks: 3, Fault: llmtest.MalformedAfter(1)})
			checkErrorEvent(t, h.collect(s.ID, h.send(s.ID, "hi")), "provider_error")
		})
		t.Run("429 is retried after Retry-After", func(t *testing.T) {
			s := h.session(a.ID, nil)
			h.openai.Enqueue(llmtest.RateLimited("0"), llmtest.Text("ok"))
			if evs := h.collect(s.ID, h.send(s.ID, "hi")); types(evs) != "message.created message.delta message.completed done" {
				t.Fatalf("events %s", types(evs))
			}
		})
		t.Run("an unconfigured provider is provider_error", func(t *testing.T) {
			b := h.agent(func(c *hyponema.AgentConfig) { c.Model = "anthropic/claude-x" })
			s := h.session(b.ID, nil)
			h.e.Models = onlyLocal()
			defer func() { h.e.Models = h.models }()
			evs := h.collect(s.ID, h.send(s.ID, "hi"))
			m := checkErrorEvent(t, evs, "provider_error")
			if !strings.Contains(m["detail"].(string), "HYPONEMA_ANTHROPIC") {
				t.Fatalf("the detail does not say how to configure it: %v", m)
			}
		})
	})
}

func checkErrorEvent(t *testing.T, evs []*hyponema.SessionEvent, kind string) map[string]any {
	t.Helper()
	last := evs[len(evs)-1]
	if last.Type != hyponema.EventError {
		t.Fatalf("the turn ended with %s, want error: %s", last.Type, types(evs))
	}
	var m map[string]any
	_ = json.Unmarshal(last.Data, &m)
	if m["error_kind"] != kind || m["detail"] == "" {
		t.Fatalf("error %v, want %s", m, kind)
	}
	return m
}

func TestTurnsDoNotInterleave(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		a := h.agent(nil)
		s := h.session(a.ID, nil)
		h.openai.SetDefault(llmtest.Reply{Text: "slow reply here", Chunks: 3, Delay: 50 * time.Millisecond})
		var wg sync.WaitGroup
		results := make([]error, 10)
		turns := make([]*conversation.Turn, 10)
		for i := range 10 {
			wg.Go(func() { turns[i], results[i] = h.e.Send(context.Background(), h.ws, s.ID, fmt.Sprintf("m%d", i)) })
		}
		wg.Wait()
		won := 0
		for i, err := range results {
			switch hyponema.ErrorCode(err) {
			case "":
				won++
				h.collect(s.ID, turns[i])
			case hyponema.ECONFLICT:
			default:
				t.Fatalf("unexpected %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d turns started at once, want 1", won)
		}
		msgs := h.transcript(s.ID)
		if len(msgs) != 2 || msgs[0].Role != "user" || msgs[1].Role != "assistant" {
			t.Fatalf("transcript %+v", msgs)
		}
	})
}

func TestEndedSession(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		a := h.agent(nil)
		ctx := context.Background()

		s := h.session(a.ID, nil)
		ended, err := h.e.EndSession(ctx, h.ws, s.ID, hyponema.EndedByAPI)
		if err != nil || ended.Status != hyponema.SessionEnded || ended.EndedReason != "api" || ended.EndedAt == nil {
			t.Fatalf("%+v %v", ended, err)
		}
		again, err := h.e.EndSession(ctx, h.ws, s.ID, hyponema.EndedByClient)
		if err != nil || again.EndedReason != "api" {
			t.Fatalf("ending twice changed it: %+v %v", again, err)
		}
		if _, err := h.e.Send(ctx, h.ws, s.ID, "hello?"); hyponema.ErrorCode(err) != hyponema.ESESSIONENDED {
			t.Fatalf("send to an ended session: %v", err)
		}
		if n := strings.Count(types(h.allEvents(s.ID)), "session.ended"); n != 1 {
			t.Fatalf("%d session.ended events", n)
		}

		// Ending mid-turn stops the reply, keeps what it said, and says why.
		s = h.session(a.ID, nil)
		h.openai.Enqueue(llmtest.Reply{Text: "a b c d e f g h", Chunks: 8, Delay: 100 * time.Millisecond})
		turn := h.send(s.ID, "talk slowly")
		time.Sleep(250 * time.Millisecond)
		if _, err := h.e.EndSession(ctx, h.ws, s.ID, hyponema.EndedByAPI); err != nil {
			t.Fatal(err)
		}
		if _, err := turn.Wait(ctx); hyponema.ErrorCode(err) != hyponema.ESESSIONENDED {
			t.Fatalf("turn ended with %v", err)
		}
		all := h.allEvents(s.ID)
		checkSeqs(t, all, 1)
		if got := types(all); !strings.HasSuffix(got, "error session.ended") {
			t.Fatalf("events %s", got)
		}
		msgs := h.transcript(s.ID)
		if last := msgs[len(msgs)-1]; last.Status != hyponema.MessageIncomplete || last.Text == "" {
			t.Fatalf("partial reply %+v", last)
		}
	})
}

// TestFollowReplaysWithoutGaps joins a turn's stream at every point —
// before, during and after — and always gets the same events.
func TestFollowReplaysWithoutGaps(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		a := h.agent(nil)
		s := h.session(a.ID, nil)
		h.openai.Enqueue(llmtest.Reply{Text: strings.Repeat("word ", 40), Chunks: 40, Delay: 5 * time.Millisecond})
		turn := h.send(s.ID, "go")
		var wg sync.WaitGroup
		results := make([][]*hyponema.SessionEvent, 8)
		for i := range results {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * 30 * time.Millisecond)
				results[i] = h.collect(s.ID, turn)
			})
		}
		wg.Wait()
		want := types(results[0])
		for i, evs := range results {
			checkSeqs(t, evs, turn.FirstSeq)
			if types(evs) != want || len(evs) != len(results[0]) {
				t.Fatalf("follower %d saw %d events (%s), follower 0 saw %d", i, len(evs), types(evs), len(results[0]))
			}
		}
		// After the turn: a full replay from the start of the session.
		var all []*hyponema.SessionEvent
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.e.Follow(ctx, s.ID, 0, func(ev *hyponema.SessionEvent) error { all = append(all, ev); return nil },
			func(ev *hyponema.SessionEvent) bool { return ev.Type == hyponema.EventDone })
		checkSeqs(t, all, 1)
	})
}

func TestExpiry(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		a := h.agent(func(c *hyponema.AgentConfig) { c.InactivityTimeoutSeconds = 60; c.MaxDurationSeconds = 3600 })
		idle := h.session(a.ID, nil)
		long := h.session(a.ID, nil)
		fresh := h.session(a.ID, nil)
		ctx := context.Background()
		now := time.Now().UTC()

		// Keep "long" active by talking to it, so only its age ends it.
		h.e.Now = func() time.Time { return now.Add(50 * time.Minute) }
		h.openai.SetDefault(llmtest.Text("ok"))
		h.collect(long.ID, h.send(long.ID, "still here"))
		h.collect(fresh.ID, h.send(fresh.ID, "still here"))
		h.e.SweepOnce(ctx)
		if s, _ := h.e.Sessions.FindSession(ctx, h.ws, idle.ID); s.EndedReason != hyponema.EndedByTimeout {
			t.Fatalf("idle session: %+v", s)
		}
		h.e.Now = func() time.Time { return now.Add(61 * time.Minute) }
		h.e.SweepOnce(ctx)
		if s, _ := h.e.Sessions.FindSession(ctx, h.ws, long.ID); s.EndedReason != hyponema.EndedByMaxDuration {
			t.Fatalf("old session: %+v", s)
		}
	})
}

// TestManySessionsNoCrossTalk runs 100 sessions of 5 turns each at once on
// an echoing model: every reply answers its own session's question.
func TestManySessionsNoCrossTalk(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.openai.Handle(func(req *llmtest.OpenAIRequest) llmtest.Reply {
			return llmtest.Reply{Text: "echo: " + req.Messages[len(req.Messages)-1].Content, Chunks: 3}
		})
		a := h.agent(nil)
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				s := h.session(a.ID, nil)
				for j := range 5 {
					q := fmt.Sprintf("session %d turn %d", i, j)
					// Wait returned for the previous turn, so the session is free.
					turn, err := h.e.Send(context.Background(), h.ws, s.ID, q)
					if err != nil {
						t.Errorf("send: %v", err)
						return
					}
					msg, err := turn.Wait(context.Background())
					if err != nil || msg.Text != "echo: "+q {
						t.Errorf("session %d turn %d: %v %+v", i, j, err, msg)
						return
					}
				}
				msgs := h.transcript(s.ID)
				if len(msgs) != 10 {
					t.Errorf("session %d: %d messages", i, len(msgs))
				}
				for j := 0; j+1 < len(msgs); j += 2 {
					if msgs[j+1].Text != "echo: "+msgs[j].Text {
						t.Errorf("session %d: %q answered %q", i, msgs[j+1].Text, msgs[j].Text)
					}
				}
				checkSeqs(t, h.allEvents(s.ID), 1)
			})
		}
		wg.Wait()
	})
}

func TestLocalEngineConversation(t *testing.T) {
	h := newHarness(t, storetest.MustOpenSQLite(t))
	a := h.agent(func(c *hyponema.AgentConfig) { c.Model = "local/hyponema-demo" })
	s := h.session(a.ID, nil)
	msg, err := h.send(s.ID, "Hello there").Wait(context.Background())
	if err != nil || !strings.Contains(msg.Text, "not a language model") || !strings.Contains(msg.Text, "Hello there") {
		t.Fatalf("%v %+v", err, msg)
	}
}

func TestRecoverReleasesAbandonedTurns(t *testing.T) {
	h := newHarness(t, storetest.MustOpenSQLite(t))
	a := h.agent(nil)
	s := h.session(a.ID, nil)
	ctx := context.Background()
	// A claim left by a process that died.
	if err := h.e.Sessions.ClaimTurn(ctx, h.ws, s.ID, "trn_dead", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Send(ctx, h.ws, s.ID, "hi"); hyponema.ErrorCode(err) != hyponema.ECONFLICT {
		t.Fatalf("send while claimed: %v", err)
	}
	if err := h.e.Recover(ctx, true); err != nil {
		t.Fatal(err)
	}
	h.openai.Enqueue(llmtest.Text("back"))
	if _, err := h.send(s.ID, "hi").Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestAnthropicTurn runs turns through the Anthropic provider against its
// fake server: the stream, the request's shape, and a failure mid-reply.
func TestAnthropicTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		a := h.agent(func(c *hyponema.AgentConfig) { c.Model = "anthropic/claude-test"; c.Instructions = "Be brief." })
		s := h.session(a.ID, nil)
		h.anthropic.Enqueue(llmtest.Reply{Text: "Brief answer.", Chunks: 3, Usage: &hyponema.Usage{InputTokens: 10, OutputTokens: 3}})
		msg, err := h.send(s.ID, "Question?").Wait(context.Background())
		if err != nil || msg.Text != "Brief answer." || msg.Usage == nil || msg.Usage.OutputTokens != 3 {
			t.Fatalf("%v %+v", err, msg)
		}
		req := h.anthropic.LastRequest()
		if req.Model != "claude-test" || len(req.Messages) != 1 || req.Messages[0].Role != "user" {
			t.Fatalf("request %+v", req)
		}
		h.anthropic.Enqueue(llmtest.Reply{Text: "one two three", Chunks: 3, Fault: llmtest.ErrorEventAfter(1, 529)})
		evs := h.collect(s.ID, h.send(s.ID, "More?"))
		checkErrorEvent(t, evs, "provider_error")
		h.anthropic.Enqueue(llmtest.Fail(529), llmtest.Text("after overload"))
		if msg, err := h.send(s.ID, "Again?").Wait(context.Background()); err != nil || msg.Text != "after overload" {
			t.Fatalf("529 before the first token is retried: %v %+v", err, msg)
		}
	})
}
