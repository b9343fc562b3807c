package conversation_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/llm/llmtest"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/store/storetest"
)

// fakeCaller runs tools in process: an http tool gives one function, itself,
// and its result is what run says. The real runners (HTTP, MCP) are tested
// in their packages and end to end in package tool.
type fakeCaller struct {
	mu    sync.Mutex
	calls []string
	run   func(ctx context.Context, name string, args json.RawMessage) (hyponema.ToolResult, error)
}

func (f *fakeCaller) Functions(_ context.Context, t *hyponema.Tool) ([]hyponema.ToolDefinition, error) {
	return []hyponema.ToolDefinition{{Name: t.Name, Description: t.Description, Parameters: t.Parameters}}, nil
}

func (f *fakeCaller) Call(ctx context.Context, _ string, _ *hyponema.Tool, name string, args json.RawMessage) (hyponema.ToolResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, name+" "+string(args))
	f.mu.Unlock()
	return f.run(ctx, name, args)
}

func (f *fakeCaller) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// toolAgent publishes an agent with tools attached.
func (h *harness) toolAgent(edit func(*hyponema.AgentConfig), tools ...*hyponema.Tool) *hyponema.Agent {
	h.t.Helper()
	ctx := context.Background()
	ts := store.NewToolService(h.db)
	a := h.draft("tool agent", edit)
	for _, tl := range tools {
		tl.WorkspaceID = h.ws
		if err := ts.CreateTool(ctx, tl); err != nil {
			h.t.Fatal(err)
		}
		if err := ts.AttachTool(ctx, h.ws, a.ID, tl.ID); err != nil {
			h.t.Fatal(err)
		}
	}
	return h.publish(a)
}

func orderTool(name string) *hyponema.Tool {
	return &hyponema.Tool{Name: name, Description: "Look up an order", Type: hyponema.ToolHTTP,
		Parameters: json.RawMessage(`{"type":"object","properties":{"order_id":{"type":"string","pattern":"^[0-9]+$"}},"required":["order_id"]}`),
		HTTP:       &hyponema.HTTPToolConfig{URL: "https://api.example.com/orders/{{order_id}}"}}
}

// toolMessages returns the tool results that the model was sent.
func toolMessages(req *llmtest.OpenAIRequest) map[string]string {
	out := map[string]string{}
	for _, m := range req.Messages {
		if m.Role == "tool" {
			out[m.ToolCallID] = m.Content
		}
	}
	return out
}

