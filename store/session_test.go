package store_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// sessionEnv is a workspace with an agent and a version for sessions to run.
type sessionEnv struct {
	db      *store.DB
	ws      *hyponema.Workspace
	agent   *hyponema.Agent
	version *hyponema.AgentVersion

	sessions *store.SessionService
	messages *store.MessageService
	events   *store.EventService
}

func newSessionEnv(t testing.TB, db *store.DB) *sessionEnv {
	t.Helper()
	ws := mustWorkspace(t, db)
	a := mustAgent(t, db, ws.ID, hyponema.AgentConfig{})
	v, err := store.NewAgentService(db).CreateAgentVersion(t.Context(), ws.ID, a.ID, "")
	must(t, err)
	return &sessionEnv{db: db, ws: ws, agent: a, version: v, sessions: store.NewSessionService(db),
		messages: store.NewMessageService(db), events: store.NewEventService(db)}
}

// otherEnv is a second workspace on the same database.
func (e *sessionEnv) otherEnv(t testing.TB) *sessionEnv { return newSessionEnv(t, e.db) }

// t0 is a fixed time with microseconds, as the store keeps them.
var t0 = time.Date(2026, 11, 29, 6, 36, 28, 123456000, time.UTC)

// newSession returns a session as the engine builds one, created at t.
func (e *sessionEnv) newSession(t time.Time) *hyponema.Session {
	return &hyponema.Session{
		ID: hyponema.NewID(hyponema.PrefixSession), WorkspaceID: e.ws.ID, AgentID: e.agent.ID,
		AgentVersionID: e.version.ID, Channel: hyponema.ChannelChat, Status: hyponema.SessionActive,
		Variables: map[string]string{"name": "Ada"}, Metadata: map[string]string{"order": "42"},
		CreatedAt: t, LastActivityAt: t,
		InactivityTimeoutSeconds: hyponema.DefaultInactivityTimeoutSeconds,
		MaxDurationSeconds:       hyponema.DefaultMaxDurationSeconds,
	}
}

// sessionCreated is an events callback that logs session.created as seq 1.
func sessionCreated(s *hyponema.Session) []*hyponema.SessionEvent {
	data, _ := json.Marshal(s)
	return []*hyponema.SessionEvent{{SessionID: s.ID, WorkspaceID: s.WorkspaceID, Seq: 1,
		Type: hyponema.EventSessionCreated, Data: data, CreatedAt: s.CreatedAt}}
}

func (e *sessionEnv) mustSession(t testing.TB, s *hyponema.Session, user *hyponema.EndUser) *hyponema.Session {
	t.Helper()
	must(t, e.sessions.CreateSession(t.Context(), s, user, nil, sessionCreated))
	return s
}

// wantSession compares every field, times exactly (they are rounded as the
// store keeps them, so a read equals what a write returned).
func wantSession(t testing.TB, got, want *hyponema.Session) {
	t.Helper()
	g, w := *got, *want
	ge, we := g.EndedAt, w.EndedAt
	g.EndedAt, w.EndedAt = nil, nil
	if fmt.Sprintf("%#v", g) != fmt.Sprintf("%#v", w) || (ge == nil) != (we == nil) || (ge != nil && *ge != *we) {
		t.Fatalf("session =\n%+v\nwant\n%+v", got, want)
	}
}

func sessionID(s *hyponema.Session) string { return s.ID }

