package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// runChat is a terminal chat client for a running server: it starts a
// session with the agent and streams each reply as it is generated.
func runChat(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hyponema chat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := func(name, fallback string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return fallback
	}
	agent := fs.String("agent", "", "agent ID (agt_…) to talk to (required)")
	version := fs.String("version", "", "agent version ID (agv_…) instead of the published one")
	url := fs.String("url", def("HYPONEMA_URL", "http://127.0.0.1:8080"), "server URL (HYPONEMA_URL)")
	key := fs.String("key", def("HYPONEMA_API_KEY", ""), "workspace API key, hyp_… (HYPONEMA_API_KEY)")
	user := fs.String("user", "", "your external user ID, if any")
	vars := map[string]string{}
	fs.Func("var", "a variable as name=value (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return errors.New("want name=value")
		}
		vars[k] = v
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *agent == "" || *key == "" {
		return errors.New("usage: hyponema chat --agent agt_… (with --key or HYPONEMA_API_KEY)")
	}
	c := &chatClient{base: strings.TrimRight(*url, "/"), key: *key, out: stdout}

	body := map[string]any{"agent_id": *agent, "variables": vars}
	if *version != "" {
		body["agent_version_id"] = *version
	}
	if *user != "" {
		body["user"] = map[string]string{"external_id": *user}
	}
	var session struct {
		ID string `json:"id"`
	}
	if err := c.call(ctx, "POST", "/sessions", body, &session); err != nil {
		return err
	}
	var transcript struct {
		Data []struct {
			Role, Text string
		} `json:"data"`
	}
	if err := c.call(ctx, "GET", "/sessions/"+session.ID+"/messages", nil, &transcript); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "session %s — type a message; /end or end of input to stop\n", session.ID)
	for _, m := range transcript.Data {
		fmt.Fprintf(stdout, "agent> %s\n", m.Text)
	}

	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64<<10), 64<<10)
	for {
		fmt.Fprint(stdout, "you> ")
		if !in.Scan() {
			fmt.Fprintln(stdout)
			break
		}
		text := strings.TrimSpace(in.Text())
		if text == "" {
			continue
		}
		if text == "/end" {
			break
		}
		if err := c.say(ctx, session.ID, text); err != nil {
			fmt.Fprintf(stdout, "\n[error] %v\n", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
	var ended struct {
		EndedReason string `json:"ended_reason"`
	}
	if err := c.call(context.WithoutCancel(ctx), "POST", "/sessions/"+session.ID+"/end", map[string]any{}, &ended); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "session ended")
	return nil
}

type chatClient struct {
	base, key string
	out       io.Writer
}

func (c *chatClient) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// call makes a JSON request and decodes the answer, or the API's error.
func (c *chatClient) call(ctx context.Context, method, path string, body, out any) error {
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return apiError(res)
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func apiError(res *http.Response) error {
	var e struct {
		Detail    string `json:"detail"`
		ErrorKind string `json:"error_kind"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&e); err != nil || e.Detail == "" {
		return fmt.Errorf("the server answered %s", res.Status)
	}
	return fmt.Errorf("%s (%s)", e.Detail, e.ErrorKind)
}

// say sends one message and prints the reply's deltas as they arrive.
func (c *chatClient) say(ctx context.Context, sessionID, text string) error {
	req, err := c.request(ctx, "POST", "/sessions/"+sessionID+"/messages", map[string]string{"text": text})
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return apiError(res)
	}
	started := false
	return readSSE(res.Body, func(event string, data []byte) (bool, error) {
		switch event {
		case "message.delta":
			var d struct {
				Delta string `json:"delta"`
			}
			if err := json.Unmarshal(data, &d); err != nil {
				return true, err
			}
			if !started {
				fmt.Fprint(c.out, "agent> ")
				started = true
			}
			fmt.Fprint(c.out, d.Delta)
		case "error":
			var e struct {
				Detail    string `json:"detail"`
				ErrorKind string `json:"error_kind"`
			}
			_ = json.Unmarshal(data, &e)
			return true, fmt.Errorf("%s (%s)", e.Detail, e.ErrorKind)
		case "done":
			fmt.Fprintln(c.out)
			return true, nil
		}
		return false, nil
	})
}

// readSSE calls fn with each event of a server-sent event stream until fn
// says stop or the stream ends.
func readSSE(r io.Reader, fn func(event string, data []byte) (bool, error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event string
	var data []byte
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event != "" || len(data) > 0 {
				if stop, err := fn(event, data); stop || err != nil {
					return err
				}
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, strings.TrimPrefix(line[len("data:"):], " ")...)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the stream ended before the reply did")
}
