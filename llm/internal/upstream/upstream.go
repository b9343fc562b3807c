// Package upstream turns what goes wrong between Hyponema and a model
// provider's HTTP API into *hyponema.ProviderError values, the same way for
// every vendor: statuses, Retry-After, timeouts, broken connections and
// malformed streams.
//
// Messages are short sentences that are safe to show to anyone; the details
// (the upstream body, truncated, or the transport error) go into Err for
// logs, with the API key scrubbed from them in case an upstream echoes it.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hyponema/hyponema"
)

// maxBodyInErr bounds how much of an upstream error body is kept for logs:
// enough to read the provider's explanation, not enough to flood a log line.
const maxBodyInErr = 512

// Redactor scrubs a secret (the provider's API key) from error text.
type Redactor string

// String returns s with the secret replaced.
func (r Redactor) String(s string) string {
	if len(r) < 4 { // too short to be a key; replacing it would mangle text
		return s
	}
	return strings.ReplaceAll(s, string(r), "[redacted]")
}

// cause is an error for logs whose text has been scrubbed, keeping the
// original in the chain for errors.Is.
type cause struct {
	msg string
	err error
}

func (c *cause) Error() string { return c.msg }
func (c *cause) Unwrap() error { return c.err }

// Cause wraps err for ProviderError.Err, with the key scrubbed from its text.
func (r Redactor) Cause(err error) error {
	if err == nil {
		return nil
	}
	return &cause{msg: r.String(err.Error()), err: err}
}

// StatusError describes an HTTP error status that the provider answered
// instead of a stream. body is the response body (it may be nil).
func StatusError(provider string, key Redactor, res *http.Response, body []byte) *hyponema.ProviderError {
	e := &hyponema.ProviderError{
		Provider:   provider,
		Status:     res.StatusCode,
		RetryAfter: RetryAfter(res.Header, time.Now()),
		Message:    StatusMessage(res.StatusCode),
	}
	detail := fmt.Sprintf("HTTP %d", res.StatusCode)
	if b := Truncate(string(body)); b != "" {
		detail += ": " + b
	}
	if id := requestID(res.Header); id != "" {
		detail += " (request id " + id + ")"
	}
	e.Err = errors.New(key.String(detail))
	return e
}

// StatusMessage is the safe sentence for an HTTP error status.
func StatusMessage(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return fmt.Sprintf("the provider is rate limiting requests (HTTP %d)", status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return fmt.Sprintf("the provider refused the API key (HTTP %d)", status)
	case status == http.StatusNotFound:
		return fmt.Sprintf("the provider does not know this model or endpoint (HTTP %d)", status)
	case status == 529 || status == http.StatusServiceUnavailable:
		return fmt.Sprintf("the provider is overloaded (HTTP %d)", status)
	case status >= 500:
		return fmt.Sprintf("the provider failed (HTTP %d)", status)
	default:
		return fmt.Sprintf("the provider refused the request (HTTP %d)", status)
	}
}

// StreamError describes an error event that the provider sent inside a
// stream that had started with 200. status is the HTTP status that the
// event's error type stands for (see StatusForErrorType).
func StreamError(provider string, key Redactor, status int, detail string) *hyponema.ProviderError {
	return &hyponema.ProviderError{
		Provider: provider,
		Status:   status,
		Message:  fmt.Sprintf("the provider reported an error in its reply stream (as HTTP %d)", status),
		Err:      errors.New(key.String("stream error event: " + Truncate(detail))),
	}
}

// Malformed describes a stream event that could not be decoded. Status is
// the response's own status (200): the provider did answer, wrongly, so
// the error is not retryable by ProviderError.Retryable — a reply that is
// garbled once is likely garbled again, and text may already be shown.
func Malformed(provider string, key Redactor, status int, err error) *hyponema.ProviderError {
	return &hyponema.ProviderError{
		Provider: provider,
		Status:   status,
		Message:  "the provider sent a malformed reply",
		Err:      key.Cause(err),
	}
}