func TestSessionCreateFindList(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)

		// The first message and the events are stored with the session.
		s := e.newSession(t0.Add(time.Nanosecond * 999)) // rounded to the microsecond
		first := &hyponema.Message{ID: hyponema.NewID(hyponema.PrefixMessage), Role: hyponema.RoleAssistant,
			Text: "Hello Ada!", Status: hyponema.MessageComplete, CreatedAt: t0}
		must(t, e.sessions.CreateSession(ctx, s, nil, []*hyponema.Message{first}, sessionCreated))
		if !s.CreatedAt.Equal(t0) || s.CreatedAt != t0 {
			t.Fatalf("created_at = %v, want %v", s.CreatedAt, t0)
		}
		got, err := e.sessions.FindSession(ctx, e.ws.ID, s.ID)
		must(t, err)
		wantSession(t, got, s)
		if got.Status != hyponema.SessionActive || got.EndedAt != nil || got.EndedReason != "" || got.UserID != "" ||
			got.Variables["name"] != "Ada" || got.Metadata["order"] != "42" {
			t.Fatalf("stored %+v", got)
		}
		msgs, err := e.messages.ListMessages(ctx, e.ws.ID, s.ID, hyponema.PageOptions{Asc: true})
		must(t, err)
		if len(msgs.Data) != 1 || msgs.Data[0].Text != "Hello Ada!" || msgs.Data[0].SessionID != s.ID ||
			msgs.Data[0].WorkspaceID != e.ws.ID {
			t.Fatalf("messages = %+v", msgs.Data)
		}
		evs, err := e.events.ListEvents(ctx, s.ID, 0, 0)
		must(t, err)
		if len(evs) != 1 || evs[0].Type != hyponema.EventSessionCreated || evs[0].Seq != 1 {
			t.Fatalf("events = %+v", evs)
		}

		// Nil maps are stored, and read, as empty ones.
		bare := e.newSession(t0)
		bare.Variables, bare.Metadata = nil, nil
		must(t, e.sessions.CreateSession(ctx, bare, nil, nil, nil))
		got, err = e.sessions.FindSession(ctx, e.ws.ID, bare.ID)
		must(t, err)
		if got.Variables == nil || got.Metadata == nil || len(got.Variables)+len(got.Metadata) != 0 {
			t.Fatalf("maps = %#v %#v", got.Variables, got.Metadata)
		}

		// Lists: newest first by default, oldest first on request, paged.
		var ids []string
		for range 5 {
			ids = append(ids, e.mustSession(t, e.newSession(t0), nil).ID)
		}
		all := append([]string{s.ID, bare.ID}, ids...)
		list := func(f hyponema.SessionFilter) func(hyponema.PageOptions) (hyponema.Page[*hyponema.Session], error) {
			return func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Session], error) {
				return e.sessions.ListSessions(ctx, e.ws.ID, f, opt)
			}
		}
		wantIDs(t, walk(t, 2, false, sessionID, list(hyponema.SessionFilter{})), reversed(all))
		wantIDs(t, walk(t, 3, true, sessionID, list(hyponema.SessionFilter{})), all)
		page, err := e.sessions.ListSessions(ctx, e.ws.ID, hyponema.SessionFilter{}, hyponema.PageOptions{Limit: 1})
		must(t, err)
		wantSession(t, page.Data[0], e.mustFind(t, ids[4]))

		// Another workspace sees none of it.
		o := e.otherEnv(t)
		_, err = o.sessions.FindSession(ctx, o.ws.ID, s.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		wantIDs(t, walk(t, 10, false, sessionID, func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Session], error) {
			return o.sessions.ListSessions(ctx, o.ws.ID, hyponema.SessionFilter{}, opt)
		}), nil)
		_, err = e.sessions.FindSession(ctx, e.ws.ID, "ses_nope")
		wantCode(t, err, hyponema.ENOTFOUND)

		_, err = e.sessions.ListSessions(ctx, e.ws.ID, hyponema.SessionFilter{Status: "paused"}, hyponema.PageOptions{})
		wantField(t, err, "enum", "query", "status")
		_, err = e.sessions.ListSessions(ctx, e.ws.ID, hyponema.SessionFilter{}, hyponema.PageOptions{Cursor: "!!"})
		wantCode(t, err, hyponema.EINVALID)
	})
}

func (e *sessionEnv) mustFind(t testing.TB, id string) *hyponema.Session {
	t.Helper()
	s, err := e.sessions.FindSession(t.Context(), e.ws.ID, id)
	must(t, err)
	return s
}

