package egress

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema/internal/loopbacktest"
)

// Every test here talks only to loopback servers. 127.0.0.1 is allowed, as
// HYPONEMA_EGRESS_ALLOW would allow it for local development; 127.0.0.2 is
// the stand-in for everything that must stay out of reach.

// server is a local HTTP server that counts the requests it gets.
type server struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

// serve starts h on addr ("127.0.0.1:0", "127.0.0.2:0" …), counting the
// requests.
func serve(t *testing.T, addr string, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = loopbacktest.Serve(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

func devPolicy() Policy {
	return Policy{
		Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Resolver: fakeResolver{
			"api.test":    {"127.0.0.1"},
			"evil.test":   {"127.0.0.2"},
			"evil6.test":  {"::ffff:127.0.0.2"},
			"mixed.test":  {"127.0.0.2", "127.0.0.1"},
			"allowed.dev": {"127.0.0.2"},
		},
	}
}

func get(t *testing.T, c *http.Client, url string) (string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestClientAllowed(t *testing.T) {
	s := serve(t, "127.0.0.1:0", ok)
	c := devPolicy().Client()
	for _, u := range []string{s.URL, "http://api.test:" + s.port + "/", "http://2130706433:" + s.port + "/", "http://127.1:" + s.port + "/"} {
		if body, err := get(t, c, u); err != nil || body != "ok" {
			t.Errorf("GET %s = %q, %v", u, body, err)
		}
	}
}

func TestClientRefusesForbiddenAddresses(t *testing.T) {
	target := serve(t, "127.0.0.2:0", ok)
	p := target.port

	// Without the guard every one of these reaches the target: the refusals
	// below are the guard's doing, not an unreachable address.
	if body, err := get(t, &http.Client{}, "http://127.0.0.2:"+p+"/"); err != nil || body != "ok" {
		t.Fatalf("plain client cannot reach the target: %q, %v", body, err)
	}
	lax := devPolicy()
	lax.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, u := range []string{"http://2130706434:" + p + "/", "http://0x7f000002:" + p + "/", "http://127.2:" + p + "/", "http://0177.0.0.02:" + p + "/"} {
		if body, err := get(t, lax.Client(), u); err != nil || body != "ok" {
			t.Fatalf("GET %s with 127/8 allowed = %q, %v; want the target", u, body, err)
		}
	}
	target.hits.Store(0)

	c := devPolicy().Client()
	for _, u := range []string{
		"http://127.0.0.2:" + p + "/",
		"http://127.0.0.2.:" + p + "/",
		"http://[::ffff:127.0.0.2]:" + p + "/",
		"http://[::ffff:7f00:2]:" + p + "/",
		"http://2130706434:" + p + "/",
		"http://0x7f000002:" + p + "/",
		"http://0x7f.0.0.2:" + p + "/",
		"http://0177.0.0.02:" + p + "/",
		"http://127.2:" + p + "/",
		"http://127.0.2:" + p + "/",
		"http://evil.test:" + p + "/",
		"http://evil6.test:" + p + "/",
		"http://[::1]:" + p + "/",
		"http://localhost:" + p + "/", // real resolver: 127.0.0.1 is allowed but nothing listens there on this port, ::1 is refused
	} {
		_, err := get(t, c, u)
		if u == "http://localhost:"+p+"/" {
			if err == nil {
				t.Errorf("GET %s succeeded", u)
			}
			continue
		}
		if ReasonOf(err) != ReasonForbiddenAddress {
			t.Errorf("GET %s = %v, want %s", u, err, ReasonForbiddenAddress)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("target got %d requests", n)
	}
}

// A name with a forbidden and an allowed address: the forbidden one is never
// dialled, even when something listens there on the same port.
func TestClientSkipsForbiddenOfMany(t *testing.T) {
	good := serve(t, "127.0.0.1:0", ok)
	bad := serve(t, "127.0.0.2:"+good.port, ok)
	body, err := get(t, devPolicy().Client(), "http://mixed.test:"+good.port+"/")
	if err != nil || body != "ok" {
		t.Fatalf("GET = %q, %v", body, err)
	}
	if good.hits.Load() != 1 || bad.hits.Load() != 0 {
		t.Errorf("hits: allowed %d, forbidden %d", good.hits.Load(), bad.hits.Load())
	}
}

func TestClientAllowHosts(t *testing.T) {
	target := serve(t, "127.0.0.2:0", ok)
	p := devPolicy()
	p.AllowHosts = []string{"*.dev", "api.test"}
	if body, err := get(t, p.Client(), "http://allowed.dev:"+target.port+"/"); err != nil || body != "ok" {
		t.Errorf("GET allowed host = %q, %v", body, err)
	}
	if _, err := get(t, p.Client(), "http://evil.test:"+target.port+"/"); ReasonOf(err) != ReasonForbiddenAddress {
		t.Errorf("GET other host = %v", err)
	}
}

// The connect-time check, called as the dialer calls it.
func TestControl(t *testing.T) {
	p := devPolicy()
	for _, a := range []string{"127.0.0.2:80", "[::ffff:127.0.0.2]:80", "[::1]:443", "169.254.169.254:80", "10.0.0.1:80", "[fe80::1%eth0]:80", "garbage"} {
		if err := p.control("tcp", a, nil); ReasonOf(err) != ReasonForbiddenAddress {
			t.Errorf("control(%s) = %v", a, err)
		}
	}
	for _, a := range []string{"127.0.0.1:80", "[::ffff:127.0.0.1]:80", "8.8.8.8:53"} {
		if err := p.control("tcp", a, nil); err != nil {
			t.Errorf("control(%s) = %v", a, err)
		}
	}
}

func TestClientRedirects(t *testing.T) {
	target := serve(t, "127.0.0.2:0", ok)
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-forbidden":
			http.Redirect(w, r, "http://127.0.0.2:"+target.port+"/", http.StatusFound)
		case "/to-forbidden-name":
			http.Redirect(w, r, "http://evil.test:"+target.port+"/", http.StatusFound)
		case "/to-ftp":
			http.Redirect(w, r, "ftp://127.0.0.1/file", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/chain3":
			http.Redirect(w, r, "/chain2", http.StatusFound)
		case "/chain2":
			http.Redirect(w, r, "/chain1", http.StatusFound)
		case "/chain1":
			http.Redirect(w, r, "/", http.StatusFound)
		default:
			ok(w, r)
		}
	})
	c := devPolicy().Client()
	for path, want := range map[string]string{
		"/to-forbidden":      ReasonForbiddenAddress,
		"/to-forbidden-name": ReasonForbiddenAddress,
		"/to-ftp":            ReasonBadScheme,
		"/loop":              ReasonTooManyRedirects,
	} {
		if _, err := get(t, c, s.URL+path); ReasonOf(err) != want {
			t.Errorf("GET %s = %v, want %s", path, err, want)
		}
	}
	if n := target.hits.Load(); n != 0 {
		t.Errorf("forbidden target got %d requests", n)
	}
	s.hits.Store(0)
	if _, err := get(t, c, s.URL+"/loop"); err == nil || s.hits.Load() != DefaultMaxRedirects+1 {
		t.Errorf("loop: %d requests, want %d", s.hits.Load(), DefaultMaxRedirects+1)
	}

	p := devPolicy()
	p.MaxRedirects = 3
	if body, err := get(t, p.Client(), s.URL+"/chain3"); err != nil || body != "ok" {
		t.Errorf("3 redirects with MaxRedirects 3 = %q, %v", body, err)
	}
	p.MaxRedirects = 2
	if _, err := get(t, p.Client(), s.URL+"/chain3"); ReasonOf(err) != ReasonTooManyRedirects {
		t.Errorf("3 redirects with MaxRedirects 2 = %v", err)
	}
	p.MaxRedirects = -1
	resp, err := p.Client().Get(s.URL + "/to-forbidden")
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("MaxRedirects -1: %v, %v; want the 302 itself", resp, err)
	}
	resp.Body.Close()
}

// Credentials set on the first request never reach another origin, not
// even the same host on another port, which Go's own rule would allow.
func TestClientRedirectDropsCredentials(t *testing.T) {
	var seen atomic.Value
	record := func(r *http.Request) {
		seen.Store(r.Header.Get("Authorization") + "|" + r.Header.Get("Cookie") + "|" + r.Header.Get("X-Custom"))
	}
	var s *server // assigned before any request is made
	other := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/back" { // back to the first origin: a hop away must strip for good
			http.Redirect(w, r, s.URL+"/end", http.StatusFound)
			return
		}
		record(r)
	})
	s = serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/", http.StatusFound)
		case "/away-and-back":
			http.Redirect(w, r, other.URL+"/back", http.StatusFound)
		case "/same":
			http.Redirect(w, r, "/end", http.StatusFound)
		default:
			record(r)
		}
	})

	c := devPolicy().Client()
	for path, want := range map[string]string{
		"/away":          "||x",
		"/away-and-back": "||x",
		"/same":          "Bearer secret|a=b|x",
	} {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer secret")
		req.Header.Set("Cookie", "a=b")
		req.Header.Set("X-Custom", "x")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := seen.Load(); got != want {
			t.Errorf("%s: final hop saw %q, want %q", path, got, want)
		}
	}
}

