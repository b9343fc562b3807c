// Package egress guards every outbound HTTP request to a URL that a
// workspace supplied: webhooks, HTTP tools, MCP servers, knowledge-base URL
// sources, variable resolvers. Such a URL is chosen by someone outside the
// operator's trust, so without a guard it could make the server call its own
// admin ports, the cloud metadata service or the private network behind it
// (server-side request forgery).
//
// A Policy refuses loopback, private, link-local, metadata and every other
// non-public address unless the operator allows it (HYPONEMA_EGRESS_ALLOW,
// read by ParseAllow). Policy.Client is the only way such requests should be
// made: it checks each address right before connecting, on every redirect
// too, ignores proxy settings from the environment, caps time, redirects and
// response size, and sends no credentials of the server's own.
// Policy.CheckURL checks a URL when it is saved, so that a workspace hears
// about a bad URL at once rather than at the first webhook.
//
// Refusals are *Error values with a stable Reason and a message that is safe
// to show to the workspace user.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults for the zero fields of a Policy.
const (
	DefaultTimeout          = 15 * time.Second
	DefaultMaxResponseBytes = 1 << 20
	DefaultMaxRedirects     = 5
)

// Policy says where outbound requests may go and how much they may cost.
// The zero Policy allows only public addresses, with the defaults above.
type Policy struct {
	// Allow lists addresses that may be reached although they are not
	// public, e.g. 127.0.0.1/32 for local development and tests.
	Allow []netip.Prefix
	// AllowHosts lists host names whose addresses are not checked at all:
	// exact names, case-insensitive, or "*.example.com" for every subdomain
	// (not example.com itself). Allowing a name trusts whoever controls its
	// DNS; prefer Allow where an address will do.
	AllowHosts []string
	// Timeout bounds a whole request, redirects and reading the body
	// included: zero means DefaultTimeout, negative means none (then the
	// caller's context must bound it, e.g. for a long-lived MCP stream).
	Timeout time.Duration
	// MaxResponseBytes caps each response body, after decompression:
	// zero means DefaultMaxResponseBytes, negative means no cap.
	MaxResponseBytes int64
	// MaxRedirects caps redirects followed: zero means
	// DefaultMaxRedirects; negative means none are followed and the
	// redirect response itself is returned (what a webhook sender wants).
	MaxRedirects int
	// Resolver looks up host names; nil means net.DefaultResolver. Tests
	// set it to make a name resolve where they need.
	Resolver Resolver
}

