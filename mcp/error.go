package mcp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/hyponema/hyponema/egress"
)

// Kinds of failure. They are stable, so callers may map them to their own
// error codes.
const (
	// KindUnreachable: the server could not be reached (connection refused,
	// name not resolved, subprocess not started), so nothing ran.
	KindUnreachable = "unreachable"
	// KindForbidden: the egress guard refused the server's address.
	KindForbidden = "forbidden"
	// KindProtocol: the server answered, but with an error (an HTTP error
	// status or a JSON-RPC error) or not as MCP says it should.
	KindProtocol = "protocol"
	// KindToolNotFound: the server has no tool by that name.
	KindToolNotFound = "tool_not_found"
	// KindInterrupted: the request reached the server but the connection
	// broke before the answer came back. A call may or may not have run
	// (MayHaveRun); it is not retried, since running a tool twice could be
	// worse than not knowing.
	KindInterrupted = "interrupted"
	// KindTimeout: CallTimeout or the caller's deadline passed. A call
	// that had reached the server may or may not have run (MayHaveRun).
	KindTimeout = "timeout"
	// KindCanceled: the caller's context was canceled.
	KindCanceled = "canceled"
	// KindInvalid: a bad configuration or bad arguments; nothing was sent.
	KindInvalid = "invalid"
	// KindClosed: the Client was closed.
	KindClosed = "closed"
)

// Error is how a Client fails. Msg is written for the workspace user who
// configured the server and never holds the configured header values or the
// URL's query; Error() adds the cause for logs, with those redacted.
type Error struct {
	// Kind is one of the Kind constants.
	Kind string
	// Msg says what happened, safe to show.
	Msg string
	// Status is the HTTP status that the server answered, if that is the
	// failure.
	Status int
	// MayHaveRun reports that a tools/call had reached the server when it
	// failed, so the tool may have run.
	MayHaveRun bool
	// Err is the cause, for errors.Is and errors.As; its own text may hold
	// the URL (with its query). Error() gives it redacted.
	Err error

	detail string // Err's text, redacted
}

// Error returns Msg and the redacted cause.
func (e *Error) Error() string {
	if e.detail == "" {
		return "mcp: " + e.Msg
	}
	return "mcp: " + e.Msg + ": " + e.detail
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or "" if
// there is none.
func KindOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// Operations, for the words of an error.
const (
	opConnect = "connect"
	opList    = "list"
	opCall    = "call"
)

// classify turns what the SDK returned into an *Error, judging by what a
// (which may be nil) saw on the wire. ctx is the operation's context.
func (c *Client) classify(ctx context.Context, op string, a *attempt, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	reached, gone, status := a.snapshot()
	what := map[string]string{opConnect: "initialising a session with the MCP server", opList: "listing the MCP server's tools", opCall: "calling the MCP tool"}[op]
	e = &Error{Err: err}
	if err != nil {
		e.detail = c.redact(err.Error())
	}
	switch {
	case c.isClosed():
		e.Kind, e.Msg = KindClosed, "the MCP client is closed"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.Kind, e.Msg = KindTimeout, what+" took too long"
		if op == opCall && reached {
			e.MayHaveRun = true
			e.Msg += "; the tool may or may not have run"
		}
	case errors.Is(err, context.Canceled) || ctx.Err() != nil:
		e.Kind, e.Msg = KindCanceled, what+" was canceled"
		if op == opCall && reached {
			e.MayHaveRun = true
			e.Msg += "; the tool may or may not have run"
		}
	case egress.ReasonOf(err) == egress.ReasonForbiddenAddress || egress.ReasonOf(err) == egress.ReasonBadScheme || egress.ReasonOf(err) == egress.ReasonBadURL:
		e.Kind, e.Msg = KindForbidden, "the MCP server may not be reached: "+egressMsg(err)
	case egress.ReasonOf(err) == egress.ReasonUnresolvable:
		e.Kind, e.Msg = KindUnreachable, "the MCP server could not be reached: "+egressMsg(err)
	case serverError(err) != nil:
		we := serverError(err)
		e.Kind, e.Status = KindProtocol, status
		if op == opCall && we.Code == jsonrpc.CodeInvalidParams && looksNotFound(we.Message) {
			e.Kind = KindToolNotFound
		}
		e.Msg = "the MCP server returned an error: " + c.redact(truncate(we.Message, 300))
	case egress.ReasonOf(err) == egress.ReasonTooLarge:
		e.Kind, e.Msg = KindProtocol, "the MCP server's answer is too large: "+egressMsg(err)
		e.MayHaveRun = op == opCall
	case status >= 400:
		e.Kind, e.Status, e.Msg = KindProtocol, status, fmt.Sprintf("the MCP server answered with HTTP status %d", status)
	case gone && !reached:
		e.Kind, e.Msg = KindProtocol, "the MCP server did not recognise the session it had just made"
	case !reached:
		e.Kind, e.Msg = KindUnreachable, "the MCP server could not be reached"
		if op == opCall {
			e.Msg += "; the tool did not run"
		}
	default:
		e.Kind, e.Msg = KindInterrupted, "the connection to the MCP server broke while "+what
		if op == opCall {
			e.MayHaveRun = true
			e.Msg += "; the tool may or may not have run"
		}
	}
	return e
}

// serverError returns the JSON-RPC error that the server sent, if err holds
// one. The SDK also wraps transport failures in a JSON-RPC error of its
// own ("rejected by transport", code -32005), which is not the server's.
func serverError(err error) *jsonrpc.Error {
	var found *jsonrpc.Error
	var walk func(error) bool
	walk = func(err error) bool {
		if err == nil {
			return false
		}
		if we, ok := err.(*jsonrpc.Error); ok && we.Code != codeRejected {
			found = we
			return true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			return walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	walk(err)
	return found
}

// codeRejected is the SDK's internal "rejected by transport" code.
const codeRejected = -32005

func looksNotFound(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "not found") || strings.Contains(m, "unknown tool") || strings.Contains(m, "no such tool")
}

// egressMsg is the message of the egress refusal in err, which is written
// to be shown.
func egressMsg(err error) string {
	var e *egress.Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return ""
}

func (c *Client) redact(s string) string { return c.redactor.Replace(s) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
