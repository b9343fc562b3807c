package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/internal/binarytest"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/store/storetest"
)

// TestBinaryEndToEnd runs the built binary as a newcomer would: it boots on
// an empty data dir with a bootstrap key, serves the README's walk-through,
// stops on SIGTERM, and keeps everything across a restart. It runs on
// SQLite, and on PostgreSQL when the test database is configured.
func TestBinaryEndToEnd(t *testing.T) {
	bin := binarytest.Build(t)
	dbs := map[string]func(t *testing.T) []string{
		"sqlite": func(t *testing.T) []string { return nil },
		"postgres": func(t *testing.T) []string {
			return []string{"HYPONEMA_DATABASE_URL=" + storetest.PostgresDSN(t)}
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			key := hyponema.NewAPIKeySecret()
			env := append(dbs[name](t), "HYPONEMA_DATA_DIR="+dir, "HYPONEMA_BOOTSTRAP_API_KEY="+key, "HYPONEMA_LOG_LEVEL=debug")

			p := binarytest.Start(t, bin, env)
			p.Call("GET", "/healthz", "", "", 200)
			p.Call("GET", "/readyz", "", "", 200)
			list := p.Call("GET", "/workspaces", key, "", 200)
			ws := list["data"].([]any)[0].(map[string]any)["id"].(string)
			agent := p.Call("POST", "/workspaces/"+ws+"/agents", key, `{"name":"Support","instructions":"Help."}`, 201)["id"].(string)
			version := p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/versions", key, `{}`, 201)["id"].(string)
			p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/publish", key, `{"version_id":"`+version+`"}`, 200)
			created := p.Call("POST", "/sessions", key, `{"agent_id":"`+agent+`"}`, 201)
			token := created["client_token"].(string)
			p.Call("GET", "/sessions/"+created["id"].(string), token, "", 200)
			p.Stop()
			if strings.Contains(p.Stderr.String(), key) || strings.Contains(p.Stderr.String(), token) {
				t.Fatalf("a key or token appears in the server's log")
			}
			if fi, err := os.Stat(filepath.Join(dir, "secret_key")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("secret key file: %v %v", fi, err)
			}
			if name == "sqlite" {
				if _, err := os.Stat(filepath.Join(dir, "hyponema.db")); err != nil {
					t.Fatalf("no SQLite file in the data dir: %v", err)
				}
			}

			// Restart: the bootstrap key is not created twice, and data stays.
			p = binarytest.Start(t, bin, env)
			got := p.Call("GET", "/workspaces/"+ws+"/agents/"+agent, key, "", 200)
			if got["published_version_id"] != version {
				t.Fatalf("published version lost across restart: %v", got)
			}
			// The secret key is kept across restarts: the token still works.
			p.Call("GET", "/sessions/"+created["id"].(string), token, "", 200)
			if n := len(p.Call("GET", "/workspaces", key, "", 200)["data"].([]any)); n != 1 {
				t.Fatalf("%d workspaces", n)
			}
			p.Stop()
		})
	}
}

func TestWorkspaceCreateCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "HYPONEMA_DATA_DIR" {
			return dir
		}
		return ""
	}
	if err := run(context.Background(), []string{"workspace", "create", "--name", "Acme"}, getenv, nil, &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	var got struct {
		WorkspaceID string `json:"workspace_id"`
		APIKey      string `json:"api_key"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %q", out.String())
	}
	if !strings.HasPrefix(got.WorkspaceID, "ws_") || !hyponema.ValidAPIKeySecret(got.APIKey) {
		t.Fatalf("bad output %+v", got)
	}
	if err := run(context.Background(), []string{"workspace", "create"}, getenv, nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("a workspace without a name: %v", err)
	}
}

func TestCommandLine(t *testing.T) {
	var out, errOut bytes.Buffer
	noenv := func(string) string { return "" }
	if err := run(context.Background(), []string{"version"}, noenv, nil, &out, &errOut); err != nil || strings.TrimSpace(out.String()) == "" {
		t.Fatalf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, noenv, nil, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(context.Background(), nil, noenv, nil, &out, &errOut); err == nil {
		t.Fatal("no command accepted")
	}
	bad := func(k string) string {
		if k == "HYPONEMA_BOOTSTRAP_API_KEY" {
			return "hyp_short"
		}
		if k == "HYPONEMA_DATA_DIR" {
			return t.TempDir()
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, bad, nil, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "BOOTSTRAP") {
		t.Fatalf("a malformed bootstrap key: %v", err)
	}
}

// TestFlagsOverrideEnvironment checks the configuration's precedence.
func TestFlagsOverrideEnvironment(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"HYPONEMA_ADDR": "127.0.0.1:9999", "HYPONEMA_DATA_DIR": "/env"}[k]
	}
	c, err := parseConfig("serve", []string{"--addr", "127.0.0.1:7777"}, getenv, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7777" || c.DataDir != "/env" || c.databaseURL() != filepath.Join("/env", "hyponema.db") {
		t.Fatalf("%+v", c)
	}
}

// TestKilledMidWrite SIGKILLs the server while clients create agents, then
// restarts it: every agent whose creation was acknowledged with a 201 is
// there, and the server still works. Nothing acknowledged is ever lost.
func TestKilledMidWrite(t *testing.T) {
	bin := binarytest.Build(t)
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			key := hyponema.NewAPIKeySecret()
			env := []string{"HYPONEMA_DATA_DIR=" + dir, "HYPONEMA_BOOTSTRAP_API_KEY=" + key}
			if name == "postgres" {
				env = append(env, "HYPONEMA_DATABASE_URL="+storetest.PostgresDSN(t))
			}
			p := binarytest.Start(t, bin, env)
			ws := p.Call("GET", "/workspaces", key, "", 200)["data"].([]any)[0].(map[string]any)["id"].(string)

			var mu sync.Mutex
			var acked []string
			var wg sync.WaitGroup
			client := &http.Client{Timeout: 5 * time.Second}
			for w := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						req, _ := http.NewRequest("POST", p.URL+"/workspaces/"+ws+"/agents", strings.NewReader(fmt.Sprintf(`{"name":"w%d-%d"}`, w, i)))
						req.Header.Set("Authorization", "Bearer "+key)
						req.Header.Set("Content-Type", "application/json")
						res, err := client.Do(req)
						if err != nil {
							return // the server is gone
						}
						var m map[string]any
						_ = json.NewDecoder(res.Body).Decode(&m)
						res.Body.Close()
						if res.StatusCode == 201 {
							mu.Lock()
							acked = append(acked, m["id"].(string))
							mu.Unlock()
						}
					}
				})
			}
			time.Sleep(500 * time.Millisecond)
			p.Kill()
			wg.Wait()
			if len(acked) == 0 {
				t.Fatal("no write was acknowledged before the kill")
			}

			p = binarytest.Start(t, bin, env)
			for _, id := range acked {
				p.Call("GET", "/workspaces/"+ws+"/agents/"+id, key, "", 200)
			}
			p.Call("POST", "/workspaces/"+ws+"/agents", key, `{"name":"after"}`, 201)
			t.Logf("%d acknowledged agents all present after SIGKILL", len(acked))
			p.Stop()
		})
	}
}

// TestKilledMidTurn SIGKILLs the server while a reply streams from a fake
// OpenAI server, then restarts it: the user's message and the partial reply
// are kept, the reply marked incomplete, and the session takes new turns.
func TestKilledMidTurn(t *testing.T) {
	bin := binarytest.Build(t)
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			fake := llmtest.NewOpenAIServer(t)
			key := hyponema.NewAPIKeySecret()
			env := []string{"HYPONEMA_DATA_DIR=" + t.TempDir(), "HYPONEMA_BOOTSTRAP_API_KEY=" + key,
				"HYPONEMA_OPENAI_BASE_URL=" + fake.URL(), "HYPONEMA_OPENAI_API_KEY=sk-test"}
			if name == "postgres" {
				env = append(env, "HYPONEMA_DATABASE_URL="+storetest.PostgresDSN(t))
			}
			p := binarytest.Start(t, bin, env)
			ws := p.Call("GET", "/workspaces", key, "", 200)["data"].([]any)[0].(map[string]any)["id"].(string)
			agent := p.Call("POST", "/workspaces/"+ws+"/agents", key, `{"name":"a","model":"openai/gpt-test"}`, 201)["id"].(string)
			v := p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/versions", key, `{}`, 201)["id"].(string)
			p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/publish", key, `{"version_id":"`+v+`"}`, 200)
			ses := p.Call("POST", "/sessions", key, `{"agent_id":"`+agent+`"}`, 201)["id"].(string)

			full := strings.TrimSpace(strings.Repeat("word ", 100))
			fake.Enqueue(llmtest.Reply{Text: full, Chunks: 100, Delay: 20 * time.Millisecond})
			req, _ := http.NewRequest("POST", p.URL+"/sessions/"+ses+"/messages", strings.NewReader(`{"text":"tell me a long story"}`))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "text/event-stream")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			deltas := 0
			_ = readSSE(res.Body, func(event string, _ []byte) (bool, error) {
				if event == "message.delta" {
					deltas++
				}
				return deltas >= 20, nil
			})
			p.Kill()
			res.Body.Close()

			p = binarytest.Start(t, bin, env)
			msgs := p.Call("GET", "/sessions/"+ses+"/messages", key, "", 200)["data"].([]any)
			if len(msgs) != 2 {
				t.Fatalf("%d messages after the crash, want the question and the partial reply: %v", len(msgs), msgs)
			}
			user, reply := msgs[0].(map[string]any), msgs[1].(map[string]any)
			text, _ := reply["text"].(string)
			if user["text"] != "tell me a long story" || reply["status"] != "incomplete" || text == "" || text == full || !strings.HasPrefix(full, text) {
				t.Fatalf("after the crash: user %v, reply %v", user, reply)
			}
			t.Logf("kept %d of %d characters of the reply", len(text), len(full))

			// The session works again once the dead turn's claim is released:
			// at once on SQLite, after the claim's lease on PostgreSQL.
			fake.SetDefault(llmtest.Text("back again"))
			deadline := time.Now().Add(40 * time.Second)
			for {
				req, _ := http.NewRequest("POST", p.URL+"/sessions/"+ses+"/messages", strings.NewReader(`{"text":"are you there?"}`))
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == 200 {
					if !strings.Contains(string(b), "back again") {
						t.Fatalf("reply %s", b)
					}
					break
				}
				if res.StatusCode != 409 || name == "sqlite" || time.Now().After(deadline) {
					t.Fatalf("status %d: %s", res.StatusCode, b)
				}
				time.Sleep(500 * time.Millisecond)
			}
			p.Stop()
		})
	}
}

// TestChatCommand drives "hyponema chat" against a running server, as a
// person at a terminal would: it greets, streams a reply, and ends.
func TestChatCommand(t *testing.T) {
	bin := binarytest.Build(t)
	key := hyponema.NewAPIKeySecret()
	p := binarytest.Start(t, bin, []string{"HYPONEMA_DATA_DIR=" + t.TempDir(), "HYPONEMA_BOOTSTRAP_API_KEY=" + key})
	ws := p.Call("GET", "/workspaces", key, "", 200)["data"].([]any)[0].(map[string]any)["id"].(string)
	agent := p.Call("POST", "/workspaces/"+ws+"/agents", key, `{"name":"a","first_message":"Hello! Ask me anything."}`, 201)["id"].(string)
	v := p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/versions", key, `{}`, 201)["id"].(string)
	p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/publish", key, `{"version_id":"`+v+`"}`, 200)

	cmd := exec.Command(bin, "chat", "--agent", agent, "--url", p.URL)
	cmd.Env = append(os.Environ(), "HYPONEMA_API_KEY="+key)
	cmd.Stdin = strings.NewReader("What can you do?\n/end\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"agent> Hello! Ask me anything.", "agent> [Hyponema local engine", "What can you do?", "session ended"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	sessions := p.Call("GET", "/sessions?status=ended", key, "", 200)["data"].([]any)
	if len(sessions) != 1 {
		t.Fatalf("%d ended sessions", len(sessions))
	}
	p.Stop()
}

func TestMCPServersConfig(t *testing.T) {
	c := &Config{MCPServers: `{"files":{"command":"node","args":["server.js","stdio"],"env":{"ROOT":"/srv"}}}`}
	got, err := c.mcpServers()
	if err != nil {
		t.Fatal(err)
	}
	f := got["files"]
	if f.Path != "node" || len(f.Args) != 2 || !slices.Contains(f.Env, "ROOT=/srv") || !strings.HasPrefix(f.Env[0], "PATH=") {
		t.Errorf("parsed %+v", f)
	}
	for _, bad := range []string{`{"bad name":{"command":"x"}}`, `{"x":{}}`, `{"x":{"command":"y","unknown":1}}`, `[1]`} {
		if _, err := (&Config{MCPServers: bad}).mcpServers(); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