func TestToolRound(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		caller := &fakeCaller{run: func(_ context.Context, name string, args json.RawMessage) (hyponema.ToolResult, error) {
			if strings.Contains(string(args), "404") {
				return hyponema.ToolResult{IsError: true, Content: "the API answered 404"}, nil
			}
			return hyponema.ToolResult{Content: `{"status":"shipped"}`}, nil
		}}
		h.e.Tools = caller
		h.e.WorkspaceEvents = store.NewWebhookService(db)
		a := h.toolAgent(nil, orderTool("lookup_order"))
		s := h.session(a.ID, nil)

		h.openai.Handle(func(req *llmtest.OpenAIRequest) llmtest.Reply {
			switch len(h.openai.Requests()) { // this one's number: the server records it first
			case 1:
				return llmtest.Reply{Text: "Let me check.", ToolCalls: []hyponema.ToolCall{
					{ID: "call_1", Name: "lookup_order", Arguments: `{"order_id":"1001"}`},
					{ID: "call_2", Name: "lookup_order", Arguments: `{"order_id":"abc"}`}, // invalid
					{ID: "call_3", Name: "lookup_order", Arguments: `{"order_id":"404"}`}, // fails
					{ID: "call_4", Name: "no_such_tool", Arguments: `{}`},
				}}
			}
			return llmtest.Text("Order 1001 has shipped.")
		})
		turn := h.send(s.ID, "Where is order 1001?")
		evs := h.collect(s.ID, turn)
		reply, err := turn.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if reply.Text != "Let me check.\n\nOrder 1001 has shipped." || len(reply.ToolCalls) != 4 {
			t.Fatalf("reply %q with %d calls", reply.Text, len(reply.ToolCalls))
		}
		seen := h.openai.Requests()
		if len(seen) != 2 || len(seen[0].Tools) != 1 || seen[0].Tools[0].Function.Name != "lookup_order" {
			t.Fatalf("requests: %d; tools offered %+v", len(seen), seen[0].Tools)
		}
		results := toolMessages(seen[1])
		if results["call_1"] != `{"status":"shipped"}` || !strings.Contains(results["call_2"], "invalid arguments") ||
			!strings.Contains(results["call_3"], "404") || !strings.Contains(results["call_4"], "no tool named") ||
			!strings.Contains(results["call_2"], "at /order_id:") || strings.Contains(results["call_2"], "file:") {
			t.Errorf("the model was told %v", results)
		}
		// Only the valid, existing calls reached the tool.
		if got := caller.called(); len(got) != 2 {
			t.Errorf("tool called %v", got)
		}
		// Events: calls, then results, then the rest of the reply.
		var calls, oks, fails int
		for _, ev := range evs {
			switch ev.Type {
			case hyponema.EventToolCall:
				calls++
				var c struct {
					CallID    string          `json:"call_id"`
					Tool      string          `json:"tool"`
					Arguments json.RawMessage `json:"arguments"`
				}
				_ = json.Unmarshal(ev.Data, &c)
				if c.CallID == "" || c.Tool == "" || len(c.Arguments) == 0 {
					t.Errorf("tool.call %s", ev.Data)
				}
			case hyponema.EventToolResult:
				var r struct {
					OK     bool   `json:"ok"`
					Output string `json:"output"`
					Error  string `json:"error"`
				}
				_ = json.Unmarshal(ev.Data, &r)
				if r.OK {
					oks++
				} else {
					fails++
				}
			}
		}
		if calls != 4 || oks != 1 || fails != 3 {
			t.Errorf("events: %d calls, %d ok, %d failed: %s", calls, oks, fails, types(evs))
		}
		stored := h.allEvents(s.ID)
		checkSeqs(t, stored, 1)
		if types(stored) != types(h.allEvents(s.ID)) || !strings.Contains(types(stored), "tool.call tool.call tool.call tool.call") {
			t.Errorf("stored events %s", types(stored))
		}
		// One tool.failed for the workspace: the 404. Bad arguments and an
		// unknown name are the model's to fix, not the tool's failure.
		p, err := store.NewWebhookService(db).ListWorkspaceEvents(ctx, h.ws, hyponema.EventFilter{Type: hyponema.EventToolFailed}, hyponema.PageOptions{})
		if err != nil || len(p.Data) != 1 || !strings.Contains(string(p.Data[0].Data), "404") {
			t.Errorf("tool.failed events: %v %v", p.Data, err)
		}
	})
}

// TestParallelToolsAndBudget: a round's calls run at once; the rounds and
// the tools' time are bounded.
func TestParallelToolsAndBudget(t *testing.T) {
	h := newHarness(t, storetest.MustOpenSQLite(t))
	ctx := context.Background()
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	caller := &fakeCaller{run: func(ctx context.Context, name string, args json.RawMessage) (hyponema.ToolResult, error) {
		if strings.Contains(string(args), "999") {
			<-ctx.Done()
			return hyponema.ToolResult{IsError: true, Content: "cancelled"}, nil
		}
		started <- struct{}{}
		select { // both calls must be running before either ends
		case <-release:
		case <-time.After(10 * time.Second):
			return hyponema.ToolResult{IsError: true, Content: "the calls did not run at once"}, nil
		}
		return hyponema.ToolResult{Content: "ok"}, nil
	}}
	h.e.Tools = caller
	a := h.toolAgent(func(c *hyponema.AgentConfig) { c.MaxToolRounds = 2; c.ToolTimeoutSeconds = 1 }, orderTool("lookup_order"))
	go func() { <-started; <-started; close(release) }()

	h.openai.Handle(func(req *llmtest.OpenAIRequest) llmtest.Reply {
		switch len(h.openai.Requests()) { // this one's number: the server records it first
		case 1:
			return llmtest.Reply{ToolCalls: []hyponema.ToolCall{
				{ID: "a", Name: "lookup_order", Arguments: `{"order_id":"1"}`},
				{ID: "b", Name: "lookup_order", Arguments: `{"order_id":"2"}`}}}
		case 2: // the second round: a call that outlives the tools' time
			return llmtest.Reply{ToolCalls: []hyponema.ToolCall{{ID: "c", Name: "lookup_order", Arguments: `{"order_id":"999"}`}}}
		}
		return llmtest.Text("done")
	})
	s := h.session(a.ID, nil)
	turn := h.send(s.ID, "check both")
	reply, err := turn.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	requests := h.openai.Requests()
	if reply.Text != "done" || len(requests) != 3 {
		t.Fatalf("reply %q after %d requests", reply.Text, len(requests))
	}
	if r := toolMessages(requests[1]); r["a"] != "ok" || r["b"] != "ok" {
		t.Errorf("parallel results %v", r)
	}
	if r := toolMessages(requests[2]); !strings.Contains(r["c"], "took too long") {
		t.Errorf("over the tools' time the model was told %q", r["c"])
	}
	// After max_tool_rounds the model is asked without tools.
	if len(requests[2].Tools) != 0 || len(requests[1].Tools) == 0 {
		t.Errorf("tools offered per request: %d %d %d", len(requests[0].Tools), len(requests[1].Tools), len(requests[2].Tools))
	}
}

