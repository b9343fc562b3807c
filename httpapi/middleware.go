package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	principalKey
	loggerKey
	baseURLKey
)

// baseURL returns where clients reach the server: the configured public
// URL, else the scheme and host the request came to.
func (s *Server) baseURL(ctx context.Context) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	if u, ok := ctx.Value(baseURLKey).(string); ok {
		return u
	}
	return ""
}

// RequestIDFromContext returns the request's ID, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// Principal is who is calling: a workspace API key, or a session client
// token (SessionID set), which may use only that session's client endpoints.
type Principal struct {
	WorkspaceID string
	APIKeyID    string
	SessionID   string // set for a client token
	TokenID     string // the client token's tok_… ID, safe to log
}

// IsClient reports whether the caller holds a session client token.
func (p *Principal) IsClient() bool { return p.SessionID != "" }

// PrincipalFromContext returns the authenticated caller, or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey).(*Principal)
	return p
}

// validRequestID accepts a client's own X-Request-Id if it is short and
// plain, so that it cannot inject anything into logs or headers.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || c == '.' || c == ':' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// statusRecorder remembers the status for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines (SSE).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush implements http.Flusher for code that type-asserts it.
func (r *statusRecorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// Hijack is passed through for WebSocket upgrades.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// withRequest gives every request an ID, logs it, and turns a panic into a
// 500 in the API's shape.
func (s *Server) withRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = hyponema.NewID(hyponema.PrefixRequest)
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey, s.logger)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		r = r.WithContext(context.WithValue(ctx, baseURLKey, scheme+"://"+r.Host))
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.logger.ErrorContext(r.Context(), "panic", "request_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.status == 0 {
					writeError(rec, r, errors.New("panic"))
				}
			}
			s.logRequest(r, rec, id, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

func (s *Server) logRequest(r *http.Request, rec *statusRecorder, id string, d time.Duration) {
	level := slog.LevelDebug
	switch {
	case rec.status >= 500:
		level = slog.LevelError
	case rec.status >= 400:
		level = slog.LevelInfo
	}
	if !s.logger.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path), // never the query: it may carry a token
		slog.Int("status", rec.status),
		slog.Int64("bytes", rec.bytes),
		slog.Duration("duration", d),
		slog.String("request_id", id),
	}
	if p := PrincipalFromContext(r.Context()); p != nil && p.IsClient() {
		attrs = append(attrs, slog.String("workspace_id", p.WorkspaceID), slog.String("client_token_id", p.TokenID))
	} else if p != nil {
		attrs = append(attrs, slog.String("workspace_id", p.WorkspaceID), slog.String("api_key_id", p.APIKeyID))
	}
	s.logger.LogAttrs(r.Context(), level, "request", attrs...)
}

// publicPaths need no credential.
var publicPaths = map[string]bool{
	"/healthz":      true,
	"/readyz":       true,
	"/openapi.json": true,
	"/openapi.yaml": true,
}

// withAuth authenticates the bearer credential of every path but the
// public ones and the static pages browsers load (they carry no secret;
// the chat page takes its token from the URL fragment).
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if publicPaths[r.URL.Path] || isWebPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := s.authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hyponema"`)
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey, p)))
	})
}

func (s *Server) authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, hyponema.Errorf(hyponema.EUNAUTHORIZED, "Send a workspace API key (or a session client token) as Authorization: Bearer ….")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, hyponema.Errorf(hyponema.EUNAUTHORIZED, "The Authorization header must be Bearer followed by a key.")
	}
	token = strings.TrimSpace(token)
	if strings.HasPrefix(token, clienttoken.Prefix) {
		return s.authenticateClient(r, token)
	}
	if !hyponema.ValidAPIKeySecret(token) {
		return nil, hyponema.Errorf(hyponema.EUNAUTHORIZED, "The API key is malformed, unknown or revoked.")
	}
	k, err := s.APIKeys.AuthenticateAPIKey(r.Context(), token)
	if err != nil {
		if hyponema.ErrorCode(err) == hyponema.EUNAUTHORIZED {
			return nil, hyponema.Errorf(hyponema.EUNAUTHORIZED, "The API key is malformed, unknown or revoked.")
		}
		return nil, err
	}
	s.touchKey(r.Context(), k)
	return &Principal{WorkspaceID: k.WorkspaceID, APIKeyID: k.ID}, nil
}

// clientEndpoint returns the session that a client endpoint's path names:
// GET /sessions/{id}, POST /sessions/{id}/end, POST and GET
// /sessions/{id}/messages, GET /sessions/{id}/events. Anything else is not
// for client tokens.
func clientEndpoint(method, path string) (sessionID string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 2 || parts[0] != "sessions" || parts[1] == "" {
		return "", false
	}
	switch {
	case len(parts) == 2 && method == http.MethodGet,
		len(parts) == 3 && parts[2] == "end" && method == http.MethodPost,
		len(parts) == 3 && parts[2] == "messages" && (method == http.MethodGet || method == http.MethodPost),
		len(parts) == 3 && parts[2] == "events" && method == http.MethodGet:
		return parts[1], true
	}
	return "", false
}

// authenticateClient accepts a session client token on its own session's
// client endpoints only: 401 for a bad, expired or dead token (its session
// ended), 403 for a valid token used anywhere else.
func (s *Server) authenticateClient(r *http.Request, token string) (*Principal, error) {
	if s.Tokens == nil {
		return nil, hyponema.Errorf(hyponema.EUNAUTHORIZED, "This server does not accept client tokens.")
	}
	sessionID, ok := clientEndpoint(r.Method, r.URL.Path)
	if !ok {
		return nil, hyponema.Errorf(hyponema.EFORBIDDEN, "A client token may only call its own session's client endpoints.")
	}
	c, err := s.Tokens.Verify(token, s.Now(), clienttoken.Want{SessionID: sessionID, Audience: clienttoken.AudienceClient})
	if err != nil {
		return nil, err
	}
	sess, err := s.Sessions.FindSession(r.Context(), c.WorkspaceID, c.SessionID)
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND || (err == nil && sess.Status == hyponema.SessionEnded) {
		return nil, hyponema.Errorf(hyponema.EUNAUTHORIZED, "The client token's session has ended.")
	} else if err != nil {
		return nil, err
	}
	return &Principal{WorkspaceID: c.WorkspaceID, SessionID: c.SessionID, TokenID: c.ID}, nil
}

// keyTouchInterval bounds how often a key's last_used_at is written: a
// write per request would make every read a write.
const keyTouchInterval = time.Minute

type keyTouches struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// touchKey records the key's use if its stored last-use time is older than
// keyTouchInterval. Failures are logged, never fatal to the request.
func (s *Server) touchKey(ctx context.Context, k *hyponema.APIKey) {
	now := s.Now()
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < keyTouchInterval {
		return
	}
	s.touches.mu.Lock()
	if t, ok := s.touches.last[k.ID]; ok && now.Sub(t) < keyTouchInterval {
		s.touches.mu.Unlock()
		return
	}
	if len(s.touches.last) > 100_000 {
		clear(s.touches.last)
	}
	s.touches.last[k.ID] = now
	s.touches.mu.Unlock()
	if err := s.APIKeys.TouchAPIKey(ctx, k.ID, now); err != nil {
		s.logger.WarnContext(ctx, "recording API key use", "api_key_id", k.ID, "error", err)
	}
}
