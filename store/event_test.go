package store_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

func seqs(evs []*hyponema.SessionEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, fmt.Sprint(ev.Seq))
	}
	return out
}

func seqRange(from, to int64) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func TestAppendEvents(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil) // seq 1
		other := e.mustSession(t, e.newSession(t0), nil)

		// Data comes back byte for byte: key order, spacing, escapes.
		raws := []string{
			`{"b":1,"a":[1,2]}`,
			`{ "b" : 1 ,  "a" : [ 1, 2 ] }`,
			`{"text":"caf\u00e9 \u0000 \"quoted\" é 🙂","n":1.50,"big":12345678901234567890}`,
			`"just a string"`,
			`[]`,
		}
		var batch []*hyponema.SessionEvent
		for i, raw := range raws {
			batch = append(batch, &hyponema.SessionEvent{SessionID: s.ID, WorkspaceID: e.ws.ID, Seq: int64(i + 2),
				Type: hyponema.EventMessageDelta, Data: json.RawMessage(raw), CreatedAt: t0})
		}
		must(t, e.events.AppendEvents(ctx, batch))
		must(t, e.events.AppendEvents(ctx, nil))
		evs, err := e.events.ListEvents(ctx, s.ID, 1, 0)
		must(t, err)
		wantIDs(t, seqs(evs), seqRange(2, 6))
		for i, ev := range evs {
			if string(ev.Data) != raws[i] || ev.SessionID != s.ID || ev.WorkspaceID != e.ws.ID ||
				ev.Type != hyponema.EventMessageDelta || ev.CreatedAt != t0 {
				t.Fatalf("event %d = %+v (data %s), want data %s", i, ev, ev.Data, raws[i])
			}
		}
		// No data is JSON null.
		nodata := &hyponema.SessionEvent{SessionID: s.ID, WorkspaceID: e.ws.ID, Seq: 7, Type: hyponema.EventDone}
		must(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{nodata}))
		if string(nodata.Data) != "null" || nodata.CreatedAt.IsZero() {
			t.Fatalf("stored %+v", nodata)
		}

		// A big batch, over one INSERT's rows, in order.
		batch = nil
		for seq := int64(8); seq <= 200; seq++ {
			batch = append(batch, deltaEvent(s, seq, "msg_x", fmt.Sprint(seq)))
		}
		must(t, e.events.AppendEvents(ctx, batch))
		if n, err := e.events.LastEventSeq(ctx, s.ID); err != nil || n != 200 {
			t.Fatalf("last seq = %d, %v", n, err)
		}

		// ListEvents: after N, up to limit, in order.
		evs, err = e.events.ListEvents(ctx, s.ID, 0, 3)
		must(t, err)
		wantIDs(t, seqs(evs), seqRange(1, 3))
		evs, err = e.events.ListEvents(ctx, s.ID, 100, 50)
		must(t, err)
		wantIDs(t, seqs(evs), seqRange(101, 150))
		evs, err = e.events.ListEvents(ctx, s.ID, 190, 50)
		must(t, err)
		wantIDs(t, seqs(evs), seqRange(191, 200))
		evs, err = e.events.ListEvents(ctx, s.ID, 200, 50)
		must(t, err)
		if evs == nil || len(evs) != 0 {
			t.Fatalf("after the last: %#v", evs)
		}
		evs, err = e.events.ListEvents(ctx, s.ID, 0, 0)
		must(t, err)
		if len(evs) != 200 {
			t.Fatalf("all: %d events", len(evs))
		}

		// Each session has its own sequence.
		if n, err := e.events.LastEventSeq(ctx, other.ID); err != nil || n != 1 {
			t.Fatalf("other session's last seq = %d, %v", n, err)
		}
		if n, err := e.events.LastEventSeq(ctx, "ses_nope"); err != nil || n != 0 {
			t.Fatalf("no session's last seq = %d, %v", n, err)
		}
		must(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{deltaEvent(other, 2, "msg_y", "hi")}))
	})
}

func TestAppendEventsErrors(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		e := newSessionEnv(t, db)
		s := e.mustSession(t, e.newSession(t0), nil) // seq 1

		// A taken seq conflicts, and nothing of the batch is stored: in a
		// small batch (one INSERT) and a big one (a transaction).
		wantCode(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{deltaEvent(s, 2, "m", "a"), deltaEvent(s, 1, "m", "b")}),
			hyponema.ECONFLICT)
		wantCode(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{deltaEvent(s, 2, "m", "a"), deltaEvent(s, 2, "m", "b")}),
			hyponema.ECONFLICT)
		var big []*hyponema.SessionEvent
		for seq := int64(2); seq <= 100; seq++ {
			big = append(big, deltaEvent(s, seq, "m", "x"))
		}
		big = append(big, deltaEvent(s, 50, "m", "again"))
		wantCode(t, e.events.AppendEvents(ctx, big), hyponema.ECONFLICT)
		if n, err := e.events.LastEventSeq(ctx, s.ID); err != nil || n != 1 {
			t.Fatalf("last seq = %d, %v after failed appends", n, err)
		}

		// The session must exist in the events' workspace.
		o := e.otherEnv(t)
		ev := deltaEvent(s, 2, "m", "x")
		ev.WorkspaceID = o.ws.ID
		wantCode(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{ev}), hyponema.ENOTFOUND)
		ev = deltaEvent(s, 2, "m", "x")
		ev.SessionID = "ses_nope"
		wantCode(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{ev}), hyponema.ENOTFOUND)

		// Malformed events are invalid.
		for _, mut := range []func(*hyponema.SessionEvent){
			func(ev *hyponema.SessionEvent) { ev.Data = json.RawMessage(`{"a":`) },
			func(ev *hyponema.SessionEvent) { ev.Data = json.RawMessage("\"\xff\"") },
			func(ev *hyponema.SessionEvent) { ev.Seq = 0 },
			func(ev *hyponema.SessionEvent) { ev.Type = "" },
			func(ev *hyponema.SessionEvent) { ev.SessionID = "" },
		} {
			ev := deltaEvent(s, 2, "m", "x")
			mut(ev)
			wantCode(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{ev}), hyponema.EINVALID)
		}
		must(t, e.events.AppendEvents(ctx, []*hyponema.SessionEvent{deltaEvent(s, 2, "m", "x")}))
	})
}

// BenchmarkAppendEvents appends batches of 20 deltas, what a streaming
// reply without new text to save flushes every ~100 ms.
func BenchmarkAppendEvents(b *testing.B) {
	forEachDialectBench(b, func(b *testing.B, db *store.DB) {
		e := newSessionEnv(b, db)
		s := e.mustSession(b, e.newSession(t0), nil)
		seq := int64(1)
		for b.Loop() {
			events := make([]*hyponema.SessionEvent, 20)
			for i := range events {
				seq++
				events[i] = deltaEvent(s, seq, "msg_01jf0000000000000000000000", " word")
			}
			if err := e.events.AppendEvents(b.Context(), events); err != nil {
				b.Fatal(err)
			}
		}
	})
}
