package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/hyponema/hyponema"
)

// DefaultPingInterval is how often an idle event stream gets a comment, so
// that proxies and clients know it is alive (api.md: every 15 s).
const DefaultPingInterval = 15 * time.Second

// sseStream writes server-sent events: one writer at a time (events and
// pings come from different goroutines), flushed after each.
type sseStream struct {
	mu sync.Mutex
	w  http.ResponseWriter
	rc *http.ResponseController
}

// sseWriteTimeout bounds each write of a stream: a client that stops
// reading (its buffers full) is dropped instead of holding the stream's
// goroutine forever. A stream as a whole lives as long as its client.
const sseWriteTimeout = 30 * time.Second

// startSSE sends the stream's headers.
func startSSE(w http.ResponseWriter) *sseStream {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	s := &sseStream{w: w, rc: http.NewResponseController(w)}
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	_ = s.rc.Flush()
	return s
}

// event writes one session event; its seq is the SSE id.
func (s *sseStream) event(ev *hyponema.SessionEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	// Stored data is compact JSON, so it is one line.
	if _, err := fmt.Fprintf(s.w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Seq, ev.Type, ev.Data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// comment writes an SSE comment line (a ping).
func (s *sseStream) comment(text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// pingUntil pings every interval until ctx ends; a failed write cancels the
// stream through cancel.
func (s *sseStream) pingUntil(ctx context.Context, interval time.Duration, cancel context.CancelFunc) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.comment("ping"); err != nil {
				cancel()
				return
			}
		}
	}
}

// follow streams the session's events after `after` to the client until
// stop says so or the client goes away.
func (s *Server) follow(hctx huma.Context, sessionID string, after int64, stop func(*hyponema.SessionEvent) bool) {
	r, w := humago.Unwrap(hctx)
	stream := startSSE(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.streams, cancel)()
	go stream.pingUntil(ctx, s.PingInterval, cancel)
	err := s.Engine.Follow(ctx, sessionID, after, stream.event, stop)
	if err != nil && ctx.Err() == nil {
		// The stream has started: the error can only be told as an event.
		s.logger.WarnContext(ctx, "event stream failed", "session_id", sessionID, "error", err)
		kind := newAPIError(ctx, err)
		_ = stream.event(&hyponema.SessionEvent{Seq: after, Type: hyponema.EventError,
			Data: []byte(fmt.Sprintf(`{"detail":%q,"error_kind":%q}`, kind.Detail, kind.ErrorKind))})
	}
}

// lastEventID reads where a reconnecting stream resumes: the Last-Event-ID
// header, or ?last_event_id= for clients that cannot set headers.
func lastEventID(header, query string) (int64, error) {
	v := header
	if v == "" {
		v = query
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &hyponema.Error{Code: hyponema.EINVALID, Message: "Last-Event-ID: must be the id of an event of this stream",
			Fields: []hyponema.FieldError{{Loc: []string{"header", "Last-Event-ID"}, Msg: "must be the id of an event of this stream", Type: "invalid"}}}
	}
	return n, nil
}
