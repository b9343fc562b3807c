package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		h    http.Header
		want time.Duration
	}{
		"none":            {http.Header{}, 0},
		"seconds":         {http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		"fraction":        {http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		"date":            {http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		"date past":       {http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		"ms first":        {http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		"ms fraction":     {http.Header{"Retry-After-Ms": {"12.5"}}, 12500 * time.Microsecond},
		"bad ms, seconds": {http.Header{"Retry-After-Ms": {"soon"}, "Retry-After": {"2"}}, 2 * time.Second},
		"garbage":         {http.Header{"Retry-After": {"tomorrow"}}, 0},
		"negative":        {http.Header{"Retry-After": {"-5"}}, 0},
	} {
		if got := RetryAfter(tc.h, now); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}

func TestStatusError(t *testing.T) {
	key := Redactor("sk-secret-123")
	res := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"2"}, "X-Request-Id": {"req_1"}}}
	body := []byte(`{"error":{"message":"bad key sk-secret-123 ` + strings.Repeat("x", 2000) + `"}}`)
	e := StatusError("openai", key, res, body)
	if e.Status != 503 || e.RetryAfter != 2*time.Second || !e.Retryable() || e.Message != "the provider is overloaded (HTTP 503)" {
		t.Errorf("got %+v", e)
	}
	if s := e.Error(); strings.Contains(s, "sk-secret-123") || !strings.Contains(s, "[redacted]") || !strings.Contains(s, "req_1") || len(s) > 700 {
		t.Errorf("Error() = %q: want the body redacted and truncated, with the request id", s)
	}
}

func TestTransportError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if e := TransportError(ctx, "p", "", errors.New("read: context deadline exceeded"), true); !e.Timeout || e.Retryable() {
		t.Errorf("deadline: %+v", e)
	}
	if e := TransportError(context.Background(), "p", "", io.ErrUnexpectedEOF, true); e.Timeout || e.Status != 0 || !e.Retryable() || !strings.Contains(e.Message, "mid-reply") {
		t.Errorf("cut: %+v", e)
	}
	if e := TransportError(context.Background(), "p", "", errors.New("dial tcp: connection refused"), false); !strings.Contains(e.Message, "could not be reached") {
		t.Errorf("refused: %+v", e)
	}
}

func TestTruncate(t *testing.T) {
	s := strings.Repeat("é", 400) // 800 bytes
	got := Truncate(s)
	if !strings.HasSuffix(got, "…") || len(got) > maxBodyInErr+len("…") || !strings.HasPrefix(got, "éé") {
		t.Errorf("Truncate gave %d bytes: %q", len(got), got)
	}
	if strings.ContainsRune(strings.TrimSuffix(got, "…"), '\uFFFD') {
		t.Error("cut inside a rune")
	}
}

func TestStatusForErrorType(t *testing.T) {
	for typ, want := range map[string]int{
		"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "server_error": 500,
		"invalid_request_error": 400, "authentication_error": 401, "": 500,
	} {
		if got := StatusForErrorType(typ); got != want {
			t.Errorf("%q: %d, want %d", typ, got, want)
		}
	}
}
