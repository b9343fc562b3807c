package egress

import (
	"net/netip"
	"strconv"
	"strings"
)

// addrClass is a range of addresses that outbound requests may not reach,
// with the words that say so to a user.
type addrClass struct {
	prefix netip.Prefix
	what   string
}

const (
	whatLoopback      = "a loopback address"
	whatPrivate       = "a private network address"
	whatLinkLocal     = "a link-local address"
	whatMetadata      = "a cloud metadata address"
	whatShared        = "a shared (carrier-grade NAT) address"
	whatUnspecified   = "an unspecified address"
	whatMulticast     = "a multicast address"
	whatBroadcast     = "a broadcast address"
	whatBenchmarking  = "a benchmarking address"
	whatDocumentation = "a documentation address"
	whatReserved      = "a reserved address"
)

func mustClasses(pairs ...string) []addrClass {
	cs := make([]addrClass, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		cs = append(cs, addrClass{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return cs
}

// The first matching entry wins, so more specific ranges come first. The
// IPv4 list follows the IANA special-purpose registry, leaving out nothing
// that is not globally reachable.
var v4Classes = mustClasses(
	"0.0.0.0/32", whatUnspecified,
	"0.0.0.0/8", whatReserved, // "this network"; Linux connects 0.x to the local host
	"10.0.0.0/8", whatPrivate,
	"100.64.0.0/10", whatShared, // also holds Alibaba Cloud's metadata, 100.100.100.200
	"127.0.0.0/8", whatLoopback,
	"169.254.169.254/32", whatMetadata,
	"169.254.0.0/16", whatLinkLocal,
	"172.16.0.0/12", whatPrivate,
	"192.0.0.0/24", whatReserved, // IETF protocol assignments
	"192.0.2.0/24", whatDocumentation,
	"192.88.99.0/24", whatReserved, // former 6to4 relay anycast
	"192.168.0.0/16", whatPrivate,
	"198.18.0.0/15", whatBenchmarking,
	"198.51.100.0/24", whatDocumentation,
	"203.0.113.0/24", whatDocumentation,
	"224.0.0.0/4", whatMulticast,
	"255.255.255.255/32", whatBroadcast,
	"240.0.0.0/4", whatReserved,
)

// IPv6 outside these is refused unless it is global unicast (2000::/3) or
// NAT64; ranges that embed an IPv4 address are handled in classify.
var v6Classes = mustClasses(
	"::/128", whatUnspecified,
	"::1/128", whatLoopback,
	"::/96", whatReserved, // IPv4-compatible, deprecated
	"64:ff9b:1::/48", whatPrivate, // local-use NAT64 (RFC 8215)
	"100::/64", whatReserved, // discard-only
	"2001:2::/48", whatBenchmarking,
	"2001:db8::/32", whatDocumentation,
	"3fff::/20", whatDocumentation,
	"fd00:ec2::254/128", whatMetadata, // AWS IMDS over IPv6
	"fc00::/7", whatPrivate,
	"fe80::/10", whatLinkLocal,
	"ff00::/8", whatMulticast,
)

var (
	globalUnicast6 = netip.MustParsePrefix("2000::/3")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	siit           = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated (RFC 2765)
	sixToFour      = netip.MustParsePrefix("2002::/16")
	teredo         = netip.MustParsePrefix("2001::/32")
)

// classify says which forbidden class a holds ("a loopback address"), or ""
// if a is public. It looks through the IPv6 forms that carry an IPv4
// address to a gateway that would forward to it (mapped, NAT64, SIIT, 6to4,
// Teredo), because refusing 127.0.0.1 means nothing if ::ffff:127.0.0.1 or
// 64:ff9b::7f00:1 gets through.
func classify(a netip.Addr) string {
	a = a.WithZone("").Unmap()
	if a.Is4() {
		for _, c := range v4Classes {
			if c.prefix.Contains(a) {
				return c.what
			}
		}
		return ""
	}
	if !a.Is6() {
		return whatReserved // the invalid zero Addr
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), siit.Contains(a):
		return embedded(b[12], b[13], b[14], b[15])
	case sixToFour.Contains(a):
		return embedded(b[2], b[3], b[4], b[5])
	case teredo.Contains(a):
		if w := embedded(b[4], b[5], b[6], b[7]); w != "" { // the Teredo server
			return w
		}
		return embedded(^b[12], ^b[13], ^b[14], ^b[15]) // the client, obfuscated
	}
	for _, c := range v6Classes {
		if c.prefix.Contains(a) {
			return c.what
		}
	}
	if !globalUnicast6.Contains(a) {
		return whatReserved
	}
	return ""
}

func embedded(b0, b1, b2, b3 byte) string {
	if w := classify(netip.AddrFrom4([4]byte{b0, b1, b2, b3})); w != "" {
		return w + " embedded in an IPv6 address"
	}
	return ""
}

// parseHostIP reads host as an IP address in every form that a URL parser,
// browser or getaddrinfo(3) might accept: standard IPv4 and IPv6 (with a
// zone), and the legacy inet_aton forms (2130706433, 0x7f.0.0.1,
// 0177.0.0.1, 127.1). Go's own parsers reject the legacy forms, but the
// system resolver may turn "2130706434" into 127.0.0.2, so the guard must
// read them itself rather than hand them to a resolver.
//
// isIP is false if host is a name to resolve. A host whose last label is a
// number but that is not a valid address (1.2.3.4.5, 256.1.1.1) is an
// error: no real domain ends in a number label, and resolvers disagree on
// what such a host means.
func parseHostIP(host string) (addr netip.Addr, isIP bool, err error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true, nil
	}
	h := strings.TrimSuffix(host, ".")
	parts := strings.Split(h, ".")
	if !numberLike(parts[len(parts)-1]) {
		return netip.Addr{}, false, nil
	}
	bad := &Error{Reason: ReasonBadURL, Msg: "host " + strconv.Quote(host) + " is not a valid IP address"}
	if len(parts) > 4 {
		return netip.Addr{}, true, bad
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseLegacyNumber(p)
		last := i == len(parts)-1
		switch {
		case !ok:
			return netip.Addr{}, true, bad
		case !last && n > 0xff:
			return netip.Addr{}, true, bad
		case last && n >= 1<<(8*(5-len(parts))):
			return netip.Addr{}, true, bad
		}
		if last {
			v |= n
		} else {
			v |= n << (8 * (3 - i))
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true, nil
}

// numberLike reports whether a label reads as a number (decimal, or hex
// with 0x), which is how the WHATWG URL standard decides that a host is
// meant as IPv4.
func numberLike(s string) bool {
	if s == "" {
		return false
	}
	if rest, ok := cutHexPrefix(s); ok {
		s = rest
		for _, c := range s {
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
		return true
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseLegacyNumber reads one part of a legacy IPv4 address: 0x… is hex, a
// leading 0 is octal, anything else decimal, each up to 32 bits.
func parseLegacyNumber(s string) (uint64, bool) {
	base := 10
	if rest, ok := cutHexPrefix(s); ok {
		if rest == "" {
			return 0, true // "0x" alone is 0 to WHATWG and inet_aton alike
		}
		s, base = rest, 16
	} else if len(s) > 1 && s[0] == '0' {
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 32)
	return n, err == nil
}

func cutHexPrefix(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		return s[2:], true
	}
	return s, false
}
