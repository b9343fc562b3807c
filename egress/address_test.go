package egress

import (
	"net/netip"
	"strings"
	"testing"
)

// Pure classification: nothing here connects anywhere.
func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" for public
	}{
		// IPv4 public
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""},  // just below CGNAT
		{"100.128.0.0", ""},     // just above CGNAT
		{"172.15.255.255", ""},  // just below 172.16/12
		{"172.32.0.0", ""},      // just above
		{"169.253.255.255", ""}, // just below link-local
		{"198.17.255.255", ""},  // just below benchmarking
		{"198.20.0.0", ""},      // just above
		{"223.255.255.255", ""}, // last unicast before multicast
		{"11.0.0.0", ""},
		{"126.255.255.255", ""},
		{"128.0.0.0", ""},
		{"192.0.1.255", ""},
		{"192.169.0.0", ""},

		// IPv4 forbidden
		{"0.0.0.0", whatUnspecified},
		{"0.1.2.3", whatReserved},
		{"10.0.0.1", whatPrivate},
		{"10.255.255.255", whatPrivate},
		{"100.64.0.1", whatShared},
		{"100.100.100.200", whatShared},
		{"127.0.0.1", whatLoopback},
		{"127.0.0.2", whatLoopback},
		{"127.255.255.254", whatLoopback},
		{"169.254.169.254", whatMetadata},
		{"169.254.0.1", whatLinkLocal},
		{"169.254.170.2", whatLinkLocal}, // ECS task metadata
		{"172.16.0.1", whatPrivate},
		{"172.31.255.255", whatPrivate},
		{"192.0.0.1", whatReserved},
		{"192.0.2.1", whatDocumentation},
		{"192.88.99.1", whatReserved},
		{"192.168.1.1", whatPrivate},
		{"198.18.0.1", whatBenchmarking},
		{"198.19.255.255", whatBenchmarking},
		{"198.51.100.7", whatDocumentation},
		{"203.0.113.9", whatDocumentation},
		{"224.0.0.1", whatMulticast},
		{"239.255.255.250", whatMulticast},
		{"240.0.0.1", whatReserved},
		{"255.255.255.254", whatReserved},
		{"255.255.255.255", whatBroadcast},

		// IPv6 public
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2a00:1450:4001::1", ""},
		{"64:ff9b::808:808", ""},          // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},           // 6to4 of 8.8.8.8
		{"::ffff:8.8.8.8", ""},            // mapped public
		{"::ffff:0:808:808", ""},          // SIIT of 8.8.8.8
		{"2001:0:808:808::f7f7:f7f7", ""}, // Teredo, server and client 8.8.8.8

		// IPv6 forbidden
		{"::", whatUnspecified},
		{"::1", whatLoopback},
		{"::2", whatReserved},
		{"::127.0.0.1", whatReserved}, // IPv4-compatible
		{"fe80::1", whatLinkLocal},
		{"fe80::1%eth0", whatLinkLocal},
		{"febf:ffff::1", whatLinkLocal},
		{"fec0::1", whatReserved}, // site-local, deprecated
		{"fc00::1", whatPrivate},
		{"fd12:3456:789a::1", whatPrivate},
		{"fd00:ec2::254", whatMetadata},
		{"ff02::1", whatMulticast},
		{"ff05::1:3", whatMulticast},
		{"100::1", whatReserved},
		{"2001:2::1", whatBenchmarking},
		{"2001:db8::1", whatDocumentation},
		{"3fff::1", whatDocumentation},
		{"64:ff9b:1::1", whatPrivate},
		{"4000::1", whatReserved}, // outside 2000::/3

		// IPv4 inside IPv6
		{"::ffff:127.0.0.1", whatLoopback},
		{"::ffff:127.0.0.2", whatLoopback},
		{"::ffff:7f00:2", whatLoopback},
		{"::ffff:169.254.169.254", whatMetadata},
		{"::ffff:10.0.0.1", whatPrivate},
		{"::ffff:0.0.0.0", whatUnspecified},
		{"64:ff9b::127.0.0.1", whatLoopback + " embedded in an IPv6 address"},
		{"64:ff9b::a9fe:a9fe", whatMetadata + " embedded in an IPv6 address"},
		{"64:ff9b::10.1.2.3", whatPrivate + " embedded in an IPv6 address"},
		{"::ffff:0:7f00:1", whatLoopback + " embedded in an IPv6 address"}, // SIIT
		{"2002:7f00:1::1", whatLoopback + " embedded in an IPv6 address"},  // 6to4
		{"2002:a9fe:a9fe::", whatMetadata + " embedded in an IPv6 address"},
		{"2001:0:808:808::80ff:fffe", whatLoopback + " embedded in an IPv6 address"}, // Teredo client ^7f000001
		{"2001:0:a00:1::f7f7:f7f7", whatPrivate + " embedded in an IPv6 address"},    // Teredo server 10.0.0.1
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := classify(a); got != tt.want {
			t.Errorf("classify(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
	if got := classify(netip.Addr{}); got != whatReserved {
		t.Errorf("classify(zero Addr) = %q, want %q", got, whatReserved)
	}
}

func TestCheckAddrAllow(t *testing.T) {
	p := Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("fd00::/8")}}
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "fd00::5", "8.8.8.8"} {
		if err := p.CheckAddr(netip.MustParseAddr(s)); err != nil {
			t.Errorf("CheckAddr(%s) = %v, want nil", s, err)
		}
	}
	for _, s := range []string{"127.0.0.2", "::ffff:127.0.0.2", "::1", "64:ff9b::7f00:1", "fc00::1", "169.254.169.254"} {
		err := p.CheckAddr(netip.MustParseAddr(s))
		if ReasonOf(err) != ReasonForbiddenAddress {
			t.Errorf("CheckAddr(%s) = %v, want %s", s, err, ReasonForbiddenAddress)
		} else if strings.Contains(err.Error(), s) {
			t.Errorf("CheckAddr(%s) message %q names the address", s, err)
		}
	}
}

