package store_test

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func (e *sessionEnv) newMessage(s *hyponema.Session, role, text string, at time.Time) *hyponema.Message {
	return &hyponema.Message{ID: hyponema.NewID(hyponema.PrefixMessage), WorkspaceID: s.WorkspaceID, SessionID: s.ID,
		Role: role, Text: text, Status: hyponema.MessageComplete, CreatedAt: at}
}

func deltaEvent(s *hyponema.Session, seq int64, msgID, delta string) *hyponema.SessionEvent {
	data, _ := json.Marshal(map[string]string{"message_id": msgID, "delta": delta})
	return &hyponema.SessionEvent{SessionID: s.ID, WorkspaceID: s.WorkspaceID, Seq: seq,
		Type: hyponema.EventMessageDelta, Data: data, CreatedAt: t0}
}

func messageID(m *hyponema.Message) string { return m.ID }

// wantMessage compares every field, those behind pointers by value.
func wantMessage(t testing.TB, got, want *hyponema.Message) {
	t.Helper()
	flat := func(m *hyponema.Message) string {
		c := *m
		c.Usage, c.TTFTMS, c.LatencyMS = nil, nil, nil
		return fmt.Sprintf("%#v %s %s %s", c, deref(m.Usage), deref(m.TTFTMS), deref(m.LatencyMS))
	}
	if g, w := flat(got), flat(want); g != w {
		t.Fatalf("message =\n%s\nwant\n%s", g, w)
	}
}

func deref[T any](p *T) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprintf("%+v", *p)
}

func TestSaveMessage(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil) // event seq 1

		// The user's message moves the session's last activity.
		user := e.newMessage(s, hyponema.RoleUser, "What's my order status?", t0.Add(time.Second))
		must(t, e.messages.SaveMessage(ctx, user, []*hyponema.SessionEvent{{SessionID: s.ID, WorkspaceID: s.WorkspaceID,
			Seq: 2, Type: hyponema.EventMessageCreated, Data: json.RawMessage(`{}`)}}))
		if got := e.mustFind(t, s.ID).LastActivityAt; got != t0.Add(time.Second) {
			t.Fatalf("last activity = %v", got)
		}

		// The reply: saved incomplete with its first text, then complete.
		reply := e.newMessage(s, hyponema.RoleAssistant, "Your or", t0.Add(2*time.Second))
		reply.Status, reply.ToolCalls = hyponema.MessageIncomplete, nil
		must(t, e.messages.SaveMessage(ctx, reply, []*hyponema.SessionEvent{
			deltaEvent(s, 3, reply.ID, "Your"), deltaEvent(s, 4, reply.ID, " or")}))
		if reply.ToolCalls == nil {
			t.Fatal("tool calls left nil")
		}
		page, err := e.messages.ListMessages(ctx, e.ws.ID, s.ID, hyponema.PageOptions{Asc: true})
		must(t, err)
		if len(page.Data) != 2 || page.Data[1].Text != "Your or" || page.Data[1].Status != hyponema.MessageIncomplete {
			t.Fatalf("messages = %+v", page.Data)
		}
		if b, _ := json.Marshal(page.Data[1]); !strings.Contains(string(b), `"tool_calls":[]`) || !strings.Contains(string(b), `"usage":null`) ||
			strings.Contains(string(b), "citations") {
			t.Fatalf("JSON %s", b)
		}

		final := *reply
		final.Text, final.Status = "Your order shipped.", hyponema.MessageComplete
		final.ToolCalls = []hyponema.ToolCall{{ID: "call_1", Name: "order_status", Arguments: `{"id":"42"}`}}
		final.Usage = &hyponema.Usage{InputTokens: 120, OutputTokens: 8}
		final.Citations = []hyponema.Citation{{ChunkID: "chk_1", SourceID: "src_1", KnowledgeBaseID: "kb_1"},
			{ChunkID: "chk_2", SourceID: "src_1", KnowledgeBaseID: "kb_1"}}
		final.TTFTMS, final.LatencyMS = ptr(150), ptr(900)
		// Role, session and creation time never change.
		final.Role, final.CreatedAt = hyponema.RoleSystem, t0.Add(time.Hour)
		must(t, e.messages.SaveMessage(ctx, &final, []*hyponema.SessionEvent{deltaEvent(s, 5, reply.ID, "der shipped.")}))
		if final.Role != hyponema.RoleAssistant || final.CreatedAt != reply.CreatedAt {
			t.Fatalf("saved %+v", final)
		}
		page, err = e.messages.ListMessages(ctx, e.ws.ID, s.ID, hyponema.PageOptions{Asc: true})
		must(t, err)
		if len(page.Data) != 2 {
			t.Fatalf("%d messages", len(page.Data))
		}
		wantMessage(t, page.Data[1], &final)
		// The assistant's messages leave the last activity alone.
		if got := e.mustFind(t, s.ID).LastActivityAt; got != t0.Add(time.Second) {
			t.Fatalf("last activity = %v", got)
		}
		if n, err := e.events.LastEventSeq(ctx, s.ID); err != nil || n != 5 {
			t.Fatalf("last seq = %d, %v", n, err)
		}

		// An error on an incomplete reply is kept; removing it works too.
		broken := e.newMessage(s, hyponema.RoleAssistant, "Half", t0.Add(3*time.Second))
		broken.Status, broken.Error = hyponema.MessageIncomplete, "provider timed out"
		must(t, e.messages.SaveMessage(ctx, broken, nil))
		recent, err := e.messages.RecentMessages(ctx, s.ID, 1)
		must(t, err)
		if len(recent) != 1 || recent[0].Error != "provider timed out" || recent[0].Usage != nil || recent[0].TTFTMS != nil {
			t.Fatalf("recent = %+v", recent)
		}
	})
}

