package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hyponema/hyponema/egress"
)

// attempt records what became of the requests of one operation (a connect,
// a tools/list, a tools/call) as they go by, so that a failure can be judged
// safe to retry: the SDK's errors do not say whether the request reached the
// server. It travels in the operation's context, which the SDK passes to the
// HTTP requests it makes and to the stdio connection's Write.
type attempt struct {
	mu      sync.Mutex
	reached bool // a request got through to the server (or may have)
	gone    bool // the server said it did not know the session
	status  int  // the last HTTP error status that the server answered
}

type attemptKey struct{}

func withAttempt(ctx context.Context, a *attempt) context.Context {
	return context.WithValue(ctx, attemptKey{}, a)
}

func attemptFrom(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

func (a *attempt) snapshot() (reached, gone bool, status int) {
	if a == nil {
		return false, false, 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.reached, a.gone, a.status
}

// roundTripper adds the configured headers to requests for the server's
// origin and records each request's fate in its attempt.
type roundTripper struct {
	next   http.RoundTripper
	header http.Header // canonical keys
	origin string
}

func (t *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.header) > 0 && t.firstParty(req) {
		req = req.Clone(req.Context()) // a RoundTripper must not change its request
		for k, vs := range t.header {
			req.Header[k] = vs
		}
	}
	resp, err := t.next.RoundTrip(req)
	a := attemptFrom(req.Context())
	if a == nil {
		return resp, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case err != nil:
		// Failing to connect means nothing was sent; any other failure
		// may have come after the server read the request.
		if !notSent(err) {
			a.reached = true
		}
	case req.Header.Get("Mcp-Session-Id") != "" && sessionUnknown(resp):
		a.gone = true
	default:
		a.reached = true
		if resp.StatusCode >= 400 {
			a.status = resp.StatusCode
		}
	}
	return resp, err
}

// firstParty reports whether req, and every request of the redirect chain
// that led to it, went to the configured origin: the headers may hold
// credentials, which must not follow a redirect elsewhere (nor come back
// from one).
func (t *roundTripper) firstParty(req *http.Request) bool {
	for r := req; r != nil; {
		if origin(r.URL) != t.origin {
			return false
		}
		if r.Response == nil {
			return true
		}
		r = r.Response.Request
	}
	return true
}

// sessionUnknown reports whether resp says that the server does not know
// the session: 404, as the specification says, or 400 with a JSON-RPC error
// about the session ID, as the TypeScript SDK's widely copied example server
// (and so server-everything) answers. Either way the server did not handle
// the request. It leaves resp's body readable.
func sessionUnknown(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusNotFound:
		return true
	case http.StatusBadRequest:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		// Not jsonrpc.DecodeMessage: such answers often lack the "id" that
		// a JSON-RPC response must have.
		var r struct {
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &r) != nil || r.Error == nil {
			return false
		}
		return strings.Contains(strings.ToLower(r.Error.Message), "session")
	}
	return false
}

// notSent reports whether err from a round trip means that the request did
// not leave this process: the connection could not be made, or the egress
// guard refused it.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || refused(err)
}

// refused reports whether the egress guard refused the server's URL or
// address, which no retry will change.
func refused(err error) bool {
	switch egress.ReasonOf(err) {
	case egress.ReasonForbiddenAddress, egress.ReasonUnresolvable, egress.ReasonBadURL, egress.ReasonBadScheme:
		return true
	}
	return false
}

// trackedTransport wraps the stdio transport to record, in the attempt of
// the call being written, that its message went out to the subprocess.
type trackedTransport struct{ sdk.Transport }

func (t trackedTransport) Connect(ctx context.Context) (sdk.Connection, error) {
	conn, err := t.Transport.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return trackedConn{conn}, nil
}

type trackedConn struct{ sdk.Connection }

func (c trackedConn) Write(ctx context.Context, msg jsonrpc.Message) error {
	err := c.Connection.Write(ctx, msg)
	// A failed write to the pipe means the subprocess is gone: a partial
	// line is not a message it could act on.
	if a := attemptFrom(ctx); a != nil && err == nil {
		a.mu.Lock()
		a.reached = true
		a.mu.Unlock()
	}
	return err
}
