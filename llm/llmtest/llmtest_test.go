package llmtest

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want []string
	}{
		{"Hello there  world", 0, []string{"Hello ", "there  ", "world"}},
		{"abcdef", 3, []string{"ab", "cd", "ef"}},
		{"ab", 5, []string{"a", "b"}},
		{"Zürich", 2, []string{"Zür", "ich"}},
		{"", 3, nil},
	} {
		if got := split(tc.s, tc.n); strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
			t.Errorf("split(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestDecodeContentForms(t *testing.T) {
	var o OpenAIRequest
	if err := json.Unmarshal([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"assistant","content":null}]}`), &o); err != nil {
		t.Fatal(err)
	}
	if o.Messages[0].Content != "ab" || o.Messages[1].Content != "" {
		t.Errorf("openai: %+v", o.Messages)
	}
	var a AnthropicRequest
	if err := json.Unmarshal([]byte(`{"system":[{"type":"text","text":"sys"}],"messages":[{"role":"user","content":"hi"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"}]}]}]}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.System != "sys" || a.Messages[0].Content[0].Text != "hi" || a.Messages[1].Content[0].Content != "r" || a.Messages[1].Content[0].ToolUseID != "t1" {
		t.Errorf("anthropic: %+v", a)
	}
}

func TestQueueThenHandleThenDefault(t *testing.T) {
	srv := NewOpenAIServer(t)
	srv.SetDefault(Text("default"))
	post := func() string {
		res, err := http.Post(srv.URL()+"/chat/completions", "application/json", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var text strings.Builder
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok || data == "[DONE]" {
				continue
			}
			var c struct {
				Choices []struct {
					Delta struct{ Content string } `json:"delta"`
				} `json:"choices"`
			}
			json.Unmarshal([]byte(data), &c)
			for _, ch := range c.Choices {
				text.WriteString(ch.Delta.Content)
			}
		}
		return text.String()
	}
	if got := post(); got != "default" {
		t.Errorf("got %q", got)
	}
	srv.Handle(func(r *OpenAIRequest) Reply { return Text("handled " + r.Messages[0].Content) })
	srv.Enqueue(Text("queued"))
	if a, b := post(), post(); a != "queued" || b != "handled x" {
		t.Errorf("got %q, %q", a, b)
	}
	if n := len(srv.Requests()); n != 3 || srv.LastRequest().Model != "m" {
		t.Errorf("%d requests", n)
	}
}
