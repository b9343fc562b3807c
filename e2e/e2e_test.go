// Package e2e tests Hyponema's browser client in a real browser: the built
// binary on a free port, Debian's chromium driven by playwright-core, and
// the Node test files beside this one (node's built-in test runner).
//
// It runs when HYPONEMA_E2E is set, after `npm ci` in this directory and
// with /usr/bin/chromium installed (.ci/run does all three):
//
//	HYPONEMA_E2E=1 go test ./e2e/
//
// HYPONEMA_E2E_SCREENSHOT=docs/chat-page.png also saves the chat page's
// screenshot there (by default it goes to a temp dir).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/internal/binarytest"
	"github.com/hyponema/hyponema/internal/loopbacktest"
	"github.com/hyponema/hyponema/llm/llmtest"
)

const (
	firstMessage = "Hi! I am the Hyponema test agent. How can I help?"
	// slowReply streams word by word, slowly enough for the browser test
	// to cut the connection half way.
	slowReply = "Your order 1001 left our warehouse in Porto this morning and is on its way with the courier. " +
		"It should reach you on Thursday between nine and noon; you will get a text message with a tracking link " +
		"an hour before it arrives. Is there anything else I can do for you?"
)

// TestBrowserClient runs the hosted chat page and the widget in chromium
// against the built server, whose model is a fake OpenAI server.
func TestBrowserClient(t *testing.T) {
	if os.Getenv("HYPONEMA_E2E") == "" {
		t.Skip("HYPONEMA_E2E is not set: the browser tests need /usr/bin/chromium and `npm ci` in e2e/; .ci/run sets HYPONEMA_E2E=1 after installing both")
	}
	chromium := os.Getenv("HYPONEMA_E2E_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("HYPONEMA_E2E is set but there is no chromium: %v (apt-get install chromium)", err)
	}
	if _, err := os.Stat("node_modules/playwright-core/package.json"); err != nil {
		t.Fatalf("HYPONEMA_E2E is set but playwright-core is not installed: run `npm ci` in e2e/ (%v)", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("HYPONEMA_E2E is set but node is not on PATH")
	}
	bin := binarytest.Build(t)

	fake := llmtest.NewOpenAIServer(t)
	fake.Handle(func(req *llmtest.OpenAIRequest) llmtest.Reply {
		last := req.Messages[len(req.Messages)-1].Content
		switch {
		case strings.Contains(last, "order"):
			return llmtest.Reply{Text: slowReply, Delay: 70 * time.Millisecond}
		case strings.Contains(last, "fail"):
			return llmtest.Reply{Text: "Let me check that for you", Chunks: 4, Fault: llmtest.CutAfter(2)}
		}
		return llmtest.Text("Happy to help with: " + last)
	})

	// Two customer pages with the widget: one from an origin that the
	// agent allows, one from another (127.0.0.2 is loopback too).
	allowed, denied := newShopPage(t, "127.0.0.1:0"), newShopPage(t, "127.0.0.2:0")

	key := hyponema.NewAPIKeySecret()
	srv := binarytest.Start(t, bin, []string{"HYPONEMA_DATA_DIR=" + t.TempDir(), "HYPONEMA_BOOTSTRAP_API_KEY=" + key,
		"HYPONEMA_OPENAI_BASE_URL=" + fake.URL(), "HYPONEMA_OPENAI_API_KEY=sk-test"})
	ws := srv.Call("GET", "/workspaces", key, "", 200)["data"].([]any)[0].(map[string]any)["id"].(string)
	agent := srv.Call("POST", "/workspaces/"+ws+"/agents", key, fmt.Sprintf(
		`{"name":"Support","model":"openai/gpt-e2e","first_message":%q,"allowed_origins":[%q]}`, firstMessage, allowed.origin), 201)["id"].(string)
	v := srv.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/versions", key, `{}`, 201)["id"].(string)
	srv.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/publish", key, `{"version_id":"`+v+`"}`, 200)
	session := func() string {
		return srv.Call("POST", "/sessions", key, `{"agent_id":"`+agent+`","user":{"external_id":"e2e"}}`, 201)["client_url"].(string)
	}
	allowed.clientURL, denied.clientURL = session(), session()
	allowed.widget, denied.widget = srv.URL+"/widget.js", srv.URL+"/widget.js"

	// The browser's first requests carry no credential: fail fast, and
	// plainly, if the server asks for one.
	page, err := url.Parse(allowed.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{page.Path, "/widget.js", "/web/chat-core.js"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("GET %s without a credential: %d, want 200: %s", p, res.StatusCode, b)
		}
	}

	env := []string{
		"HYPONEMA_E2E_CHROMIUM=" + chromium,
		"HYPONEMA_URL=" + srv.URL,
		"HYPONEMA_API_KEY=" + key,
		"HYPONEMA_FIRST_MESSAGE=" + firstMessage,
		"HYPONEMA_SLOW_REPLY=" + slowReply,
		"HYPONEMA_CLIENT_URL=" + session(),
		"HYPONEMA_TOOLS_CLIENT_URL=" + session(),
		"HYPONEMA_WIDGET_ALLOWED_URL=" + allowed.url,
		"HYPONEMA_WIDGET_DENIED_URL=" + denied.url,
	}
	shot := os.Getenv("HYPONEMA_E2E_SCREENSHOT")
	switch {
	case shot == "":
		shot = filepath.Join(t.TempDir(), "chat-page.png")
	case !filepath.IsAbs(shot):
		shot = filepath.Join("..", shot) // relative to the repository's root
	}
	if shot, err := filepath.Abs(shot); err == nil {
		env = append(env, "HYPONEMA_SCREENSHOT="+shot)
	}
	t.Run("sse", func(t *testing.T) { runNode(t, "sse.test.mjs", env) })
	t.Run("chat page", func(t *testing.T) { runNode(t, "chat.test.mjs", env) })
	t.Run("widget", func(t *testing.T) { runNode(t, "widget.test.mjs", env) })
}

// runNode runs one Node test file with node's test runner.
func runNode(t *testing.T, file string, env []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec", file)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	t.Logf("node --test %s:\n%s", file, out.String())
	if err != nil {
		t.Fatalf("node --test %s: %v", file, err)
	}
}

// shopPage is a customer's page that embeds the widget.
type shopPage struct {
	url, origin       string
	widget, clientURL string
}

var shopTemplate = template.Must(template.New("shop").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Acme shop</title>
<style>hyponema-widget { --hyponema-accent: #006633; --hyponema-radius: 8px; }</style>
</head>
<body>
<h1>Acme shop</h1>
<p>Everything for your garden.</p>
<script src="{{.Widget}}" data-client-url="{{.ClientURL}}" data-title="Support" async></script>
</body>
</html>
`))

func newShopPage(t *testing.T, addr string) *shopPage {
	t.Helper()
	p := &shopPage{}
	srv := loopbacktest.Serve(t, addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = shopTemplate.Execute(w, map[string]string{"Widget": p.widget, "ClientURL": p.clientURL})
	}))
	p.url, p.origin = srv.URL+"/", srv.URL
	return p
}