func TestSessionFilters(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		a2 := mustAgent(t, db, e.ws.ID, hyponema.AgentConfig{Name: "Sales"})
		v2, err := store.NewAgentService(db).CreateAgentVersion(ctx, e.ws.ID, a2.ID, "")
		must(t, err)

		s1 := e.mustSession(t, e.newSession(t0), &hyponema.EndUser{ExternalID: "u1"})
		s2 := e.newSession(t0)
		s2.AgentID, s2.AgentVersionID = a2.ID, v2.ID
		e.mustSession(t, s2, &hyponema.EndUser{ExternalID: "u2"})
		s3 := e.mustSession(t, e.newSession(t0), &hyponema.EndUser{ExternalID: "u1"})
		s4 := e.mustSession(t, e.newSession(t0), nil)
		_, ended, err := e.sessions.EndSession(ctx, e.ws.ID, s3.ID, hyponema.EndedByAPI, t0.Add(time.Minute), nil)
		must(t, err)
		if !ended {
			t.Fatal("not ended")
		}

		ids := func(f hyponema.SessionFilter) []string {
			return walk(t, 50, true, sessionID, func(opt hyponema.PageOptions) (hyponema.Page[*hyponema.Session], error) {
				return e.sessions.ListSessions(ctx, e.ws.ID, f, opt)
			})
		}
		wantIDs(t, ids(hyponema.SessionFilter{AgentID: e.agent.ID}), []string{s1.ID, s3.ID, s4.ID})
		wantIDs(t, ids(hyponema.SessionFilter{AgentID: a2.ID}), []string{s2.ID})
		wantIDs(t, ids(hyponema.SessionFilter{Status: hyponema.SessionActive}), []string{s1.ID, s2.ID, s4.ID})
		wantIDs(t, ids(hyponema.SessionFilter{Status: hyponema.SessionEnded}), []string{s3.ID})
		wantIDs(t, ids(hyponema.SessionFilter{UserID: s1.UserID}), []string{s1.ID, s3.ID})
		wantIDs(t, ids(hyponema.SessionFilter{UserID: s1.UserID, Status: hyponema.SessionActive}), []string{s1.ID})
		wantIDs(t, ids(hyponema.SessionFilter{AgentID: a2.ID, UserID: s1.UserID}), nil)

		// The filters never reach into another workspace.
		o := e.otherEnv(t)
		page, err := o.sessions.ListSessions(ctx, o.ws.ID, hyponema.SessionFilter{AgentID: e.agent.ID}, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 0 {
			t.Fatalf("other workspace lists %d sessions", len(page.Data))
		}
		page, err = o.sessions.ListSessions(ctx, o.ws.ID, hyponema.SessionFilter{UserID: s1.UserID}, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 0 {
			t.Fatalf("other workspace lists %d sessions", len(page.Data))
		}
	})
}

func TestSessionCreateErrors(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		o := e.otherEnv(t)

		s := e.newSession(t0)
		s.Channel = "fax"
		wantField(t, e.sessions.CreateSession(ctx, s, nil, nil, nil), "enum", "body", "channel")
		s = e.newSession(t0)
		s.Metadata = map[string]string{"k": "a\x00b"}
		wantCode(t, e.sessions.CreateSession(ctx, s, nil, nil, nil), hyponema.EINVALID)
		wantCode(t, e.sessions.CreateSession(ctx, e.newSession(t0), &hyponema.EndUser{}, nil, nil), hyponema.EINVALID)
		s = e.newSession(t0)
		s.Status = hyponema.SessionEnded
		wantCode(t, e.sessions.CreateSession(ctx, s, nil, nil, nil), hyponema.EINVALID)

		// A workspace that does not exist is ENOTFOUND.
		s = e.newSession(t0)
		s.WorkspaceID = "ws_01jf0000000000000000000000"
		wantCode(t, e.sessions.CreateSession(ctx, s, &hyponema.EndUser{ExternalID: "x"}, nil, nil), hyponema.ENOTFOUND)

		// Another workspace's agent version, or another agent's, is invalid.
		s = o.newSession(t0)
		s.AgentID, s.AgentVersionID = e.agent.ID, e.version.ID
		wantField(t, o.sessions.CreateSession(ctx, s, nil, nil, nil), "invalid", "body", "agent_version_id")
		s = e.newSession(t0)
		s.AgentVersionID = "agv_01jf0000000000000000000000"
		wantField(t, e.sessions.CreateSession(ctx, s, nil, nil, nil), "invalid", "body", "agent_version_id")

		// A user ID of another workspace is invalid.
		u := e.mustSession(t, e.newSession(t0), &hyponema.EndUser{ExternalID: "u"}).UserID
		s = o.newSession(t0)
		s.UserID = u
		wantField(t, o.sessions.CreateSession(ctx, s, nil, nil, nil), "invalid", "body", "user_id")

		// The same session ID twice is a conflict, and nothing of the
		// second attempt is stored.
		s = e.mustSession(t, e.newSession(t0), nil)
		dup := e.newSession(t0)
		dup.ID = s.ID
		wantCode(t, e.sessions.CreateSession(ctx, dup, &hyponema.EndUser{ExternalID: "only-in-dup"}, nil, nil), hyponema.ECONFLICT)
		page, err := e.sessions.ListSessions(ctx, e.ws.ID, hyponema.SessionFilter{}, hyponema.PageOptions{})
		must(t, err)
		if len(page.Data) != 2 {
			t.Fatalf("%d sessions", len(page.Data))
		}

		// Events that clash roll the whole creation back.
		s = e.newSession(t0)
		err = e.sessions.CreateSession(ctx, s, nil, nil, func(s *hyponema.Session) []*hyponema.SessionEvent {
			ev := sessionCreated(s)
			return append(ev, ev[0])
		})
		wantCode(t, err, hyponema.ECONFLICT)
		_, err = e.sessions.FindSession(ctx, e.ws.ID, s.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
	})
}

