package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/internal/binarytest"
	"github.com/hyponema/hyponema/internal/webhooktest"
	"github.com/hyponema/hyponema/store/storetest"
)

// TestWebhooksSurviveKills creates 1,000 sessions while SIGKILLing the
// server 10 times, restarting it each time, and checks that the receiver
// got every session.created event at least once, each with a signature
// that npm standardwebhooks verifies. It reports the duplicate rate.
func TestWebhooksSurviveKills(t *testing.T) {
	webhooktest.RequireNode(t)
	bin := binarytest.Build(t)
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			const events, kills = 1000, 10
			key := hyponema.NewAPIKeySecret()
			env := []string{"HYPONEMA_DATA_DIR=" + t.TempDir(), "HYPONEMA_BOOTSTRAP_API_KEY=" + key,
				"HYPONEMA_EGRESS_ALLOW=127.0.0.1/32"}
			if name == "postgres" {
				env = append(env, "HYPONEMA_DATABASE_URL="+storetest.PostgresDSN(t))
			}
			rcv := webhooktest.New(t)
			// A receiver that takes a few milliseconds keeps deliveries in
			// flight when the kills come.
			rcv.Answer(func(*webhooktest.Delivery, int) (int, http.Header) {
				time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
				return 200, nil
			})

			p := binarytest.Start(t, bin, env)
			ws := p.Call("GET", "/workspaces", key, "", 200)["data"].([]any)[0].(map[string]any)["id"].(string)
			hook := p.Call("POST", "/workspaces/"+ws+"/webhooks", key,
				`{"url":"`+rcv.URL+`","events":["session.created"]}`, 201)
			secret := hook["secret"].(string)
			agent := p.Call("POST", "/workspaces/"+ws+"/agents", key, `{"name":"a","model":"local/echo"}`, 201)["id"].(string)
			v := p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/versions", key, `{}`, 201)["id"].(string)
			p.Call("POST", "/workspaces/"+ws+"/agents/"+agent+"/publish", key, `{"version_id":"`+v+`"}`, 200)

			// Clients create sessions, each with its own idempotency key,
			// retrying through the kills: every session is created once.
			var url atomic.Pointer[string]
			url.Store(&p.URL)
			var next atomic.Int64
			client := &http.Client{Timeout: 5 * time.Second}
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > events {
							return
						}
						idem := fmt.Sprintf("create-%d", i)
						busySince := time.Time{}
						for {
							req, _ := http.NewRequest("POST", *url.Load()+"/sessions", strings.NewReader(`{"agent_id":"`+agent+`"}`))
							req.Header.Set("Authorization", "Bearer "+key)
							req.Header.Set("Content-Type", "application/json")
							req.Header.Set("Idempotency-Key", idem)
							res, err := client.Do(req)
							if err != nil {
								time.Sleep(20 * time.Millisecond) // the server is down: wait for the restart
								continue
							}
							b, _ := io.ReadAll(res.Body)
							res.Body.Close()
							if res.StatusCode == 201 {
								break
							}
							if res.StatusCode != 409 && res.StatusCode < 500 {
								t.Errorf("POST /sessions: %d %s", res.StatusCode, b)
								return
							}
							// 409: the first try is still running, or it died
							// with its process. On SQLite the restart frees the
							// key; on PostgreSQL its claim lasts 5 minutes, so
							// after a while the client gives up on the key and
							// uses a new one, as a client would (the session
							// may then exist twice: each has its event).
							if busySince.IsZero() {
								busySince = time.Now()
							} else if time.Since(busySince) > 3*time.Second {
								idem += "-again"
								busySince = time.Time{}
							}
							time.Sleep(20 * time.Millisecond)
						}
					}
				})
			}
			// The kills are spread over the whole run: each comes once the
			// receiver has seen another tenth of the events (or after 5 s),
			// at a random moment.
			for k := range kills {
				target := (k + 1) * events / (kills + 1)
				deadline := time.Now().Add(5 * time.Second)
				for len(rcv.Deliveries()) < target && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(time.Duration(rand.IntN(100)) * time.Millisecond)
				p.Kill()
				t.Logf("kill %d: %d sessions requested, %d deliveries received", k+1, min(next.Load(), events), len(rcv.Deliveries()))
				p = binarytest.Start(t, bin, env)
				url.Store(&p.URL)
			}
			wg.Wait()

			// Every event the server recorded reaches the receiver.
			var want []string
			cursor := ""
			for {
				page := p.Call("GET", "/workspaces/"+ws+"/events?type=session.created&limit=200&cursor="+cursor, key, "", 200)
				for _, e := range page["data"].([]any) {
					want = append(want, e.(map[string]any)["id"].(string))
				}
				if page["has_more"] != true {
					break
				}
				cursor = page["next_cursor"].(string)
			}
			if len(want) < events {
				t.Fatalf("%d session.created events recorded for %d sessions", len(want), events)
			}
			// On PostgreSQL a delivery cut by a kill is rescued by River
			// after the job timeout; on SQLite at the restart.
			ds := rcv.WaitFor(t, 3*time.Minute, "every event delivered", func(ds []*webhooktest.Delivery) bool {
				got := map[string]bool{}
				for _, d := range ds {
					got[d.ID] = true
				}
				for _, id := range want {
					if !got[id] {
						return false
					}
				}
				return true
			})
			for i, v := range webhooktest.Verify(t, []string{secret}, ds) {
				if !v.OK || v.Type != hyponema.EventSessionCreated {
					t.Fatalf("delivery %d (%s) does not verify: %s", i, ds[i].ID, v.Error)
				}
			}
			dups := len(ds) - len(want)
			t.Logf("%s: %d events, %d deliveries through %d kills: %d duplicates (%.2f%%), all signatures verified by npm standardwebhooks",
				name, len(want), len(ds), kills, dups, 100*float64(dups)/float64(len(want)))
			p.Stop()
		})
	}
}
