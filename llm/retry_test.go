package llm_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/llmtest"
)

// scripted is an LLM whose attempts go as told: an error from StreamChat,
// an error or a hang instead of the first chunk, or a reply. It counts
// the streams it opened and closed. (The vendor providers' retries are
// tested over HTTP in their packages; this tests WithRetry's own rules.)
type scripted struct {
	mu       sync.Mutex
	attempts []attempt
	calls    int
	opened   atomic.Int64
	closed   atomic.Int64
}

type attempt struct {
	startErr error // returned by StreamChat
	firstErr error // returned by the first Next
	hang     bool  // the first Next waits for the context
	chunks   []string
	then     error // given after the chunks instead of io.EOF
	thenWait bool  // wait for the context before giving then
}

func (s *scripted) StreamChat(ctx context.Context, req *hyponema.ChatRequest) (hyponema.ChatStream, error) {
	s.mu.Lock()
	a := s.attempts[min(s.calls, len(s.attempts)-1)]
	s.calls++
	s.mu.Unlock()
	if a.startErr != nil {
		return nil, a.startErr
	}
	s.opened.Add(1)
	return &scriptedStream{s: s, a: a, ctx: ctx}, nil
}

type scriptedStream struct {
	s      *scripted
	a      attempt
	ctx    context.Context
	n      int
	closed atomic.Bool
}

func (st *scriptedStream) Next() (hyponema.ChatChunk, error) {
	if st.n == 0 && st.a.hang {
		<-st.ctx.Done()
		return hyponema.ChatChunk{}, &hyponema.ProviderError{Provider: "scripted", Message: "cancelled", Err: st.ctx.Err()}
	}
	if st.n == 0 && st.a.firstErr != nil {
		return hyponema.ChatChunk{}, st.a.firstErr
	}
	if st.n == len(st.a.chunks) {
		if st.a.thenWait {
			<-st.ctx.Done()
		}
		if st.a.then != nil {
			return hyponema.ChatChunk{}, st.a.then
		}
		return hyponema.ChatChunk{}, io.EOF
	}
	st.n++
	return hyponema.ChatChunk{Text: st.a.chunks[st.n-1]}, nil
}

func (st *scriptedStream) Close() error {
	if st.closed.CompareAndSwap(false, true) {
		st.s.closed.Add(1)
	}
	return nil
}

func (s *scripted) checkClosed(t *testing.T) {
	t.Helper()
	if o, c := s.opened.Load(), s.closed.Load(); o != c {
		t.Errorf("%d streams opened, %d closed", o, c)
	}
}

var (
	err500 = &hyponema.ProviderError{Provider: "scripted", Status: 500, Message: "the provider failed (HTTP 500)"}
	err400 = &hyponema.ProviderError{Provider: "scripted", Status: 400, Message: "the provider refused the request (HTTP 400)"}
	fast   = llm.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 100 * time.Millisecond}
)

func run(t *testing.T, ctx context.Context, l hyponema.LLM) (llmtest.Result, error) {
	t.Helper()
	s, err := l.StreamChat(ctx, &hyponema.ChatRequest{Model: "m"})
	if err != nil {
		return llmtest.Result{}, err
	}
	r := llmtest.Collect(s)
	return r, r.Err
}

func TestRetryStartAndFirstChunkFailures(t *testing.T) {
	s := &scripted{attempts: []attempt{{startErr: err500}, {firstErr: err500}, {chunks: []string{"a", "b"}}}}
	r, err := run(t, context.Background(), llm.WithRetry(s, fast))
	if err != nil || r.Text != "ab" || s.calls != 3 {
		t.Errorf("got %q, %v after %d calls", r.Text, err, s.calls)
	}
	s.checkClosed(t)
}

func TestRetryDefaultsToThreeAttempts(t *testing.T) {
	s := &scripted{attempts: []attempt{{firstErr: err500}}}
	_, err := run(t, context.Background(), llm.WithRetry(s, llm.RetryPolicy{BaseDelay: time.Millisecond}))
	if err != err500 || s.calls != llm.DefaultMaxAttempts {
		t.Errorf("got %v after %d calls", err, s.calls)
	}
	s.checkClosed(t)
}