func TestEndUserUpsert(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)

		u1 := &hyponema.EndUser{ID: hyponema.NewID(hyponema.PrefixEndUser), ExternalID: "cust-1", Name: "Ada",
			Metadata: map[string]string{"plan": "pro"}, CreatedAt: t0}
		var seen string
		s1 := e.newSession(t0)
		must(t, e.sessions.CreateSession(ctx, s1, u1, nil, func(s *hyponema.Session) []*hyponema.SessionEvent {
			seen = s.UserID // the events see the stored user
			return sessionCreated(s)
		}))
		if s1.UserID != u1.ID || seen != u1.ID || u1.WorkspaceID != e.ws.ID {
			t.Fatalf("session user %q, events saw %q, user %+v", s1.UserID, seen, u1)
		}

		// The same external ID finds the same user; empty fields keep theirs.
		u2 := &hyponema.EndUser{ID: hyponema.NewID(hyponema.PrefixEndUser), ExternalID: "cust-1", CreatedAt: t0.Add(time.Hour)}
		s2 := e.mustSession(t, e.newSession(t0), u2)
		if s2.UserID != u1.ID || u2.ID != u1.ID || u2.Name != "Ada" || u2.Metadata["plan"] != "pro" || !u2.CreatedAt.Equal(t0) {
			t.Fatalf("second session's user = %+v (session user %s), want %s", u2, s2.UserID, u1.ID)
		}
		// New values replace old ones.
		u3 := &hyponema.EndUser{ExternalID: "cust-1", Name: "Ada L.", Metadata: map[string]string{"plan": "team"}}
		s3 := e.mustSession(t, e.newSession(t0), u3)
		if s3.UserID != u1.ID || u3.Name != "Ada L." || !maps.Equal(u3.Metadata, map[string]string{"plan": "team"}) {
			t.Fatalf("third user = %+v", u3)
		}
		u4 := &hyponema.EndUser{ExternalID: "cust-1", Metadata: map[string]string{}}
		e.mustSession(t, e.newSession(t0), u4)
		if u4.Name != "Ada L." || u4.Metadata["plan"] != "team" {
			t.Fatalf("fourth user = %+v", u4)
		}

		// Another external ID is another user.
		other := e.mustSession(t, e.newSession(t0), &hyponema.EndUser{ExternalID: "cust-2"})
		if other.UserID == "" || other.UserID == u1.ID {
			t.Fatalf("cust-2 got user %q", other.UserID)
		}
		// Another workspace with the same external ID gets its own user.
		o := e.otherEnv(t)
		ou := &hyponema.EndUser{ExternalID: "cust-1", Name: "Someone else"}
		os := o.mustSession(t, o.newSession(t0), ou)
		if os.UserID == u1.ID || ou.WorkspaceID != o.ws.ID {
			t.Fatalf("other workspace reused user %s", os.UserID)
		}
		// …and the first workspace's user kept its name.
		e.mustSession(t, e.newSession(t0), u4)
		if u4.Name != "Ada L." {
			t.Fatalf("name = %q", u4.Name)
		}

		// Many sessions naming one new user at once all get the same one.
		var wg sync.WaitGroup
		ids := make([]string, 10)
		errs := make([]error, 10)
		for i := range ids {
			wg.Go(func() {
				s := e.newSession(t0)
				errs[i] = e.sessions.CreateSession(ctx, s, &hyponema.EndUser{ID: hyponema.NewID(hyponema.PrefixEndUser), ExternalID: "race"}, nil, nil)
				ids[i] = s.UserID
			})
		}
		wg.Wait()
		for i := range ids {
			must(t, errs[i])
			if ids[i] != ids[0] {
				t.Fatalf("concurrent creations got users %v", ids)
			}
		}
	})
}