func TestParseHostIP(t *testing.T) {
	tests := []struct {
		host   string
		want   string // "" when not an IP
		badURL bool
	}{
		{"127.0.0.1", "127.0.0.1", false},
		{"::1", "::1", false},
		{"fe80::1%eth0", "fe80::1%eth0", false},
		{"::ffff:127.0.0.2", "::ffff:127.0.0.2", false},
		{"2130706433", "127.0.0.1", false},
		{"2130706434", "127.0.0.2", false},
		{"0x7f000001", "127.0.0.1", false},
		{"0X7F000002", "127.0.0.2", false},
		{"017700000001", "127.0.0.1", false},
		{"0x7f.0.0.1", "127.0.0.1", false},
		{"0x7f.1", "127.0.0.1", false},
		{"0177.0.0.1", "127.0.0.1", false},
		{"0177.0.0.02", "127.0.0.2", false},
		{"127.000.000.001", "127.0.0.1", false},
		{"127.1", "127.0.0.1", false},
		{"127.2", "127.0.0.2", false},
		{"127.0.1", "127.0.0.1", false},
		{"1.2.65535", "1.2.255.255", false},
		{"1.16777215", "1.255.255.255", false},
		{"127.0.0.1.", "127.0.0.1", false},
		{"2130706434.", "127.0.0.2", false},
		{"4294967295", "255.255.255.255", false},
		{"0", "0.0.0.0", false},
		{"0x", "0.0.0.0", false},
		{"169.254.43518", "169.254.169.254", false},

		{"example.com", "", false},
		{"1.2.3.example", "", false},
		{"localhost", "", false},
		{"0x7g.com", "", false},
		{"1e3", "", false},

		{"4294967296", "", true},
		{"0x100000000", "", true},
		{"1.2.3.4.5", "", true},
		{"256.0.0.1", "", true},
		{"1.256.0.1", "", true},
		{"1.2.65536", "", true},
		{"08.0.0.1", "", true},
		{"0x7g.0.0.1", "", true},
		{"example.123", "", true},
		{"1..2", "", true},
		{"0x7fg", "", false}, // not a number: a (bad) name for the resolver
	}
	for _, tt := range tests {
		a, isIP, err := parseHostIP(tt.host)
		switch {
		case tt.badURL:
			if ReasonOf(err) != ReasonBadURL {
				t.Errorf("parseHostIP(%q) = %v, %v, %v; want %s", tt.host, a, isIP, err, ReasonBadURL)
			}
		case tt.want == "":
			if isIP || err != nil {
				t.Errorf("parseHostIP(%q) = %v, %v, %v; want not an IP", tt.host, a, isIP, err)
			}
		default:
			if err != nil || !isIP || a != netip.MustParseAddr(tt.want) {
				t.Errorf("parseHostIP(%q) = %v, %v, %v; want %s", tt.host, a, isIP, err, tt.want)
			}
		}
	}
}