// Invalid describes a request that the provider would refuse, found
// before sending it (a tool schema that is not JSON, an unknown role). Its
// Status is 400, as the provider would have answered, so that it is not
// retried: no second try can fix it.
func Invalid(provider string, err error) *hyponema.ProviderError {
	return &hyponema.ProviderError{
		Provider: provider,
		Status:   http.StatusBadRequest,
		Message:  "the request to the provider is invalid",
		Err:      err,
	}
}

// TransportError describes a failure that left no HTTP status to go by: a
// connection that could not be made or broke, a timeout, a cancelled
// context. ctx is the request's context; midStream says whether the
// response had started.
func TransportError(ctx context.Context, provider string, key Redactor, err error, midStream bool) *hyponema.ProviderError {
	e := &hyponema.ProviderError{Provider: provider, Err: key.Cause(err)}
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		e.Timeout = true
		e.Message = "the provider did not answer in time"
	case errors.As(err, &ne) && ne.Timeout():
		// An http.Client Timeout or a transport's ResponseHeaderTimeout.
		e.Timeout = true
		e.Message = "the provider did not answer in time"
	case ctx.Err() != nil || errors.Is(err, context.Canceled):
		e.Message = "the request to the provider was cancelled"
		if c := context.Cause(ctx); c != nil && c != ctx.Err() {
			e.Err = key.Cause(fmt.Errorf("%w (%w)", err, c))
		}
	case midStream:
		e.Message = "the connection to the provider broke mid-reply"
	default:
		e.Message = "the provider could not be reached"
	}
	return e
}

// RetryAfter reads how long the provider asked us to wait: OpenAI's
// retry-after-ms (milliseconds) first, as it is the more precise, then the
// standard Retry-After in seconds or as an HTTP date. 0 when absent or
// unreadable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && ms < 1e9 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || s > 1e6 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// ReadBody reads at most a few KiB of an error response body: enough for
// its explanation without trusting the upstream with our memory.
func ReadBody(res *http.Response) []byte {
	if res == nil || res.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 8<<10))
	return b
}

// Truncate shortens s for a log line, on a rune boundary.
func Truncate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxBodyInErr {
		return s
	}
	cut := maxBodyInErr
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// StatusForErrorType maps an error type that a provider names in its error
// JSON (Anthropic's "overloaded_error", OpenAI's "server_error" …) to the
// HTTP status it stands for, so that an error event inside a 200 stream is
// judged like the same error before it. Unknown types count as 500.
func StatusForErrorType(typ string) int {
	switch typ {
	case "invalid_request_error", "BadRequestError":
		return http.StatusBadRequest
	case "authentication_error":
		return http.StatusUnauthorized
	case "permission_error":
		return http.StatusForbidden
	case "not_found_error":
		return http.StatusNotFound
	case "request_too_large":
		return http.StatusRequestEntityTooLarge
	case "rate_limit_error", "rate_limit_exceeded", "requests", "tokens":
		return http.StatusTooManyRequests
	case "overloaded_error":
		return 529
	case "timeout_error":
		return http.StatusGatewayTimeout
	default:
		return http.StatusInternalServerError
	}
}

func requestID(h http.Header) string {
	for _, k := range []string{"X-Request-Id", "Request-Id"} {
		if v := h.Get(k); v != "" && len(v) <= 128 {
			return v
		}
	}
	return ""
}

// HTTPClient returns c, or when it is nil a client of the provider's own:
// a copy of the default transport (so that closing its idle connections
// touches no one else's) and no overall Timeout, since a reply streams for
// as long as the caller's context allows.
func HTTPClient(c *http.Client) *http.Client {
	if c != nil {
		return c
	}
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return &http.Client{Transport: t.Clone()}
	}
	return &http.Client{Transport: http.DefaultTransport}
}
