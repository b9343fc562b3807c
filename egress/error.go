package egress

import "errors"

// Reasons an outbound request or URL is refused. They are stable, so callers
// may map them to their own error codes and users may rely on them.
const (
	ReasonBadURL           = "bad_url"            // not an absolute http(s) URL with a host, or it has a user name or password
	ReasonBadScheme        = "bad_scheme"         // a scheme other than http or https, including on a redirect
	ReasonForbiddenAddress = "forbidden_address"  // the host is, or resolves to, a non-public address
	ReasonUnresolvable     = "unresolvable"       // the host name did not resolve (CheckURL only)
	ReasonTooLarge         = "too_large"          // the response body is over Policy.MaxResponseBytes
	ReasonTooManyRedirects = "too_many_redirects" // more redirects than Policy.MaxRedirects
)

// Error is why the guard refused a URL, a connection or a response. Its
// message is written for the workspace user who supplied the URL: it names
// the class of address ("a loopback address"), never the address a name
// resolved to or anything else about the server's network. Err may hold such
// details, for logs only.
type Error struct {
	// Reason is one of the Reason constants.
	Reason string
	// Msg is safe to show to the workspace user.
	Msg string
	// Err is the underlying cause, if any (e.g. a resolver error). Log it;
	// never show it.
	Err error
}

// Error returns Msg: it is safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying cause, so that errors.Is sees through to,
// for example, context.DeadlineExceeded.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *Error in err's chain, or "" if
// there is none. Errors from the Client arrive wrapped in *url.Error and
// *net.OpError; this saves every caller the errors.As dance.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
