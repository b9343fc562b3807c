package conversation

import (
	"context"

	"github.com/hyponema/hyponema"
)

// replayPage is how many stored events a follower reads at a time.
const replayPage = 500

// Follow sends the session's events with seq greater than after to send, in
// order and without gaps or repeats: first those already stored, then live
// ones as they are published. It returns nil once stop reports true for a
// sent event, or the error of send or ctx. Events published but not yet
// stored (a running turn's deltas) are stored first, so a follower that
// joins mid-turn misses nothing.
func (e *Engine) Follow(ctx context.Context, sessionID string, after int64, send func(*hyponema.SessionEvent) error, stop func(*hyponema.SessionEvent) bool) error {
	last := after
	// deliver sends one event unless it was sent already; it reports
	// whether the stream is over.
	deliver := func(ev *hyponema.SessionEvent) (bool, error) {
		if ev.Seq <= last {
			return false, nil
		}
		if err := send(ev); err != nil {
			return true, err
		}
		last = ev.Seq
		return stop != nil && stop(ev), nil
	}
	for {
		// Subscribe before reading the store: anything published from now
		// on arrives on the subscription, anything before is stored.
		sub := e.Bus.Subscribe(sessionID)
		done, err := e.replay(ctx, sessionID, &last, deliver)
		if done || err != nil {
			sub.Close()
			return err
		}
		done, lagged, err := e.live(ctx, sub, &last, deliver)
		sub.Close()
		if done || err != nil || !lagged {
			return err
		}
		// The follower fell behind and was dropped: catch up from the store.
	}
}

// replay sends the stored events after *last.
func (e *Engine) replay(ctx context.Context, sessionID string, last *int64, deliver func(*hyponema.SessionEvent) (bool, error)) (bool, error) {
	if err := e.FlushSession(ctx, sessionID); err != nil {
		return false, err
	}
	for {
		evs, err := e.Events.ListEvents(ctx, sessionID, *last, replayPage)
		if err != nil {
			return false, err
		}
		for _, ev := range evs {
			if done, err := deliver(ev); done || err != nil {
				return done, err
			}
		}
		if len(evs) < replayPage {
			return false, nil
		}
	}
}

// live sends published events until stop, ctx ends, or the subscription is
// dropped (lagged). An event past a gap means the follower missed some:
// they are read back from the store first.
func (e *Engine) live(ctx context.Context, sub hyponema.Subscription, last *int64, deliver func(*hyponema.SessionEvent) (bool, error)) (done, lagged bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return true, false, ctx.Err()
		case ev, ok := <-sub.Events():
			if !ok {
				return false, true, nil
			}
			if ev.Seq > *last+1 {
				if done, err := e.replay(ctx, ev.SessionID, last, deliver); done || err != nil {
					return done, false, err
				}
			}
			if done, err := deliver(ev); done || err != nil {
				return done, false, err
			}
		}
	}
}