func TestSaveMessageErrors(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil)
		o := e.otherEnv(t)
		os := o.mustSession(t, o.newSession(t0), nil)

		bad := func(mut func(*hyponema.Message)) *hyponema.Message {
			m := e.newMessage(s, hyponema.RoleAssistant, "x", t0)
			mut(m)
			return m
		}
		wantField(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) { m.Role = "robot" }), nil), "enum", "body", "role")
		wantField(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) { m.Status = "" }), nil), "enum", "body", "status")
		wantField(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) { m.Text = strings.Repeat("a", 1<<20+1) }), nil),
			"too_long", "body", "text")
		wantField(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) { m.Text = "a\x00b" }), nil), "invalid", "body", "text")
		wantField(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) { m.Text = "\xff" }), nil), "invalid", "body", "text")
		wantCode(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) {
			m.ToolCalls = []hyponema.ToolCall{{ID: "c", Name: "f", Arguments: "\x00"}}
		}), nil), hyponema.EINVALID)
		// A megabyte is fine.
		must(t, e.messages.SaveMessage(ctx, bad(func(m *hyponema.Message) { m.Text = strings.Repeat("é", 1<<19) }), nil))

		// A session of another workspace, or none, is not found, whatever
		// the role.
		for _, role := range []string{hyponema.RoleUser, hyponema.RoleAssistant} {
			m := e.newMessage(os, role, "hi", t0)
			m.WorkspaceID = e.ws.ID
			wantCode(t, e.messages.SaveMessage(ctx, m, nil), hyponema.ENOTFOUND)
			m = e.newMessage(s, role, "hi", t0)
			m.SessionID = "ses_nope"
			wantCode(t, e.messages.SaveMessage(ctx, m, nil), hyponema.ENOTFOUND)
		}
		// A message ID cannot move to another session or workspace.
		m := e.newMessage(s, hyponema.RoleAssistant, "mine", t0)
		must(t, e.messages.SaveMessage(ctx, m, nil))
		moved := o.newMessage(os, hyponema.RoleAssistant, "theirs", t0)
		moved.ID = m.ID
		wantCode(t, o.messages.SaveMessage(ctx, moved, nil), hyponema.ECONFLICT)
		s2 := e.mustSession(t, e.newSession(t0), nil)
		moved = e.newMessage(s2, hyponema.RoleAssistant, "elsewhere", t0)
		moved.ID = m.ID
		wantCode(t, e.messages.SaveMessage(ctx, moved, nil), hyponema.ECONFLICT)

		// A taken event seq fails the whole save: the message is not stored.
		user := e.newMessage(s, hyponema.RoleUser, "hello", t0.Add(time.Minute))
		wantCode(t, e.messages.SaveMessage(ctx, user, []*hyponema.SessionEvent{deltaEvent(s, 1, user.ID, "x")}), hyponema.ECONFLICT)
		page, err := e.messages.ListMessages(ctx, e.ws.ID, s.ID, hyponema.PageOptions{})
		must(t, err)
		for _, got := range page.Data {
			if got.ID == user.ID {
				t.Fatal("message stored despite the failed events")
			}
		}
		if got := e.mustFind(t, s.ID).LastActivityAt; got != t0 {
			t.Fatalf("last activity moved to %v by a failed save", got)
		}
	})
}

