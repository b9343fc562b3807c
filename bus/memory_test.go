package bus_test

import (
	"sync"
	"testing"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/bus"
)

func TestMemoryDeliversInOrderPerSession(t *testing.T) {
	m := bus.NewMemory()
	a, b := m.Subscribe("ses_a"), m.Subscribe("ses_b")
	defer a.Close()
	defer b.Close()
	for i := int64(1); i <= 10; i++ {
		m.Publish(&hyponema.SessionEvent{SessionID: "ses_a", Seq: i})
	}
	for i := int64(1); i <= 10; i++ {
		if ev := <-a.Events(); ev.Seq != i {
			t.Fatalf("got seq %d, want %d", ev.Seq, i)
		}
	}
	select {
	case ev := <-b.Events():
		t.Fatalf("another session's event leaked: %+v", ev)
	default:
	}
}

func TestMemoryDropsSlowSubscriber(t *testing.T) {
	m := bus.NewMemory()
	slow := m.Subscribe("ses_a")
	for i := int64(1); i <= 1000; i++ {
		m.Publish(&hyponema.SessionEvent{SessionID: "ses_a", Seq: i})
	}
	n := 0
	for range slow.Events() {
		n++
	}
	if n == 0 || n >= 1000 {
		t.Fatalf("slow subscriber got %d events; want it dropped after its buffer", n)
	}
	if m.Subscribers("ses_a") != 0 {
		t.Fatal("dropped subscriber still registered")
	}
	slow.Close() // closing twice is fine
}

func TestMemoryConcurrentPublishAndClose(t *testing.T) {
	m := bus.NewMemory()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				s := m.Subscribe("ses_x")
				m.Publish(&hyponema.SessionEvent{SessionID: "ses_x"})
				s.Close()
			}
		})
	}
	wg.Wait()
	if m.Subscribers("ses_x") != 0 {
		t.Fatal("subscriptions leaked")
	}
}
