package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/hyponema/hyponema"
)

// RetryPolicy says how WithRetry retries a reply that failed before its
// first chunk. Zero fields take the defaults.
type RetryPolicy struct {
	// MaxAttempts counts every try, the first included (default 3).
	MaxAttempts int
	// BaseDelay is the wait before the second try; it doubles with each
	// further try, with jitter (default 250ms).
	BaseDelay time.Duration
	// MaxDelay caps any wait (default 4s). A provider that asks, by
	// Retry-After, for a longer wait than this is not retried: its error
	// is returned at once, RetryAfter included, rather than knocking again
	// before it said we could.
	MaxDelay time.Duration
}

// Defaults of RetryPolicy.
const (
	DefaultMaxAttempts = 3
	DefaultBaseDelay   = 250 * time.Millisecond
	DefaultMaxDelay    = 4 * time.Second
)

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	return p
}

// errFirstTokenTimeout is the cause with which an attempt's context is
// cancelled when the first chunk is late, to tell it from the caller's own
// cancellation.
var errFirstTokenTimeout = errors.New("no first chunk within the first-token timeout")

// WithRetry returns an LLM that starts each reply with l, waits for its
// first chunk, and retries the whole request while it fails before that
// chunk with a retryable *hyponema.ProviderError (a rate limit, a server
// error, a connection failure), up to p.MaxAttempts tries with exponential
// backoff and jitter, or the wait that the provider asked for.
//
// Once a chunk has been delivered nothing is retried: the user has seen
// text, and a second reply would not continue it. Errors then pass through
// as the provider gave them, except that the caller's deadline passing
// mid-stream is always a Timeout error.
//
// It also enforces ChatRequest.FirstTokenTimeout: an attempt whose first
// chunk does not come within it fails with a Timeout error, which is not
// retried (the time is spent). No retry waits past ctx's deadline: when
// the next wait would end after it, the last error is returned at once.
func WithRetry(l hyponema.LLM, p RetryPolicy) hyponema.LLM {
	return &retrying{next: l, policy: p.withDefaults()}
}

type retrying struct {
	next   hyponema.LLM
	policy RetryPolicy
}

// StreamChat implements hyponema.LLM.
func (r *retrying) StreamChat(ctx context.Context, req *hyponema.ChatRequest) (hyponema.ChatStream, error) {
	for attempt := 1; ; attempt++ {
		s, err := r.try(ctx, req)
		if err == nil {
			return s, nil
		}
		if !err.Retryable() || attempt >= r.policy.MaxAttempts || ctx.Err() != nil {
			return nil, err
		}
		wait, ok := r.delay(ctx, attempt, err)
		if !ok {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// delay returns how long to wait before try attempt+1, and false when the
// wait is one that we will not make.
func (r *retrying) delay(ctx context.Context, attempt int, last *hyponema.ProviderError) (time.Duration, bool) {
	var wait time.Duration
	if last.RetryAfter > 0 {
		if last.RetryAfter > r.policy.MaxDelay {
			return 0, false
		}
		// A little jitter on top, so that many turns refused together do
		// not all come back in the same millisecond.
		wait = last.RetryAfter + rand.N(last.RetryAfter/10+1)
	} else {
		backoff := r.policy.BaseDelay << min(attempt-1, 20)
		if backoff <= 0 || backoff > r.policy.MaxDelay {
			backoff = r.policy.MaxDelay
		}
		// "Equal jitter": at least half the backoff, so that retries do
		// spread out, and at most all of it.
		wait = backoff/2 + rand.N(backoff/2+1)
	}
	if deadline, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(deadline) {
		return 0, false
	}
	return wait, true
}

// try makes one attempt and, when it succeeds, returns a stream that gives
// its first chunk (already received) and then the rest.
func (r *retrying) try(ctx context.Context, req *hyponema.ChatRequest) (hyponema.ChatStream, *hyponema.ProviderError) {
	// Each attempt has its own context, so that a failed attempt's
	// connection is torn down even if its stream forgot something, and so
	// that the first-token timer can cancel just this attempt.
	actx, cancel := context.WithCancelCause(ctx)
	var timer *time.Timer
	if req.FirstTokenTimeout > 0 {
		timer = time.AfterFunc(req.FirstTokenTimeout, func() { cancel(errFirstTokenTimeout) })
	}
	s, err := r.next.StreamChat(actx, req)
	var first hyponema.ChatChunk
	if err == nil {
		first, err = s.Next()
	}
	if timer != nil && !timer.Stop() && err == nil {
		// The chunk came just as the timer fired; the attempt's context is
		// cancelled, so the rest of the reply could not follow.
		err = context.Canceled
	}
	switch {
	case err == io.EOF:
		// An empty reply is a reply: the stream gives EOF at once.
		return &stream{inner: s, ctx: ctx, cancel: cancel, err: io.EOF}, nil
	case err != nil:
		if s != nil {
			s.Close()
		}
		cancel(nil)
		if context.Cause(actx) == errFirstTokenTimeout && ctx.Err() == nil {
			return nil, &hyponema.ProviderError{
				Provider: providerOf(err),
				Timeout:  true,
				Message:  fmt.Sprintf("the provider did not start answering within %s", req.FirstTokenTimeout),
				Err:      errFirstTokenTimeout,
			}
		}
		return nil, asProviderError(ctx, err)
	}
	return &stream{first: &first, inner: s, ctx: ctx, cancel: cancel}, nil
}

// stream gives the first chunk that try received, then the rest of inner.
// Like any ChatStream, Next is for one goroutine; Close may come from
// another.
type stream struct {
	first  *hyponema.ChatChunk
	inner  hyponema.ChatStream
	ctx    context.Context // the caller's
	cancel context.CancelCauseFunc
	err    error // sticky: once the stream failed or ended it stays so
}

// Next implements hyponema.ChatStream.
func (s *stream) Next() (hyponema.ChatChunk, error) {
	if s.first != nil {
		c := *s.first
		s.first = nil
		return c, nil
	}
	if s.err != nil {
		return hyponema.ChatChunk{}, s.err
	}
	c, err := s.inner.Next()
	if err != nil {
		if err != io.EOF {
			err = asProviderError(s.ctx, err)
		}
		s.err = err
		return hyponema.ChatChunk{}, err
	}
	return c, nil
}

// Close implements hyponema.ChatStream.
func (s *stream) Close() error {
	err := s.inner.Close()
	s.cancel(nil)
	return err
}

// asProviderError makes sure that what a provider returned is a
// *hyponema.ProviderError, and that a passed deadline of the caller's
// context reads as a timeout whatever the provider made of it.
func asProviderError(ctx context.Context, err error) *hyponema.ProviderError {
	var pe *hyponema.ProviderError
	if !errors.As(err, &pe) {
		pe = &hyponema.ProviderError{Provider: "llm", Message: "the provider failed", Err: err}
		if ctx.Err() != nil {
			pe.Message = "the request to the provider was cancelled"
		}
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !pe.Timeout {
		c := *pe
		c.Timeout = true
		c.Message = "the provider did not finish answering in time"
		pe = &c
	}
	return pe
}

func providerOf(err error) string {
	var pe *hyponema.ProviderError
	if errors.As(err, &pe) && pe.Provider != "" {
		return pe.Provider
	}
	return "llm"
}
