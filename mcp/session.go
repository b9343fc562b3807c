package mcp

import (
	"context"
	"os/exec"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// session is one initialised MCP session.
type session struct {
	cs    *sdk.ClientSession
	cmd   *exec.Cmd     // the subprocess of a Command server, else nil
	ended chan struct{} // closed once the SDK session is over (its connection broke or was closed)
}

func newSession(cs *sdk.ClientSession, cmd *exec.Cmd) *session {
	s := &session{cs: cs, cmd: cmd, ended: make(chan struct{})}
	go func() {
		_ = cs.Wait()
		close(s.ended)
	}()
	return s
}

func (s *session) alive() bool {
	select {
	case <-s.ended:
		return false
	default:
		return true
	}
}

// dialing is a connect in progress. Every caller that needs a session while
// it runs waits for it rather than starting its own.
type dialing struct {
	done chan struct{} // closed when sess or err is set
	sess *session
	err  error
}

// session returns the live session, connecting (or joining the connect in
// progress) if there is none. The connect runs on the Client's context, not
// ctx, so that a waiter that gives up does not fail it for the others; it is
// bounded by CallTimeout and by Close.
func (c *Client) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, closedError()
	}
	if s := c.sess; s != nil {
		if s.alive() {
			c.mu.Unlock()
			return s, nil
		}
		c.dropLocked(s)
	}
	d := c.dialing
	if d == nil {
		d = &dialing{done: make(chan struct{})}
		c.dialing = d
		c.closing.Add(1)
		go c.dial(d)
	}
	c.mu.Unlock()
	select {
	case <-d.done:
		return d.sess, d.err
	case <-ctx.Done():
		return nil, c.classify(ctx, opConnect, nil, ctx.Err())
	}
}

// dial connects and initialises a new session for d.
func (c *Client) dial(d *dialing) {
	defer c.closing.Done()
	ctx, cancel := c.withTimeout(c.ctx)
	defer cancel()
	a := new(attempt)
	t, cmd := c.newTransport()
	cs, err := c.mcp.Connect(withAttempt(ctx, a), t, nil)
	var s *session
	if err != nil {
		err = c.classify(ctx, opConnect, a, err)
	} else {
		s = newSession(cs, cmd)
	}

	c.mu.Lock()
	c.dialing = nil
	if err == nil && c.closed {
		s, err = nil, closedError()
		defer cs.Close() // after unlocking
	} else if err == nil {
		c.sess = s
		if c.connected {
			// A new session may well be a new version of the server.
			c.stale = true
		}
		c.connected = true
	}
	d.sess, d.err = s, err
	close(d.done)
	c.mu.Unlock()
}

// reconnect drops s if it is still the current session, so that the next
// session call connects anew. Callers that saw s fail all call reconnect(s);
// only the first drops it, and the rest join the connect that follows or
// find its session in place.
func (c *Client) reconnect(s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.dropLocked(s)
	}
	c.mu.Unlock()
}

// dropLocked forgets s and closes it in the background: closing sends a
// DELETE, or waits for a subprocess to exit, and the server may be gone.
func (c *Client) dropLocked(s *session) {
	c.sess = nil
	c.closing.Add(1)
	go func() {
		defer c.closing.Done()
		_ = s.cs.Close()
	}()
}