func TestClientResponseCap(t *testing.T) {
	big := strings.Repeat("a", 100_000)
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/1000":
			io.WriteString(w, big[:1000])
		case "/1001":
			io.WriteString(w, big[:1001])
		case "/gzip": // 100 kB that travels as a few hundred bytes
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			io.WriteString(zw, big)
			zw.Close()
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(buf.Bytes())
		}
	})
	p := devPolicy()
	p.MaxResponseBytes = 1000
	c := p.Client()
	if body, err := get(t, c, s.URL+"/1000"); err != nil || len(body) != 1000 {
		t.Errorf("1000 bytes: len %d, %v", len(body), err)
	}
	body, err := get(t, c, s.URL+"/1001")
	if ReasonOf(err) != ReasonTooLarge || len(body) != 1000 {
		t.Errorf("1001 bytes: len %d, %v; want the first 1000 and %s", len(body), err, ReasonTooLarge)
	}
	if _, err := get(t, c, s.URL+"/gzip"); ReasonOf(err) != ReasonTooLarge {
		t.Errorf("gzip bomb: %v", err)
	}

	p.MaxResponseBytes = 0 // default 1 MiB
	if body, err := get(t, p.Client(), s.URL+"/gzip"); err != nil || len(body) != len(big) {
		t.Errorf("default cap: len %d, %v", len(body), err)
	}
}