// Resolver looks up the addresses of a host name. *net.Resolver satisfies
// it. It is an interface so that tests can point a name at an address of
// their choice and still go through the real connect-time check.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ParseAllow parses HYPONEMA_EGRESS_ALLOW: comma-separated entries, each a
// CIDR prefix (127.0.0.1/32, ::1/128), a bare IP address (one address), a
// host name, or "*." and a domain for its subdomains. Empty entries are
// ignored. The error names every entry it could not read; a half-applied
// allow list would be worse than none, so nothing is returned with it.
// The other fields of the Policy keep their defaults.
func ParseAllow(s string) (Policy, error) {
	var p Policy
	var bad []string
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		if strings.Contains(entry, "/") {
			pfx, err := netip.ParsePrefix(entry)
			if err != nil || pfx.Addr().Zone() != "" {
				bad = append(bad, strconv.Quote(entry))
				continue
			}
			p.Allow = append(p.Allow, unmapPrefix(pfx))
			continue
		}
		if a, err := netip.ParseAddr(entry); err == nil && a.Zone() == "" {
			a = a.Unmap()
			p.Allow = append(p.Allow, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if h, ok := hostPattern(entry); ok {
			p.AllowHosts = append(p.AllowHosts, h)
			continue
		}
		bad = append(bad, strconv.Quote(entry))
	}
	if len(bad) > 0 {
		return Policy{}, fmt.Errorf("egress: HYPONEMA_EGRESS_ALLOW: not a CIDR, IP address or host name: %s", strings.Join(bad, ", "))
	}
	return p, nil
}

// unmapPrefix turns ::ffff:a.b.c.d/n into a.b.c.d/(n-96), since addresses
// are unmapped before they are matched.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// hostPattern normalizes a host name or "*." pattern, refusing anything
// that is not one, including names that read as legacy IP addresses
// ("127.1"), which would mean different things to different resolvers.
func hostPattern(s string) (string, bool) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	name := strings.TrimPrefix(s, "*.")
	if name == "" || len(name) > 253 {
		return "", false
	}
	labels := strings.Split(name, ".")
	if numberLike(labels[len(labels)-1]) {
		return "", false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return "", false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	return s, true
}

// hostAllowed reports whether host matches AllowHosts.
func (p Policy) hostAllowed(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, pat := range p.AllowHosts {
		pat = strings.TrimSuffix(strings.ToLower(pat), ".")
		if suffix, ok := strings.CutPrefix(pat, "*"); ok && strings.HasPrefix(suffix, ".") {
			if len(h) > len(suffix) && strings.HasSuffix(h, suffix) {
				return true
			}
		} else if h == pat {
			return true
		}
	}
	return false
}

// forbidden says which forbidden class a is in, or "" if the Policy lets
// outbound requests reach it.
func (p Policy) forbidden(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	for _, pfx := range p.Allow {
		if pfx.Contains(a) {
			return ""
		}
	}
	return classify(a)
}

// CheckAddr returns an *Error with Reason ReasonForbiddenAddress if
// outbound requests may not reach a, and nil if they may. It is for callers
// that connect by other means than Client.
func (p Policy) CheckAddr(a netip.Addr) error {
	if what := p.forbidden(a); what != "" {
		return &Error{Reason: ReasonForbiddenAddress, Msg: "the address is " + what + "; outbound requests may only go to public addresses"}
	}
	return nil
}

func forbiddenHost(host, what string) *Error {
	return &Error{
		Reason: ReasonForbiddenAddress,
		Msg:    fmt.Sprintf("host %q resolves to %s; outbound requests may only go to public addresses", host, what),
	}
}

// CheckURL checks a URL when a workspace saves it: an absolute http or https
// URL with a host and no user name or password, whose host is an allowed
// address or resolves to at least one. It returns an *Error: ReasonBadURL,
// ReasonBadScheme, ReasonForbiddenAddress, or ReasonUnresolvable (which a
// caller may choose to accept, for a host whose DNS is not set up yet).
//
// Passing CheckURL does not make later requests safe, since DNS can change
// in between; Client checks again at every connection.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &Error{Reason: ReasonBadURL, Msg: "not a valid URL", Err: err}
	}
	if err := checkScheme(u); err != nil {
		return err
	}
	switch {
	case u.Opaque != "":
		return &Error{Reason: ReasonBadURL, Msg: "the URL must be absolute, like https://example.com/path"}
	case u.User != nil:
		return &Error{Reason: ReasonBadURL, Msg: "the URL must not contain a user name or password; send credentials in headers"}
	case u.Hostname() == "":
		return &Error{Reason: ReasonBadURL, Msg: "the URL has no host"}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return &Error{Reason: ReasonBadURL, Msg: "the URL's port is not valid"}
		}
	}
	host := u.Hostname()
	if p.hostAllowed(host) {
		return nil
	}
	addrs, err := p.lookup(ctx, "ip", host)
	if err != nil {
		return err
	}
	var what string
	for _, a := range addrs {
		if what = p.forbidden(a); what == "" {
			return nil
		}
	}
	return forbiddenHost(host, what)
}

func checkScheme(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return nil
	case "":
		return &Error{Reason: ReasonBadURL, Msg: "the URL must be absolute, like https://example.com/path"}
	}
	return &Error{Reason: ReasonBadScheme, Msg: fmt.Sprintf("scheme %q is not allowed; use http or https", u.Scheme)}
}

// lookup returns host's addresses: itself if it is an IP address in any
// form (see parseHostIP), else what the Resolver says. network is "ip",
// "ip4" or "ip6".
func (p Policy) lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, isIP, err := parseHostIP(host); err != nil {
		return nil, err
	} else if isIP {
		return []netip.Addr{a}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err == nil && len(addrs) == 0 {
		err = fmt.Errorf("no addresses")
	}
	if err != nil {
		return nil, &Error{Reason: ReasonUnresolvable, Msg: fmt.Sprintf("host %q could not be resolved", host), Err: err}
	}
	return addrs, nil
}

func (p Policy) timeout() time.Duration {
	switch {
	case p.Timeout == 0:
		return DefaultTimeout
	case p.Timeout < 0:
		return 0
	}
	return p.Timeout
}

func (p Policy) maxResponseBytes() int64 {
	if p.MaxResponseBytes == 0 {
		return DefaultMaxResponseBytes
	}
	return p.MaxResponseBytes
}

func (p Policy) maxRedirects() int {
	if p.MaxRedirects == 0 {
		return DefaultMaxRedirects
	}
	return p.MaxRedirects
}
