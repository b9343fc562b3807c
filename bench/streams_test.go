package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
)

// rssKiB reads a process's resident memory from /proc.
func rssKiB(b *testing.B, pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		b.Fatal("no VmRSS")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// BenchmarkIdleStreams runs the built server and holds 10,000 idle
// GET /sessions/{id}/events streams open on it (100 sessions × 100
// followers), reporting the server's resident memory for them:
//
//	go test ./bench -run '^$' -bench BenchmarkIdleStreams -benchtime 1x
func BenchmarkIdleStreams(b *testing.B) {
	const sessions, perSession = 100, 100
	dir := b.TempDir()
	bin := filepath.Join(dir, "hyponema")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/hyponema").CombinedOutput(); err != nil {
		b.Fatalf("build: %v %s", err, out)
	}
	key := hyponema.NewAPIKeySecret()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HYPONEMA_DATA_DIR="+dir, "HYPONEMA_BOOTSTRAP_API_KEY="+key, "HYPONEMA_LOG_LEVEL=warn")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	m := regexp.MustCompile(`listening on (\S+)`).FindStringSubmatch(line)
	if m == nil {
		b.Fatalf("server said %q", line)
	}
	url := m[1]
	call := func(method, path, body string) map[string]any {
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(res.Body).Decode(&v)
		return v
	}
	ws := call("GET", "/workspaces", "")["data"].([]any)[0].(map[string]any)["id"].(string)
	agent := call("POST", "/workspaces/"+ws+"/agents", `{"name":"idle"}`)["id"].(string)
	v := call("POST", "/workspaces/"+ws+"/agents/"+agent+"/versions", `{}`)["id"].(string)
	call("POST", "/workspaces/"+ws+"/agents/"+agent+"/publish", `{"version_id":"`+v+`"}`)
	ids := make([]string, sessions)
	for i := range ids {
		ids[i] = call("POST", "/sessions", `{"agent_id":"`+agent+`"}`)["id"].(string)
	}
	time.Sleep(time.Second)
	before := rssKiB(b, cmd.Process.Pid)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 1, DisableKeepAlives: true}
	client := &http.Client{Transport: tr}
	var mu sync.Mutex
	var bodies []io.Closer
	work := make(chan string)
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 100 {
		wg.Go(func() {
			for id := range work {
				req, _ := http.NewRequestWithContext(ctx, "GET", url+"/sessions/"+id+"/events", nil)
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				// Wait for the replayed session.created: the stream is live.
				r := bufio.NewReader(res.Body)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						b.Error(err)
						return
					}
					if strings.HasPrefix(l, "event: session.created") {
						break
					}
				}
				mu.Lock()
				bodies = append(bodies, res.Body)
				mu.Unlock()
			}
		})
	}
	for range perSession {
		for _, id := range ids {
			work <- id
		}
	}
	close(work)
	wg.Wait()
	b.StopTimer()
	time.Sleep(2 * time.Second)
	after := rssKiB(b, cmd.Process.Pid)
	b.ReportMetric(float64(len(bodies)), "streams")
	b.ReportMetric(float64(after)/1024, "server-rss-MiB")
	b.ReportMetric(float64(after-before)/float64(len(bodies)), "KiB/stream")
	b.ReportMetric(0, "ns/op")
	for _, body := range bodies {
		body.Close()
	}
}