func TestListMessages(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil)
		other := e.mustSession(t, e.newSession(t0), nil)
		must(t, e.messages.SaveMessage(ctx, e.newMessage(other, hyponema.RoleUser, "elsewhere", t0), nil))

		var ids []string
		for i := range 7 {
			role := hyponema.RoleUser
			if i%2 == 1 {
				role = hyponema.RoleAssistant
			}
			m := e.newMessage(s, role, fmt.Sprint("message ", i), t0.Add(time.Duration(i)*time.Second))
			must(t, e.messages.SaveMessage(ctx, m, nil))
			ids = append(ids, m.ID)
		}
		fetch := func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Message], error) {
			return e.messages.ListMessages(ctx, e.ws.ID, s.ID, opt)
		}
		// The transcript, oldest first, in pages of 3; and newest first.
		wantIDs(t, walk(t, 3, true, messageID, fetch), ids)
		wantIDs(t, walk(t, 2, false, messageID, fetch), reversed(ids))
		page, err := fetch(hyponema.PageOptions{Asc: true, Limit: 3})
		must(t, err)
		if page.Data[0].Text != "message 0" || !page.HasMore {
			t.Fatalf("first page %+v", page)
		}

		// Another workspace's session is not found, even by its messages.
		o := e.otherEnv(t)
		_, err = o.messages.ListMessages(ctx, o.ws.ID, s.ID, hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		_, err = e.messages.ListMessages(ctx, e.ws.ID, "ses_nope", hyponema.PageOptions{})
		wantCode(t, err, hyponema.ENOTFOUND)
		// A session without messages lists none.
		empty := e.mustSession(t, e.newSession(t0), nil)
		page, err = e.messages.ListMessages(ctx, e.ws.ID, empty.ID, hyponema.PageOptions{})
		must(t, err)
		if page.Data == nil || len(page.Data) != 0 || page.HasMore {
			t.Fatalf("empty = %+v", page)
		}

		// RecentMessages: the newest, oldest first.
		recent, err := e.messages.RecentMessages(ctx, s.ID, 3)
		must(t, err)
		var got []string
		for _, m := range recent {
			got = append(got, m.ID)
		}
		wantIDs(t, got, ids[4:])
		recent, err = e.messages.RecentMessages(ctx, s.ID, 100)
		must(t, err)
		if len(recent) != 7 || recent[0].ID != ids[0] || recent[6].ID != ids[6] {
			t.Fatalf("recent = %d messages", len(recent))
		}
		recent, err = e.messages.RecentMessages(ctx, "ses_nope", 3)
		must(t, err)
		if recent == nil || len(recent) != 0 {
			t.Fatalf("recent = %#v", recent)
		}
	})
}

// BenchmarkSaveMessage is the hot path of a streamed reply: the reply's
// text so far and a batch of 20 deltas, in one transaction, every ~100 ms
// of every running turn.
func BenchmarkSaveMessage(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		e := newSessionEnv(b, db)
		s := e.mustSession(b, e.newSession(t0), nil)
		reply := e.newMessage(s, hyponema.RoleAssistant, "", t0)
		reply.Status = hyponema.MessageIncomplete
		seq := int64(1)
		var text strings.Builder
		for b.Loop() {
			events := make([]*hyponema.SessionEvent, 20)
			for i := range events {
				seq++
				text.WriteString(" word")
				events[i] = deltaEvent(s, seq, reply.ID, " word")
			}
			m := *reply
			m.Text = text.String()
			if err := e.messages.SaveMessage(b.Context(), &m, events); err != nil {
				b.Fatal(err)
			}
			if text.Len() > 8000 { // a long reply, then the next one
				reply = e.newMessage(s, hyponema.RoleAssistant, "", t0)
				reply.Status = hyponema.MessageIncomplete
				text.Reset()
			}
		}
	})
}