func TestEndSession(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil)
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, "trn_a", time.Now().Add(time.Minute)))

		endedEvent := func(s *hyponema.Session) []*hyponema.SessionEvent {
			if s.Status != hyponema.SessionEnded || s.EndedAt == nil {
				t.Errorf("events built from %+v", s)
			}
			data, _ := json.Marshal(s)
			return []*hyponema.SessionEvent{{SessionID: s.ID, WorkspaceID: s.WorkspaceID, Seq: 2,
				Type: hyponema.EventSessionEnded, Data: data, CreatedAt: *s.EndedAt}}
		}
		// Another workspace cannot end it.
		o := e.otherEnv(t)
		_, _, err := o.sessions.EndSession(ctx, o.ws.ID, s.ID, hyponema.EndedByAPI, t0, endedEvent)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, _, err = e.sessions.EndSession(ctx, e.ws.ID, "ses_nope", hyponema.EndedByAPI, t0, endedEvent)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, _, err = e.sessions.EndSession(ctx, e.ws.ID, s.ID, "", t0, endedEvent)
		wantCode(t, err, hyponema.EINVALID)

		at := t0.Add(time.Minute)
		got, ended, err := e.sessions.EndSession(ctx, e.ws.ID, s.ID, hyponema.EndedByClient, at, endedEvent)
		must(t, err)
		if !ended || got.Status != hyponema.SessionEnded || got.EndedReason != hyponema.EndedByClient ||
			got.EndedAt == nil || !got.EndedAt.Equal(at) {
			t.Fatalf("ended = %v, %+v", ended, got)
		}
		wantSession(t, e.mustFind(t, s.ID), got)

		// Again: returned unchanged, no events.
		again, ended, err := e.sessions.EndSession(ctx, e.ws.ID, s.ID, hyponema.EndedByAPI, at.Add(time.Hour),
			func(*hyponema.Session) []*hyponema.SessionEvent {
				t.Error("events called for an ended session")
				return nil
			})
		must(t, err)
		if ended {
			t.Fatal("ended twice")
		}
		wantSession(t, again, got)
		evs, err := e.events.ListEvents(ctx, s.ID, 0, 0)
		must(t, err)
		if len(evs) != 2 || evs[1].Type != hyponema.EventSessionEnded {
			t.Fatalf("events = %+v", evs)
		}

		// The claim is gone, and no turn may start.
		wantCode(t, e.sessions.RenewTurn(ctx, s.ID, "trn_a", time.Now().Add(time.Minute)), hyponema.ECONFLICT)
		wantCode(t, e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, "trn_b", time.Now().Add(time.Minute)), hyponema.ESESSIONENDED)

		// Concurrent ends: one wins, one event.
		s = e.mustSession(t, e.newSession(t0), nil)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 10 {
			wg.Go(func() {
				_, ended, err := e.sessions.EndSession(ctx, e.ws.ID, s.ID, hyponema.EndedByAPI, at, endedEvent)
				if err != nil {
					t.Error(err)
				}
				if ended {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d calls ended the session", wins)
		}
		if n, err := e.events.LastEventSeq(ctx, s.ID); err != nil || n != 2 {
			t.Fatalf("last seq = %d, %v", n, err)
		}
	})
}