func TestClientTimeout(t *testing.T) {
	s := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	p := devPolicy()
	p.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := get(t, p.Client(), s.URL)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("GET = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

// A proxy from the environment would connect for us, past the check: it
// must not be used.
func TestClientIgnoresProxyEnv(t *testing.T) {
	proxy := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	s := serve(t, "127.0.0.1:0", ok)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	c := devPolicy().Client()
	if tr := c.Transport.(*transport).next; tr.Proxy != nil {
		t.Error("Transport.Proxy is set")
	}
	// api.test, not 127.0.0.1: Go never proxies loopback literals anyway.
	if body, err := get(t, c, "http://api.test:"+s.port+"/"); err != nil || body != "ok" {
		t.Errorf("GET = %q, %v", body, err)
	}
	if n := proxy.hits.Load(); n != 0 {
		t.Errorf("proxy got %d requests", n)
	}
}

func TestClientBadScheme(t *testing.T) {
	_, err := devPolicy().Client().Get("ftp://127.0.0.1/file")
	if ReasonOf(err) != ReasonBadScheme {
		t.Errorf("GET ftp:// = %v", err)
	}
}

func TestClientContextCancel(t *testing.T) {
	s := serve(t, "127.0.0.1:0", ok)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL, nil)
	if _, err := devPolicy().Client().Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("Do with cancelled context = %v", err)
	}
}