func TestRetryNotForRefusals(t *testing.T) {
	s := &scripted{attempts: []attempt{{startErr: err400}, {chunks: []string{"no"}}}}
	if _, err := run(t, context.Background(), llm.WithRetry(s, fast)); err != err400 || s.calls != 1 {
		t.Errorf("got %v after %d calls", err, s.calls)
	}
}

func TestRetryBacksOff(t *testing.T) {
	s := &scripted{attempts: []attempt{{startErr: err500}}}
	start := time.Now()
	run(t, context.Background(), llm.WithRetry(s, llm.RetryPolicy{MaxAttempts: 3, BaseDelay: 40 * time.Millisecond, MaxDelay: time.Second}))
	// Waits of 20–40ms then 40–80ms (equal jitter): at least 60ms in all.
	if elapsed := time.Since(start); elapsed < 60*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("three attempts took %v", elapsed)
	}
}

func TestRetryStopsWhenCancelled(t *testing.T) {
	s := &scripted{attempts: []attempt{{startErr: err500}}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := run(t, ctx, llm.WithRetry(s, llm.RetryPolicy{MaxAttempts: 100, BaseDelay: time.Second, MaxDelay: time.Second}))
	if err == nil || time.Since(start) > time.Second {
		t.Errorf("got %v after %v", err, time.Since(start))
	}
}

func TestRetryWrapsForeignErrors(t *testing.T) {
	s := &scripted{attempts: []attempt{{firstErr: errors.New("boom")}, {chunks: []string{"ok"}}}}
	r, err := run(t, context.Background(), llm.WithRetry(s, fast))
	if err != nil || r.Text != "ok" {
		t.Errorf("a plain error should count as a retryable provider failure: got %q, %v", r.Text, err)
	}
	s = &scripted{attempts: []attempt{{firstErr: errors.New("boom")}}}
	_, err = run(t, context.Background(), llm.WithRetry(s, fast))
	var pe *hyponema.ProviderError
	if !errors.As(err, &pe) || hyponema.ErrorCode(err) != hyponema.EPROVIDER {
		t.Errorf("got %v (%T), want a *hyponema.ProviderError", err, err)
	}
}

func TestRetryEmptyReply(t *testing.T) {
	s := &scripted{attempts: []attempt{{}}}
	r, err := run(t, context.Background(), llm.WithRetry(s, fast))
	if err != nil || r.Text != "" || s.calls != 1 {
		t.Errorf("got %q, %v after %d calls: an empty reply is a reply", r.Text, err, s.calls)
	}
	s.checkClosed(t)
}

func TestFirstTokenTimeoutNotRetried(t *testing.T) {
	s := &scripted{attempts: []attempt{{hang: true}, {chunks: []string{"late"}}}}
	s2 := llm.WithRetry(s, fast)
	_, err := s2.StreamChat(context.Background(), &hyponema.ChatRequest{Model: "m", FirstTokenTimeout: 30 * time.Millisecond})
	var pe *hyponema.ProviderError
	if !errors.As(err, &pe) || !pe.Timeout || pe.Provider != "scripted" || hyponema.ErrorCode(err) != hyponema.ETIMEOUT || s.calls != 1 {
		t.Errorf("got %v after %d calls, want one timeout", err, s.calls)
	}
	s.checkClosed(t)
}

func TestDeadlineMidStreamIsTimeout(t *testing.T) {
	// A provider that reports the expired deadline as a plain failure.
	s := &scripted{attempts: []attempt{{chunks: []string{"a"}, thenWait: true, then: err500}}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r, err := run(t, ctx, llm.WithRetry(s, fast))
	var pe *hyponema.ProviderError
	if !errors.As(err, &pe) || !pe.Timeout || r.Text != "a" || hyponema.ErrorCode(err) != hyponema.ETIMEOUT {
		t.Errorf("got %q then %v, want the text then a timeout", r.Text, err)
	}
	s.checkClosed(t)
}

func TestErrorsAfterFirstChunkPassThrough(t *testing.T) {
	s := &scripted{attempts: []attempt{{chunks: []string{"a", "b"}, then: err500}, {chunks: []string{"never"}}}}
	r, err := run(t, context.Background(), llm.WithRetry(s, fast))
	if err != err500 || r.Text != "ab" || s.calls != 1 {
		t.Errorf("got %q then %v after %d calls, want the text then the same error, no retry", r.Text, err, s.calls)
	}
	s.checkClosed(t)
}
