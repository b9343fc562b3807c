package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hyponema/hyponema"
)

// MaxBodyBytes is the largest request body the JSON API reads (api.md).
const MaxBodyBytes = 1 << 20

// maxIdempotencyKeyLen bounds the Idempotency-Key header.
const maxIdempotencyKeyLen = 255

// withIdempotency makes a POST that carries an Idempotency-Key safe to
// retry: the first response (status and body) is stored and replayed for the
// same key and request; the same key with another request is 409
// idempotency_conflict, and a retry while the first still runs is 409
// conflict. Responses with a 5xx status are not kept, so a retry runs again.
func (s *Server) withIdempotency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		p := PrincipalFromContext(r.Context())
		if r.Method != http.MethodPost || key == "" || p == nil {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > maxIdempotencyKeyLen || !printableASCII(key) {
			writeError(w, r, &hyponema.Error{Code: hyponema.EINVALID,
				Message: "Idempotency-Key: must be 1 to 255 printable ASCII characters",
				Fields:  []hyponema.FieldError{{Loc: []string{"header", "Idempotency-Key"}, Msg: "must be 1 to 255 printable ASCII characters", Type: "invalid"}}})
			return
		}
		// The body is hashed, so read whole; file uploads may be larger
		// than the JSON limit.
		limit := bodyLimit(r)
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			writeError(w, r, hyponema.Errorf(hyponema.EMALFORMED, "The request body could not be read."))
			return
		}
		if int64(len(body)) > limit {
			writeError(w, r, hyponema.Errorf(hyponema.ETOOLARGE, "The request body is larger than %s.", mib(limit)))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		h := sha256.New()
		io.WriteString(h, r.Method+" "+r.URL.RequestURI()+"\n")
		h.Write(body)
		hash := hex.EncodeToString(h.Sum(nil))
		scope := p.WorkspaceID

		rec, err := s.Idempotency.ClaimIdempotencyKey(r.Context(), scope, key, hash, s.Now())
		if err != nil {
			writeError(w, r, err)
			return
		}
		switch {
		case rec != nil && rec.RequestHash != hash:
			writeError(w, r, hyponema.Errorf(hyponema.EIDEMPOTENCY, "This Idempotency-Key was used with a different request; use a new key for a new request."))
			return
		case rec != nil && !rec.Done:
			w.Header().Set("Retry-After", "1")
			writeError(w, r, hyponema.Errorf(hyponema.ECONFLICT, "A request with this Idempotency-Key is still in progress; retry later."))
			return
		case rec != nil:
			body, err := s.openStored(scope, key, rec.Body)
			if err != nil {
				s.logger.ErrorContext(r.Context(), "opening a stored idempotent response", "error", err)
				writeError(w, r, hyponema.Errorf(hyponema.ECONFLICT, "The response stored for this Idempotency-Key can no longer be read (the server's secret key changed); use a new key."))
				return
			}
			rec.Body = body
			w.Header().Set("Idempotent-Replayed", "true")
			if rec.ContentType != "" {
				w.Header().Set("Content-Type", rec.ContentType)
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(rec.Body)))
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Body)
			return
		}

		cw := &captureWriter{ResponseWriter: w}
		completed := false
		defer func() {
			if completed {
				return
			}
			// The handler panicked or the stream failed: let a retry run again.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if err := s.Idempotency.ReleaseIdempotencyKey(ctx, scope, key); err != nil {
				s.logger.ErrorContext(ctx, "releasing idempotency key", "error", err)
			}
		}()
		next.ServeHTTP(cw, r)
		if cw.status >= 500 || cw.status == 0 {
			return
		}
		status, contentType, body := cw.status, cw.Header().Get("Content-Type"), cw.body.Bytes()
		if cw.streamed && (cw.writeErr || cw.overflow || r.Context().Err() != nil) {
			// A stream that did not reach its client whole cannot be replayed,
			// and running the request again would repeat its effect (a second
			// message): a retry is told where to find the outcome instead.
			e := newAPIError(r.Context(), hyponema.Errorf(hyponema.ECONFLICT,
				"The first request with this Idempotency-Key streamed its response and the stream was cut; its effect stands. Follow the session's events (GET /sessions/{id}/events with Last-Event-ID) instead of retrying."))
			status, contentType = e.status, "application/json"
			body, _ = json.Marshal(e)
		}
		// The response has been sent; store it even if the client has gone.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := s.Idempotency.CompleteIdempotencyKey(ctx, scope, key, status, contentType, s.sealStored(scope, key, body)); err != nil {
			s.logger.ErrorContext(ctx, "storing idempotent response", "error", err)
			return
		}
		completed = true
	})
}

// Sealer encrypts what the server stores and must read back.
// *seal.Box implements it.
type Sealer interface {
	Seal(plaintext, context string) string
	Open(sealed, context string) (string, error)
}

// sealStored seals a response before it is stored for replay: some
// responses carry a secret shown once (an API key, a webhook signing
// secret), which must not lie in the database in the clear for a day.
func (s *Server) sealStored(scope, key string, body []byte) []byte {
	if s.Sealer == nil {
		return body
	}
	return []byte(s.Sealer.Seal(string(body), scope+"\x00"+key))
}

// openStored opens what sealStored stored.
func (s *Server) openStored(scope, key string, stored []byte) ([]byte, error) {
	if s.Sealer == nil {
		return stored, nil
	}
	b, err := s.Sealer.Open(string(stored), scope+"\x00"+key)
	return []byte(b), err
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// maxStoredStream bounds how much of a streamed response is kept for replay.
const maxStoredStream = 1 << 20

// captureWriter keeps a copy of what it writes so that the response can be
// stored. A streamed response (text/event-stream, a turn's events) is kept
// too, up to maxStoredStream, and replayed as it was sent; whether it
// reached the client whole is noted.
type captureWriter struct {
	http.ResponseWriter
	status   int
	body     bytes.Buffer
	streamed bool
	writeErr bool // a write to the client failed: it has gone
	overflow bool // the stream outgrew maxStoredStream
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
		if strings.HasPrefix(c.Header().Get("Content-Type"), "text/event-stream") {
			c.streamed = true
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.body.Len()+len(b) > maxStoredStream && c.streamed {
		c.overflow = true
	} else if !c.overflow {
		c.body.Write(b)
	}
	n, err := c.ResponseWriter.Write(b)
	if err != nil {
		c.writeErr = true
	}
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (c *captureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// Flush implements http.Flusher.
func (c *captureWriter) Flush() {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}
