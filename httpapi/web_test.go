package httpapi_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hyponema/hyponema/store/storetest"
)

// TestChatPage: a session's client_url opens the hosted chat page, with no
// credential, under a strict Content-Security-Policy, and the page loads
// only files that are served.
func TestChatPage(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	a := ts.newTenant("A")
	agent := ts.chatAgent(a, "local/hyponema-demo", "")
	clientURL := ts.must(201, "POST", "/sessions", a.key, `{"agent_id":"`+agent+`"}`).str(t, "client_url")
	u, err := url.Parse(clientURL)
	if err != nil || !strings.HasPrefix(u.Path, "/chat/ses_") || !strings.HasPrefix(u.Fragment, "token=hct_") {
		t.Fatalf("client_url %q", clientURL)
	}

	page := ts.must(200, "GET", u.Path, "", "") // the fragment never reaches a server
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	}
	for k, v := range want {
		if got := page.header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	csp := page.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
			t.Errorf("CSP lacks %q: %s", d, csp)
		}
	}
	if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") {
		t.Errorf("CSP is not strict: %s", csp)
	}
	if page.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("the page answers other origins: %v", page.header)
	}

	// No inline script or handler, which the CSP would block; every file
	// the page names is served, with its type.
	html := string(page.body)
	if regexp.MustCompile(`<script(\s+type="module")?\s*>`).MatchString(html) || regexp.MustCompile(`\son[a-z]+\s*=`).MatchString(html) {
		t.Errorf("inline script in the page:\n%s", html)
	}
	refs := regexp.MustCompile(`(?:src|href)="(\.\./web/[^"]+)"`).FindAllStringSubmatch(html, -1)
	if len(refs) < 2 {
		t.Fatalf("the page loads %v", refs)
	}
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	for _, ref := range refs {
		p := u.ResolveReference(&url.URL{Path: ref[1]}).Path
		r := ts.must(200, "GET", p, "", "")
		if ct := r.header.Get("Content-Type"); ct != types[p[strings.LastIndex(p, "."):]] {
			t.Errorf("%s: Content-Type %q", p, ct)
		}
	}
	// The page's module imports the shared chat module.
	if js := ts.must(200, "GET", "/web/chat.js", "", "").body; !strings.Contains(string(js), `from './chat-core.js'`) {
		t.Errorf("chat.js does not import chat-core.js")
	}

	// Any well-formed session ID gets the same page: the page says nothing
	// about whether a session exists; the API, asked with the token, does.
	if r := ts.must(200, "GET", "/chat/ses_01jc2x5w3n0000000000000000", "", ""); string(r.body) != html {
		t.Errorf("another session's page differs")
	}
	for _, p := range []string{"/chat/agt_01jc2x5w3n0000000000000000", "/chat/ses_short", "/chat/"} {
		checkError(t, ts.do("GET", p, "", ""), 404, "not_found")
	}
}

// TestWidgetAssets: widget.js and the files it loads are public static
// code that any origin may load; an unknown file is the API's 404.
func TestWidgetAssets(t *testing.T) {
	ts := newTestServer(t, storetest.MustOpenSQLite(t))
	for _, c := range []struct{ path, contentType, contains string }{
		{"/widget.js", "text/javascript; charset=utf-8", "document.currentScript"},
		{"/web/chat-core.js", "text/javascript; charset=utf-8", "export function mountChat"},
		{"/web/chat.js", "text/javascript; charset=utf-8", "mountChat"},
		{"/web/chat.css", "text/css; charset=utf-8", "--hyponema-accent"},
		{"/web/widget.css", "text/css; charset=utf-8", ":host"},
	} {
		r := ts.must(200, "GET", c.path, "", "", "Origin", "https://shop.example")
		h := r.header
		if h.Get("Content-Type") != c.contentType || h.Get("Access-Control-Allow-Origin") != "*" ||
			h.Get("Access-Control-Allow-Credentials") != "" || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Cross-Origin-Resource-Policy") != "cross-origin" || !strings.HasPrefix(h.Get("Cache-Control"), "public, max-age=") {
			t.Errorf("%s: headers %v", c.path, h)
		}
		if !strings.Contains(string(r.body), c.contains) {
			t.Errorf("%s does not contain %q", c.path, c.contains)
		}
		etag := h.Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", c.path)
		}
		if r := ts.do("GET", c.path, "", "", "If-None-Match", etag); r.status != 304 || len(r.body) != 0 {
			t.Errorf("%s: revalidation: %d", c.path, r.status)
		}
	}
	// The widget never needs a workspace key, and never names one.
	w := string(ts.must(200, "GET", "/widget.js", "", "").body)
	if strings.Contains(w, "hyp_") {
		t.Errorf("widget.js mentions workspace keys")
	}
	if r := ts.must(200, "HEAD", "/widget.js", "", ""); len(r.body) != 0 || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("HEAD /widget.js: %v", r.header)
	}

	for _, p := range []string{"/web/nope.js", "/web/", "/web/chat.html", "/web/widget.js"} {
		r := ts.do("GET", p, "", "")
		checkError(t, r, 404, "not_found")
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: a 404 answers other origins", p)
		}
	}
	// Static files take no writes.
	checkError(t, ts.do("POST", "/widget.js", "", `{}`), 404, "not_found")
}