func TestBuiltinTools(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		ctx := context.Background()
		billing := h.agent(func(c *hyponema.AgentConfig) { c.Name = "Billing" })
		front := h.toolAgent(func(c *hyponema.AgentConfig) {
			c.BuiltinTools = []string{hyponema.BuiltinEndSession, hyponema.BuiltinTransfer}
			c.TransferAgentIDs = []string{billing.ID}
		})

		// transfer: refused to an agent not in the list, then done.
		var n int
		var mu sync.Mutex
		var lastReq *llmtest.OpenAIRequest
		h.openai.Handle(func(req *llmtest.OpenAIRequest) llmtest.Reply {
			mu.Lock()
			defer mu.Unlock()
			n++
			lastReq = req
			switch n {
			case 1:
				return llmtest.Reply{ToolCalls: []hyponema.ToolCall{{ID: "t0", Name: "transfer", Arguments: `{"agent_id":"` + front.ID + `"}`}}}
			case 2:
				return llmtest.Reply{ToolCalls: []hyponema.ToolCall{{ID: "t1", Name: "transfer", Arguments: `{"agent_id":"` + billing.ID + `"}`}}}
			case 3:
				return llmtest.Text("Billing will take it from here.")
			case 4: // the next turn, answered by billing
				return llmtest.Text("Billing here.")
			case 5:
				return llmtest.Reply{Text: "Goodbye!", ToolCalls: []hyponema.ToolCall{{ID: "e1", Name: "end_session", Arguments: ``}}}
			}
			return llmtest.Text("Goodbye!")
		})
		s := h.session(front.ID, nil)
		if _, err := h.send(s.ID, "I have a billing question").Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if r := toolMessages(lastReq); !strings.Contains(r["t0"], "cannot transfer") || !strings.Contains(r["t1"], "Transferred to Billing") {
			t.Errorf("transfer results %v", r)
		}
		got, err := h.e.Sessions.FindSession(ctx, h.ws, s.ID)
		if err != nil || got.AgentID != billing.ID || got.AgentVersionID != billing.PublishedVersionID {
			t.Fatalf("after transfer the session runs %s/%s, want %s", got.AgentID, got.AgentVersionID, billing.ID)
		}
		if _, err := h.send(s.ID, "how much do I owe?").Wait(ctx); err != nil {
			t.Fatal(err)
		}
		// Billing sees the whole transcript, and has no built-ins.
		if len(lastReq.Messages) != 3 || len(lastReq.Tools) != 0 {
			t.Errorf("billing's request: %d messages, %d tools", len(lastReq.Messages), len(lastReq.Tools))
		}

		// end_session: the goodbye is stored, then the session ends.
		s2 := h.session(front.ID, nil)
		reply, err := h.send(s2.ID, "thanks, bye").Wait(ctx)
		if err != nil || !strings.HasPrefix(reply.Text, "Goodbye!") {
			t.Fatalf("reply %v %v", reply, err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ := h.e.Sessions.FindSession(ctx, h.ws, s2.ID)
			if got.Status == hyponema.SessionEnded {
				if got.EndedReason != hyponema.EndedByAgent {
					t.Errorf("ended_reason %q", got.EndedReason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("end_session did not end the session")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