// BenchmarkSaveUserMessage is the start of every turn: the user's message,
// which also moves the session's deadline, and its message.created event.
func BenchmarkSaveUserMessage(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		e := newSessionEnv(b, db)
		s := e.mustSession(b, e.newSession(t0), nil)
		seq := int64(1)
		at := t0
		for b.Loop() {
			seq++
			at = at.Add(time.Second)
			m := e.newMessage(s, hyponema.RoleUser, "What is the status of my order?", at)
			data, _ := json.Marshal(m)
			ev := &hyponema.SessionEvent{SessionID: s.ID, WorkspaceID: s.WorkspaceID, Seq: seq,
				Type: hyponema.EventMessageCreated, Data: data, CreatedAt: at}
			if err := e.messages.SaveMessage(b.Context(), m, []*hyponema.SessionEvent{ev}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSaveMessageParallel is many turns streaming at once: 100
// goroutines, each on its own session, saving the reply so far with 20
// deltas. ns/op is the store's throughput, not one call's latency.
func BenchmarkSaveMessageParallel(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		e := newSessionEnv(b, db)
		var mu sync.Mutex
		b.SetParallelism(100 / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock() // setup writes of one goroutine at a time keep SQLite's writer queue short
			s := e.mustSession(b, e.newSession(t0), nil)
			mu.Unlock()
			reply := e.newMessage(s, hyponema.RoleAssistant, "", t0)
			reply.Status = hyponema.MessageIncomplete
			seq := int64(1)
			for pb.Next() {
				events := make([]*hyponema.SessionEvent, 20)
				for i := range events {
					seq++
					events[i] = deltaEvent(s, seq, reply.ID, " word")
				}
				m := *reply
				m.Text = strings.Repeat(" word", int(seq)%1600)
				if err := e.messages.SaveMessage(b.Context(), &m, events); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestStartAndFinishTurn checks that a turn's start (claim + question) and
// finish (reply + release) are each one all-or-nothing write.
func TestStartAndFinishTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil) // event seq 1
		created := func(seq int64) []*hyponema.SessionEvent {
			return []*hyponema.SessionEvent{{SessionID: s.ID, WorkspaceID: s.WorkspaceID, Seq: seq, Type: hyponema.EventMessageCreated, Data: json.RawMessage(`{}`)}}
		}
		lease := time.Now().Add(time.Minute)

		q1 := e.newMessage(s, hyponema.RoleUser, "first", t0.Add(time.Second))
		must(t, e.messages.StartTurn(ctx, q1, created(2), "trn_one", lease))
		// Another turn cannot start, and stores nothing when it fails.
		q2 := e.newMessage(s, hyponema.RoleUser, "second", t0.Add(2*time.Second))
		wantCode(t, e.messages.StartTurn(ctx, q2, created(3), "trn_two", lease), hyponema.ECONFLICT)
		if page, _ := e.messages.ListMessages(ctx, s.WorkspaceID, s.ID, hyponema.PageOptions{Asc: true}); len(page.Data) != 1 {
			t.Fatalf("%d messages stored, want only the first turn's", len(page.Data))
		}
		if seq, _ := e.events.LastEventSeq(ctx, s.ID); seq != 2 {
			t.Fatalf("last seq %d, want 2", seq)
		}
		// Finishing releases the claim with the reply.
		reply := e.newMessage(s, hyponema.RoleAssistant, "answer", t0.Add(3*time.Second))
		must(t, e.messages.FinishTurn(ctx, reply, created(3), "trn_one"))
		must(t, e.messages.StartTurn(ctx, q2, created(4), "trn_two", lease))
		// Another workspace's session, and an ended one.
		other := e.otherEnv(t)
		q3 := e.newMessage(s, hyponema.RoleUser, "intruder", t0)
		q3.WorkspaceID = other.ws.ID
		wantCode(t, e.messages.StartTurn(ctx, q3, nil, "trn_three", lease), hyponema.ENOTFOUND)
		ended := e.mustSession(t, e.newSession(t0), nil)
		_, _, err := e.sessions.EndSession(ctx, ended.WorkspaceID, ended.ID, hyponema.EndedByAPI, t0, func(*hyponema.Session) []*hyponema.SessionEvent { return nil })
		must(t, err)
		wantCode(t, e.messages.StartTurn(ctx, e.newMessage(ended, hyponema.RoleUser, "late", t0), nil, "trn_four", lease), hyponema.ESESSIONENDED)
	})
}