func TestListExpiredSessions(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		sec := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
		expired := func(at time.Time, limit int) []string {
			t.Helper()
			ss, err := e.sessions.ListExpiredSessions(ctx, at, limit)
			must(t, err)
			var ids []string
			for _, s := range ss {
				ids = append(ids, s.ID)
			}
			return ids
		}

		// idle: 10 s of inactivity, 1000 s at most; long: 60 s idle, 30 s at most.
		idle := e.newSession(sec(0))
		idle.InactivityTimeoutSeconds, idle.MaxDurationSeconds = 10, 1000
		e.mustSession(t, idle, nil)
		long := e.newSession(sec(0))
		long.InactivityTimeoutSeconds, long.MaxDurationSeconds = 60, 30
		e.mustSession(t, long, nil)
		// busy is like idle but talks at 8 s and 16 s.
		busy := e.newSession(sec(0))
		busy.InactivityTimeoutSeconds, busy.MaxDurationSeconds = 10, 1000
		e.mustSession(t, busy, nil)
		// Another workspace's sessions are swept too: the sweeper is global.
		o := e.otherEnv(t)
		foreign := o.newSession(sec(0))
		foreign.InactivityTimeoutSeconds, foreign.MaxDurationSeconds = 10, 1000
		o.mustSession(t, foreign, nil)

		say := func(s *hyponema.Session, role string, at time.Time) {
			t.Helper()
			must(t, e.messages.SaveMessage(ctx, &hyponema.Message{ID: hyponema.NewID(hyponema.PrefixMessage),
				WorkspaceID: s.WorkspaceID, SessionID: s.ID, Role: role, Text: "hi", Status: hyponema.MessageComplete,
				CreatedAt: at}, nil))
		}
		say(busy, hyponema.RoleUser, sec(8))
		// The assistant's messages do not count as the user's activity.
		say(idle, hyponema.RoleAssistant, sec(9))

		wantIDs(t, expired(sec(5), 10), nil)
		wantIDs(t, expired(sec(10), 10), nil) // at the deadline, not yet past it
		wantIDs(t, expired(sec(11), 10), []string{idle.ID, foreign.ID})
		wantIDs(t, expired(sec(11), 1), []string{idle.ID})
		say(busy, hyponema.RoleUser, sec(16))
		// An older user message does not move activity back.
		say(busy, hyponema.RoleUser, sec(3))
		if got := e.mustFind(t, busy.ID).LastActivityAt; !got.Equal(sec(16)) {
			t.Fatalf("last activity = %v", got)
		}
		wantIDs(t, expired(sec(25), 10), []string{idle.ID, foreign.ID})
		// Max duration: long ends at 30 s although it was never idle long enough.
		wantIDs(t, expired(sec(31), 10), []string{idle.ID, foreign.ID, busy.ID, long.ID})

		// Ended sessions are not expired any more.
		_, _, err := e.sessions.EndSession(ctx, e.ws.ID, idle.ID, hyponema.EndedByTimeout, sec(11), nil)
		must(t, err)
		_, _, err = o.sessions.EndSession(ctx, o.ws.ID, foreign.ID, hyponema.EndedByTimeout, sec(11), nil)
		must(t, err)
		wantIDs(t, expired(sec(31), 10), []string{busy.ID, long.ID})
		wantIDs(t, expired(sec(10_000), 10), []string{busy.ID, long.ID})
	})
}

func TestClaimTurn(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil)
		lease := func(d time.Duration) time.Time { return time.Now().Add(d) }

		// 20 concurrent claims: exactly one wins, the others conflict.
		const n = 20
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				errs[i] = e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, fmt.Sprintf("trn_%d", i), lease(time.Minute))
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch hyponema.ErrorCode(err) {
			case "":
				if winner >= 0 {
					t.Fatalf("claims %d and %d both won", winner, i)
				}
				winner = i
			case hyponema.ECONFLICT:
				if msg := hyponema.ErrorMessage(err); msg != "a reply is already being generated in this session" {
					t.Fatalf("message %q", msg)
				}
			default:
				t.Fatalf("claim %d: %v", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no claim won")
		}
		holder := fmt.Sprintf("trn_%d", winner)

		// The holder may claim again (idempotent) and renew; others may not.
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, holder, lease(time.Minute)))
		must(t, e.sessions.RenewTurn(ctx, s.ID, holder, lease(2*time.Minute)))
		wantCode(t, e.sessions.RenewTurn(ctx, s.ID, "trn_other", lease(time.Minute)), hyponema.ECONFLICT)

		// Releasing someone else's claim changes nothing.
		must(t, e.sessions.ReleaseTurn(ctx, s.ID, "trn_other"))
		wantCode(t, e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, "trn_other", lease(time.Minute)), hyponema.ECONFLICT)
		// The holder's release frees the session.
		must(t, e.sessions.ReleaseTurn(ctx, s.ID, holder))
		must(t, e.sessions.ReleaseTurn(ctx, s.ID, holder)) // twice is fine
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, "trn_next", lease(-time.Second)))

		// A lease that ran out may be taken over; the old turn then lost it.
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, s.ID, "trn_takeover", lease(time.Minute)))
		wantCode(t, e.sessions.RenewTurn(ctx, s.ID, "trn_next", lease(time.Minute)), hyponema.ECONFLICT)

		// Missing and other workspaces' sessions are not found.
		wantCode(t, e.sessions.ClaimTurn(ctx, e.ws.ID, "ses_nope", "trn_x", lease(time.Minute)), hyponema.ENOTFOUND)
		o := e.otherEnv(t)
		wantCode(t, o.sessions.ClaimTurn(ctx, o.ws.ID, s.ID, "trn_x", lease(time.Minute)), hyponema.ENOTFOUND)
		free := e.mustSession(t, e.newSession(t0), nil)
		wantCode(t, o.sessions.ClaimTurn(ctx, o.ws.ID, free.ID, "trn_x", lease(time.Minute)), hyponema.ENOTFOUND)

		// An ended session cannot be claimed.
		_, _, err := e.sessions.EndSession(ctx, e.ws.ID, free.ID, hyponema.EndedByAPI, t0, nil)
		must(t, err)
		err = e.sessions.ClaimTurn(ctx, e.ws.ID, free.ID, "trn_x", lease(time.Minute))
		wantCode(t, err, hyponema.ESESSIONENDED)
		if msg := hyponema.ErrorMessage(err); msg != "the session has ended" {
			t.Fatalf("message %q", msg)
		}
	})
}

