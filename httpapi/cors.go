package httpapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/hyponema/hyponema"
)

// CORS for browsers. Only the session client endpoints answer cross-origin
// requests, and only from the origins that the session's agent version
// allows; no response ever allows credentials (cookies), since client
// tokens travel in the Authorization header. Everything else, the operator
// surface included, sends no CORS headers at all, so browsers refuse to
// let another origin read it.

const (
	corsAllowMethods  = "GET, POST"
	corsAllowHeaders  = "Authorization, Content-Type, Accept, Last-Event-ID, Idempotency-Key, X-Request-Id"
	corsExposeHeaders = "X-Request-Id, Idempotent-Replayed"
	corsMaxAge        = "600"
)

// withCORS answers preflights and adds CORS headers to client endpoints'
// responses for allowed origins. It runs before authentication: a
// preflight carries no credential.
func (s *Server) withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		method := r.Method
		if preflight {
			method = r.Header.Get("Access-Control-Request-Method")
		}
		w.Header().Add("Vary", "Origin")
		allowed := false
		if sessionID, ok := clientEndpoint(method, r.URL.Path); ok {
			allowed = s.originAllowed(r.Context(), sessionID, origin)
		}
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		if !allowed {
			writeError(w, r, hyponema.Errorf(hyponema.EFORBIDDEN, "This origin may not call this endpoint."))
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// originAllowed reports whether the session's agent version lists origin
// among its allowed_origins. A session that does not exist allows nothing,
// and says nothing more.
func (s *Server) originAllowed(ctx context.Context, sessionID, origin string) bool {
	origin, ok := hyponema.NormalizeOrigin(origin)
	if !ok || s.Sessions == nil || s.Engine == nil {
		return false
	}
	sess, err := s.Sessions.FindSessionByID(ctx, sessionID)
	if err != nil {
		return false
	}
	v, err := s.Engine.AgentVersion(ctx, sess.WorkspaceID, sess.AgentVersionID)
	if err != nil {
		return false
	}
	return slices.Contains(v.Config.AllowedOrigins, origin)
}
