// Package loopbacktest serves HTTP on a chosen loopback address, for tests
// that need a server at one the egress guard allows (127.0.0.1) or refuses
// (127.0.0.2, any other of 127.0.0.0/8 left out of the allow list).
package loopbacktest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Serve starts h on addr ("127.0.0.2:0" …), closed when the test ends. An
// address that cannot be bound fails the test: on Linux every address of
// 127.0.0.0/8 is local.
func Serve(tb testing.TB, addr string, h http.Handler) *httptest.Server {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatalf("listen on %s: %v", addr, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	tb.Cleanup(s.Close)
	return s
}
