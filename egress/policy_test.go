package egress

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeResolver answers from a table, so that tests can point names at
// loopback addresses (or, for CheckURL, which never connects, anywhere).
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	ss, ok := f[strings.ToLower(strings.TrimSuffix(host, "."))]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ss {
		a := netip.MustParseAddr(s)
		if network == "ip4" && !a.Is4() || network == "ip6" && !a.Is6() {
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func TestParseAllow(t *testing.T) {
	p, err := ParseAllow(" 127.0.0.1/32, ::1/128,10.1.2.3,, *.Example.COM , api.internal., ::ffff:127.0.0.0/104, 192.168.1.7/16")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.1.2.3/32"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("192.168.0.0/16"),
	}
	if !slices.Equal(p.Allow, want) {
		t.Errorf("Allow = %v, want %v", p.Allow, want)
	}
	if wantHosts := []string{"*.example.com", "api.internal"}; !slices.Equal(p.AllowHosts, wantHosts) {
		t.Errorf("AllowHosts = %v, want %v", p.AllowHosts, wantHosts)
	}
	if p.Timeout != 0 || p.MaxResponseBytes != 0 || p.MaxRedirects != 0 {
		t.Errorf("ParseAllow set limits: %+v", p)
	}

	if p, err := ParseAllow(""); err != nil || len(p.Allow)+len(p.AllowHosts) != 0 {
		t.Errorf(`ParseAllow("") = %+v, %v`, p, err)
	}

	bad := []string{"127.0.0.1/33", "foo bar", "*", "127.1", "http://x", "fe80::1%eth0", "*.", "a..b", "2130706433", "-"}
	_, err = ParseAllow("127.0.0.1/32," + strings.Join(bad, ","))
	if err == nil {
		t.Fatal("ParseAllow accepted bad entries")
	}
	for _, b := range bad {
		if !strings.Contains(err.Error(), `"`+b+`"`) {
			t.Errorf("error %q does not name %q", err, b)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	p := Policy{AllowHosts: []string{"api.internal", "*.corp.test", "Mixed.Case"}}
	for _, h := range []string{"api.internal", "API.Internal.", "a.corp.test", "a.b.corp.test", "mixed.case"} {
		if !p.hostAllowed(h) {
			t.Errorf("hostAllowed(%q) = false", h)
		}
	}
	for _, h := range []string{"corp.test", "xcorp.test", "api.internal.evil", "evil-api.internal", "internal", "127.0.0.1", ""} {
		if p.hostAllowed(h) {
			t.Errorf("hostAllowed(%q) = true", h)
		}
	}
}

// CheckURL never connects, so the fake resolver may name any address here.
func TestCheckURL(t *testing.T) {
	resolver := fakeResolver{
		"public.test":       {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"loop.test":         {"127.0.0.2"},
		"both-private.test": {"10.0.0.1", "fd00::1"},
		"mixed.test":        {"127.0.0.1", "93.184.215.14"},
		"metadata.test":     {"169.254.169.254"},
		"corp.test":         {"10.0.0.5"},
		"empty.test":        {},
	}
	open := Policy{Resolver: resolver}
	dev := Policy{Resolver: resolver, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, AllowHosts: []string{"*.corp.test"}}

	tests := []struct {
		p    Policy
		url  string
		want string // Reason, or "" for accepted
	}{
		{open, "https://public.test/hook?x=1", ""},
		{open, "HTTP://PUBLIC.TEST:8443/", ""},
		{open, "http://8.8.8.8/", ""},
		{open, "http://134744072/", ""}, // 8.8.8.8 in decimal
		{open, "http://[2606:4700:4700::1111]/", ""},
		{open, "http://mixed.test/", ""}, // one public address is enough here; the dial skips the other

		{open, "ftp://public.test/file", ReasonBadScheme},
		{open, "file:///etc/passwd", ReasonBadScheme},
		{open, "gopher://public.test/", ReasonBadScheme},
		{open, "javascript:alert(1)", ReasonBadScheme},
		{open, "ws://public.test/", ReasonBadScheme},
		{open, "/relative/path", ReasonBadURL},
		{open, "public.test/hook", ReasonBadURL},
		{open, "http://", ReasonBadURL},
		{open, "http:opaque", ReasonBadURL},
		{open, "http://user:pw@public.test/", ReasonBadURL},
		{open, "http://user@public.test/", ReasonBadURL},
		{open, "http://public.test:0/", ReasonBadURL},
		{open, "http://public.test:99999/", ReasonBadURL},
		{open, "http://public.test:80x/", ReasonBadURL},
		{open, "http://[::1/", ReasonBadURL},
		{open, "http://1.2.3.4.5/", ReasonBadURL},
		{open, "http://256.1.1.1/", ReasonBadURL},
		{open, "http://0x100000000/", ReasonBadURL},

		{open, "http://127.0.0.1/", ReasonForbiddenAddress},
		{open, "http://127.0.0.1.:8080/", ReasonForbiddenAddress},
		{open, "http://2130706433/", ReasonForbiddenAddress},
		{open, "http://2130706434:8080/", ReasonForbiddenAddress},
		{open, "http://0x7f000001/", ReasonForbiddenAddress},
		{open, "http://0x7f.0.0.1/", ReasonForbiddenAddress},
		{open, "http://0177.0.0.1/", ReasonForbiddenAddress},
		{open, "http://017700000001/", ReasonForbiddenAddress},
		{open, "http://127.1/", ReasonForbiddenAddress},
		{open, "http://0/", ReasonForbiddenAddress},
		{open, "http://%31%32%37.0.0.1/", ReasonBadURL}, // url.Parse refuses escapes in an IP-like host
		{open, "http://[::1]:8080/", ReasonForbiddenAddress},
		{open, "http://[::ffff:127.0.0.1]/", ReasonForbiddenAddress},
		{open, "http://[::ffff:7f00:1]/", ReasonForbiddenAddress},
		{open, "http://[64:ff9b::a9fe:a9fe]/", ReasonForbiddenAddress},
		{open, "http://[fe80::1%25eth0]/", ReasonForbiddenAddress},
		{open, "http://169.254.169.254/latest/meta-data/", ReasonForbiddenAddress},
		{open, "http://169.254.43518/", ReasonForbiddenAddress},
		{open, "http://[fd00:ec2::254]/", ReasonForbiddenAddress},
		{open, "http://10.0.0.1/", ReasonForbiddenAddress},
		{open, "http://100.100.100.200/", ReasonForbiddenAddress},
		{open, "http://loop.test/", ReasonForbiddenAddress},
		{open, "http://LOOP.test./", ReasonForbiddenAddress},
		{open, "http://both-private.test/", ReasonForbiddenAddress},
		{open, "http://metadata.test/", ReasonForbiddenAddress},
		{open, "https://nx.test/", ReasonUnresolvable},
		{open, "https://empty.test/", ReasonUnresolvable},

		{dev, "http://127.0.0.1:8080/", ""},
		{dev, "http://2130706433:8080/", ""},
		{dev, "http://[::ffff:127.0.0.1]/", ""},
		{dev, "http://api.corp.test/", ""}, // allowed by name: not even resolved
		{dev, "http://127.0.0.2/", ReasonForbiddenAddress},
		{dev, "http://2130706434/", ReasonForbiddenAddress},
		{dev, "http://corp.test/", ReasonForbiddenAddress}, // *.corp.test is not corp.test
		{dev, "ftp://api.corp.test/", ReasonBadScheme},
	}
	for _, tt := range tests {
		err := tt.p.CheckURL(context.Background(), tt.url)
		if got := ReasonOf(err); got != tt.want || (tt.want == "") != (err == nil) {
			t.Errorf("CheckURL(%q) = %v (reason %q), want reason %q", tt.url, err, got, tt.want)
		}
	}
}

func TestCheckURLMessage(t *testing.T) {
	p := Policy{Resolver: fakeResolver{"loop.test": {"127.0.0.2"}, "meta.test": {"169.254.169.254"}}}
	err := p.CheckURL(context.Background(), "https://loop.test/hook")
	if err == nil || !strings.Contains(err.Error(), "loopback address") || strings.Contains(err.Error(), "127.0.0.2") {
		t.Errorf("message %q: want the class, not the address", err)
	}
	err = p.CheckURL(context.Background(), "https://meta.test/hook")
	if err == nil || !strings.Contains(err.Error(), "metadata address") || strings.Contains(err.Error(), "169.254") {
		t.Errorf("message %q: want the class, not the address", err)
	}
	err = p.CheckURL(context.Background(), "ftp://loop.test/")
	if err == nil || !strings.Contains(err.Error(), `"ftp"`) {
		t.Errorf("message %q: want the scheme named", err)
	}
}

func TestCheckURLContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A real resolver with a cancelled context: the cause stays reachable.
	err := Policy{}.CheckURL(ctx, "https://unresolvable.invalid/")
	if ReasonOf(err) != ReasonUnresolvable {
		t.Fatalf("CheckURL with cancelled context = %v", err)
	}
}
