package llmtest

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
)

// Client is an HTTP client for providers under test that counts its open
// connections, so that a test can tell that every stream was closed: a
// connection still open once the idle ones are closed is one whose
// response body nobody closed.
type Client struct {
	*http.Client
	tr   *http.Transport
	open atomic.Int64
}

// NewClient returns a Client with a transport of its own.
func NewClient() *Client {
	c := &Client{}
	d := &net.Dialer{Timeout: 5 * time.Second}
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c.open.Add(1)
			return &countedConn{Conn: conn, open: &c.open}, nil
		},
		MaxIdleConnsPerHost: 64,
	}
	c.Client = &http.Client{Transport: c.tr}
	return c
}

// OpenConns returns how many connections are open, idle ones included.
func (c *Client) OpenConns() int { return int(c.open.Load()) }

// CheckNoLeaks closes the idle connections and fails t unless every
// connection has closed within two seconds, and the goroutines are back
// to at most baseline (from runtime.NumGoroutine; pass -1 to skip that
// check).
func (c *Client) CheckNoLeaks(t testing.TB, baseline int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.tr.CloseIdleConnections()
		conns, goroutines := c.OpenConns(), runtime.NumGoroutine()
		if conns == 0 && (baseline < 0 || goroutines <= baseline) {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("llmtest: leak: %d connections still open, %d goroutines (baseline %d)\n%s", conns, goroutines, baseline, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type countedConn struct {
	net.Conn
	open   *atomic.Int64
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.open.Add(-1)
	}
	return c.Conn.Close()
}

// Result is what a stream gave, as Collect gathers it.
type Result struct {
	Text         string              // the text chunks joined
	TextChunks   int                 // how many chunks had text
	ToolCalls    []hyponema.ToolCall // all tool calls, in order
	Usage        *hyponema.Usage     // the last usage given
	FinishReason string              // the last finish reason given
	Err          error               // what ended the stream, nil for io.EOF
}

// Collect reads s to its end and closes it.
func Collect(s hyponema.ChatStream) Result {
	defer s.Close()
	var r Result
	for {
		c, err := s.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.Err = err
			}
			return r
		}
		if c.Text != "" {
			r.Text += c.Text
			r.TextChunks++
		}
		r.ToolCalls = append(r.ToolCalls, c.ToolCalls...)
		if c.Usage != nil {
			r.Usage = c.Usage
		}
		if c.FinishReason != "" {
			r.FinishReason = c.FinishReason
		}
	}
}
