// Package binarytest runs the built hyponema binary for end-to-end tests:
// it builds it once per test, starts it on a free loopback port, talks to
// it, and stops it with SIGTERM or kills it.
package binarytest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build builds cmd/hyponema into the test's temp dir and returns its path.
func Build(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hyponema")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/hyponema/hyponema/cmd/hyponema")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// Server is the built binary serving on a free loopback port.
type Server struct {
	t      testing.TB
	Cmd    *exec.Cmd
	URL    string        // as the server printed it
	Stderr *bytes.Buffer // its log
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// Start runs `hyponema serve --addr 127.0.0.1:0 args…` with env added to
// the test's environment, and returns once it listens. It is killed when
// the test ends, its log shown if the test failed.
func Start(t testing.TB, bin string, env []string, args ...string) *Server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Cmd: cmd, Stderr: &bytes.Buffer{}}
	cmd.Stderr = s.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", s.Stderr)
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("server exited before listening: %s", s.Stderr)
		}
		s.URL = u
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not start: %s", s.Stderr)
	}
	return s
}

// Stop sends SIGTERM and fails the test unless the server exits cleanly.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			s.t.Fatalf("server exited with %v: %s", err, s.Stderr)
		}
	case <-time.After(20 * time.Second):
		s.t.Fatalf("server did not stop on SIGTERM")
	}
}

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.Cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	_ = s.Cmd.Wait()
}

// Call makes a JSON request with the bearer credential (if any), fails the
// test unless the status is want, and returns the decoded object (nil for
// an empty body).
func (s *Server) Call(method, path, key, body string, want int) map[string]any {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, s.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		s.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return m
}
