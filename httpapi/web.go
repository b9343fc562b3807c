package httpapi

import "net/http"

// webRoutes registers what browsers load from Hyponema itself: the hosted
// chat page of a session's client_url, and the embeddable widget.
func (s *Server) webRoutes(mux *http.ServeMux) {}