func TestReleaseExpiredTurns(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		o := e.otherEnv(t)
		now := time.Now()
		a := e.mustSession(t, e.newSession(t0), nil)
		b := e.mustSession(t, e.newSession(t0), nil)
		c := o.mustSession(t, o.newSession(t0), nil)
		e.mustSession(t, e.newSession(t0), nil) // never claimed
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, a.ID, "trn_a", now.Add(10*time.Second)))
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, b.ID, "trn_b", now.Add(time.Hour)))
		must(t, o.sessions.ClaimTurn(ctx, o.ws.ID, c.ID, "trn_c", now.Add(20*time.Second)))

		got, err := e.sessions.ReleaseExpiredTurns(ctx, now)
		must(t, err)
		wantIDs(t, got, []string{})
		got, err = e.sessions.ReleaseExpiredTurns(ctx, now.Add(time.Minute))
		must(t, err)
		slices.Sort(got)
		want := []string{a.ID, c.ID}
		slices.Sort(want)
		wantIDs(t, got, want)
		got, err = e.sessions.ReleaseExpiredTurns(ctx, now.Add(time.Minute))
		must(t, err)
		wantIDs(t, got, []string{})

		// Released sessions are free again; the live claim stays.
		must(t, e.sessions.ClaimTurn(ctx, e.ws.ID, a.ID, "trn_a2", now.Add(time.Minute)))
		wantCode(t, e.sessions.RenewTurn(ctx, a.ID, "trn_a", now.Add(time.Minute)), hyponema.ECONFLICT)
		wantCode(t, e.sessions.ClaimTurn(ctx, e.ws.ID, b.ID, "trn_b2", now.Add(time.Minute)), hyponema.ECONFLICT)
	})
}

func TestTransferSession(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil)
		b := mustAgent(t, db, e.ws.ID, hyponema.AgentConfig{})
		bv, err := store.NewAgentService(db).CreateAgentVersion(ctx, e.ws.ID, b.ID, "")
		must(t, err)
		got, err := e.sessions.TransferSession(ctx, e.ws.ID, s.ID, b.ID, bv.ID)
		must(t, err)
		if got.AgentID != b.ID || got.AgentVersionID != bv.ID {
			t.Fatalf("transferred %+v", got)
		}
		found := e.mustFind(t, s.ID)
		if found.AgentID != b.ID || found.AgentVersionID != bv.ID {
			t.Errorf("stored %+v", found)
		}
		// A version of another agent, or of another workspace: refused.
		_, err = e.sessions.TransferSession(ctx, e.ws.ID, s.ID, b.ID, e.version.ID)
		wantCode(t, err, hyponema.EINVALID)
		other := e.otherEnv(t)
		_, err = e.sessions.TransferSession(ctx, e.ws.ID, s.ID, other.agent.ID, other.version.ID)
		if err == nil {
			t.Error("transferred to another workspace's agent")
		}
		_, err = e.sessions.TransferSession(ctx, other.ws.ID, s.ID, other.agent.ID, other.version.ID)
		wantCode(t, err, hyponema.ENOTFOUND)
		_, _, err = e.sessions.EndSession(ctx, e.ws.ID, s.ID, hyponema.EndedByAPI, t0, nil)
		must(t, err)
		_, err = e.sessions.TransferSession(ctx, e.ws.ID, s.ID, b.ID, bv.ID)
		wantCode(t, err, hyponema.ESESSIONENDED)
	})
}
