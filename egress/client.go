package egress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Client returns an *http.Client for requests to workspace-supplied URLs.
// It keeps a connection pool, so make one per Policy and reuse it.
//
//   - It resolves names itself (through Policy.Resolver), connects only to
//     allowed addresses, and checks each address again in the dialer's
//     Control hook right before connect: the address checked is the address
//     connected to, so DNS rebinding between check and connect cannot slip
//     through. Every redirect to a new host opens a new connection, so
//     redirects pass the same check.
//   - Proxy settings from the environment are ignored: a proxy would connect
//     on our behalf, out of reach of the check.
//   - It follows at most MaxRedirects redirects, only to http and https.
//   - Requests are bounded by Timeout; bodies by MaxResponseBytes (reading
//     past the cap fails with ReasonTooLarge).
//   - It has no cookie jar and sets no headers of its own, and when a
//     redirect leaves the first request's origin (scheme, host and port)
//     it drops Authorization, Cookie and the proxy credentials from then
//     on. Go's own rule keeps them for the same host on another port and
//     for subdomains, which is too generous for a URL a workspace chose.
func (p Policy) Client() *http.Client {
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            p.dial,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport:     &transport{next: tr, max: p.maxResponseBytes()},
		CheckRedirect: p.checkRedirect,
		Timeout:       p.timeout(),
	}
}

// dial resolves address's host, drops the addresses the Policy forbids and
// connects to the first of the rest that answers. Hosts in AllowHosts skip
// the checks.
func (p Policy) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("egress: bad port in %q", address)
	}
	ipNet := "ip"
	switch network {
	case "tcp4":
		ipNet = "ip4"
	case "tcp6":
		ipNet = "ip6"
	}
	addrs, err := p.lookup(ctx, ipNet, host)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Control: p.control}
	if p.hostAllowed(host) {
		d.Control = nil
	} else {
		allowed := addrs[:0:0]
		var what string
		for _, a := range addrs {
			if w := p.forbidden(a); w != "" {
				what = w
				continue
			}
			allowed = append(allowed, a)
		}
		if len(allowed) == 0 {
			return nil, forbiddenHost(host, what)
		}
		addrs = allowed
	}
	var first error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(a.Unmap(), uint16(port)).String())
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// control is the last word: it sees the address the socket is about to
// connect to, whatever resolved it.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &Error{Reason: ReasonForbiddenAddress, Msg: "the connection's address could not be checked", Err: err}
	}
	if what := p.forbidden(ap.Addr()); what != "" {
		return &Error{Reason: ReasonForbiddenAddress, Msg: "the host resolves to " + what + "; outbound requests may only go to public addresses"}
	}
	return nil
}

func (p Policy) checkRedirect(req *http.Request, via []*http.Request) error {
	max := p.maxRedirects()
	if max < 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > max {
		return &Error{Reason: ReasonTooManyRedirects, Msg: fmt.Sprintf("stopped after %d redirects", max)}
	}
	if err := checkScheme(req.URL); err != nil {
		return err
	}
	// Go has already copied the first request's headers onto req; strip the
	// credentials if this or any earlier hop left the first origin, so a
	// hop through another origin cannot bounce them on.
	first := via[0].URL
	for _, r := range append(via[1:], req) {
		if !sameOrigin(first.Scheme, first.Host, r.URL.Scheme, r.URL.Host) {
			for _, h := range []string{"Authorization", "Cookie", "Cookie2", "Proxy-Authorization"} {
				req.Header.Del(h)
			}
			break
		}
	}
	return nil
}

func sameOrigin(scheme1, host1, scheme2, host2 string) bool {
	norm := func(scheme, host string) string {
		if _, _, err := net.SplitHostPort(host); err != nil {
			if scheme == "https" {
				host = net.JoinHostPort(host, "443")
			} else {
				host = net.JoinHostPort(host, "80")
			}
		}
		return scheme + "://" + host
	}
	return strings.EqualFold(norm(scheme1, host1), norm(scheme2, host2))
}

// transport refuses schemes other than http and https with a typed error
// and caps each response body.
type transport struct {
	next *http.Transport
	max  int64
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkScheme(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.next.RoundTrip(req)
	// A 101 body is the upgraded connection itself, not a body to cap.
	if err != nil || t.max < 0 || resp.StatusCode == http.StatusSwitchingProtocols {
		return resp, err
	}
	resp.Body = &limitedBody{rc: resp.Body, max: t.max}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the pool.
func (t *transport) CloseIdleConnections() { t.next.CloseIdleConnections() }

// limitedBody fails a read that goes past max, rather than truncating
// silently as io.LimitReader would: a cut-off JSON or page must not pass as
// whole.
type limitedBody struct {
	rc   io.ReadCloser
	max  int64
	read int64
}

var _ io.ReadCloser = (*limitedBody)(nil)

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.read > b.max {
		return 0, b.tooLarge()
	}
	// Ask for at most one byte past the cap: enough to tell that there is
	// more, without pulling a large body through.
	if left := b.max - b.read + 1; int64(len(p)) > left {
		p = p[:left]
	}
	n, err := b.rc.Read(p)
	b.read += int64(n)
	if b.read > b.max {
		return n - int(b.read-b.max), b.tooLarge()
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

func (b *limitedBody) tooLarge() error {
	return &Error{Reason: ReasonTooLarge, Msg: fmt.Sprintf("the response body is larger than %d bytes", b.max)}
}
