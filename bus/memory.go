// Package bus carries session events between the code that makes them and
// the streams that follow them. Memory is the in-process bus of a single
// server.
package bus

import (
	"sync"

	"github.com/hyponema/hyponema"
)

// subscriptionBuffer is how many events a follower may be behind before it
// is dropped; a dropped follower replays from the store.
const subscriptionBuffer = 256

// Memory is an in-process hyponema.EventBus.
type Memory struct {
	mu   sync.RWMutex
	subs map[string]map[*subscription]struct{}
}

var _ hyponema.EventBus = (*Memory)(nil)

// NewMemory returns an empty bus.
func NewMemory() *Memory {
	return &Memory{subs: map[string]map[*subscription]struct{}{}}
}

// Publish implements hyponema.EventBus. It never blocks: a subscriber whose
// buffer is full is dropped rather than slowing the turn down.
func (m *Memory) Publish(ev *hyponema.SessionEvent) {
	m.mu.RLock()
	var lagged []*subscription
	for s := range m.subs[ev.SessionID] {
		select {
		case s.c <- ev:
		default:
			lagged = append(lagged, s)
		}
	}
	m.mu.RUnlock()
	for _, s := range lagged {
		s.Close()
	}
}

// Subscribe implements hyponema.EventBus.
func (m *Memory) Subscribe(sessionID string) hyponema.Subscription {
	s := &subscription{m: m, sessionID: sessionID, c: make(chan *hyponema.SessionEvent, subscriptionBuffer)}
	m.mu.Lock()
	set := m.subs[sessionID]
	if set == nil {
		set = map[*subscription]struct{}{}
		m.subs[sessionID] = set
	}
	set[s] = struct{}{}
	m.mu.Unlock()
	return s
}

// Subscribers returns how many followers a session has (for tests and metrics).
func (m *Memory) Subscribers(sessionID string) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.subs[sessionID])
}

type subscription struct {
	m         *Memory
	sessionID string
	c         chan *hyponema.SessionEvent
	once      sync.Once
}

func (s *subscription) Events() <-chan *hyponema.SessionEvent { return s.c }

// Close removes the subscription and closes its channel, once. It takes
// the write lock, so no Publish is sending on the channel meanwhile.
func (s *subscription) Close() {
	s.once.Do(func() {
		s.m.mu.Lock()
		if set := s.m.subs[s.sessionID]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(s.m.subs, s.sessionID)
			}
		}
		close(s.c)
		s.m.mu.Unlock()
	})
}
