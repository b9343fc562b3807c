// Package mcptest runs a real MCP server for tests: the npm package
// @modelcontextprotocol/server-everything (installed in e2e/ by `npm ci`),
// with node, over streamable HTTP on loopback; and gives its entry point
// for the stdio transport.
package mcptest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema/internal/nodetest"
)

// EverythingJS returns the path of server-everything's entry point, or
// skips the test if node or the package is missing (fails it under
// HYPONEMA_E2E).
func EverythingJS(t testing.TB) string {
	t.Helper()
	return nodetest.Require(t, filepath.Join("@modelcontextprotocol", "server-everything", "dist", "index.js"))
}

// loopbackJS is preloaded into node so that the server, which listens on
// every interface, listens on 127.0.0.1 only: it has a tool (get-env) that
// shows its environment to whoever asks.
const loopbackJS = `const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if ((typeof args[0] === 'number' || typeof args[0] === 'string') && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1');
  }
  return listen.apply(this, args);
};
`

// Server is server-everything in streamable HTTP mode, on a fixed loopback
// port so that it can be killed and started again there.
type Server struct {
	URL string // its MCP endpoint

	t       testing.TB
	js      string
	preload string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	stderr  LockedBuffer
}

// Start starts server-everything on a free loopback port; it is killed
// when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	js := EverythingJS(t)
	preload := filepath.Join(t.TempDir(), "loopback.cjs")
	if err := os.WriteFile(preload, []byte(loopbackJS), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, js: js, preload: preload, port: port, URL: "http://127.0.0.1:" + strconv.Itoa(port) + "/mcp"}
	s.Start()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("server-everything stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

// Start starts the server again (after Kill) and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	cmd := exec.Command("node", "--require", s.preload, s.js, "streamableHttp")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORT=" + strconv.Itoa(s.port)}
	cmd.Stderr = &s.stderr // its stdout logs every request: discarded
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	addr := "127.0.0.1:" + strconv.Itoa(s.port)
	deadline := time.After(20 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("server-everything exited: %s", s.stderr.String())
		case <-deadline:
			s.t.Fatalf("server-everything did not listen on %s", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill kills the server (SIGKILL: no goodbye to its clients) and waits for
// it to exit.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Stderr returns what the server wrote to stderr so far.
func (s *Server) Stderr() string { return s.stderr.String() }

// LockedBuffer is a bytes.Buffer that goroutines may write at once (a
// subprocess's stderr).
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
