// Package httptool runs the calls of HTTP tools: it fills a tool's URL,
// body and header templates (hyponema.HTTPToolConfig) with the model's
// arguments and the workspace's secrets, sends the request through the
// egress guard, and words the answer, or why there is none, for the model.
//
// # Templates
//
// A placeholder is {{name}} for an argument (letters, digits, _ and -) or
// {{secrets.NAME}} for a workspace secret (letters, digits and _); spaces
// inside the braces are allowed. Every "{{" must open one: there is no
// escape (a URL can write %7B%7B, a JSON string \u007b{).
//
//   - URL: arguments only, in the path or the query, never in the scheme,
//     host or fragment, so that the model cannot choose where the request
//     goes. A value is its text (a string as itself, a number or boolean as
//     written, an object or array as compact JSON), path-escaped in the path
//     and query-escaped in the query. A missing or null argument fails the
//     call ("missing argument x"), as does an empty string in the path or a
//     value that would make a "." or ".." path segment.
//   - Query: on GET and DELETE the arguments that the URL does not use are
//     appended to the query string, sorted by name: scalars as key=value,
//     arrays of scalars as the key repeated (ids=1&ids=2), objects and
//     other arrays as compact JSON; null ones are left out.
//   - Body (POST, PUT, PATCH, sent as application/json): with no template,
//     the arguments that the URL does not use, as a JSON object. A template
//     is JSON in which {{name}} outside a string becomes the argument's JSON
//     (null if absent), so {"id": {{order_id}}} works for strings and
//     numbers, and inside a string becomes its text, JSON-escaped (empty if
//     absent), so "Order {{order_id}}" works too. Values cannot change the
//     template's structure, and the result must be valid JSON.
//   - Headers: secrets only; arguments are never put in headers, so that
//     the model cannot forge one. A secret holding CR, LF or another control
//     character fails the call; a secret that is not set fails it with "the
//     workspace secret NAME is not set". When a redirect leaves the URL's
//     origin (scheme, host and port), the headers that carry secrets are
//     dropped, as the egress guard drops Authorization and Cookie.
//
// # Answers
//
// A 2xx answer is given to the model as its body: JSON compacted, or, with
// response_fields, a JSON object whose keys are the paths as written and
// whose values are what they select (see selectFields); other text as is;
// either cut to MaxContentBytes with a note saying so. Anything else is a
// ToolResult with IsError set: "the API answered 404 Not Found: {first
// bytes of the body}", "timed out after 10s", "the answer is larger than
// 65536 bytes …", "refused: {the egress guard's reason}". Error messages
// name no address of the server's network and no secret: secret values are
// redacted from the excerpts of bodies they quote.
package httptool

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
)

// Limits of a call. A tool's timeout_ms and max_response_bytes choose
// within them; zero means the default.
const (
	DefaultTimeout          = hyponema.DefaultToolTimeoutMS * time.Millisecond
	MaxTimeout              = hyponema.MaxToolTimeoutMS * time.Millisecond
	DefaultMaxResponseBytes = 64 << 10
	MaxResponseBytes        = 1 << 20
	// MaxContentBytes is the most of an answer that the model is given;
	// more is cut, with a note.
	MaxContentBytes = 16 << 10
	// MaxErrorExcerptBytes is the most of an error answer's body that the
	// model is given.
	MaxErrorExcerptBytes = 500
	// UserAgent is sent with every call.
	UserAgent = "Hyponema-Tools/1"
)

// Runner calls HTTP tools. Its zero value with an Egress policy set is
// ready; it is safe for concurrent use and must not be copied after the
// first call.
type Runner struct {
	// Egress is the guard's policy: where calls may go and how many
	// redirects they follow. Its Timeout and MaxResponseBytes are replaced
	// by each tool's own limits.
	Egress egress.Policy
	// Secrets resolves {{secrets.NAME}} in headers. It may be nil if no
	// tool names a secret.
	Secrets hyponema.SecretResolver
	// Logger gets one debug line per call: tool, method, host, status,
	// latency and outcome; never the URL's path or query, headers, bodies
	// or secrets. Nil means slog.Default().
	Logger *slog.Logger

	once   sync.Once
	client *http.Client
}

// Call makes one call of the HTTP tool t with the model's arguments (a
// JSON object, already validated against t.Parameters) for the workspace
// workspaceID. Whatever becomes of the call is in the ToolResult, for the
// model: the answer, or, with IsError, why there is none.
//
// The error is non-nil only for the caller's mistakes (t nil, not an HTTP
// tool, of another workspace, arguments that are not a JSON object, a
// secret named but no Secrets set) and when ctx ends before the call does
// (ctx.Err()); the ToolResult is then empty.
func (r *Runner) Call(ctx context.Context, workspaceID string, t *hyponema.Tool, arguments json.RawMessage) (hyponema.ToolResult, error) {
	switch {
	case t == nil:
		return hyponema.ToolResult{}, errors.New("httptool: no tool")
	case t.Type != hyponema.ToolHTTP || t.HTTP == nil:
		return hyponema.ToolResult{}, fmt.Errorf("httptool: tool %s is not an HTTP tool", t.ID)
	case t.WorkspaceID != "" && t.WorkspaceID != workspaceID:
		return hyponema.ToolResult{}, fmt.Errorf("httptool: tool %s is not of workspace %s", t.ID, workspaceID)
	}
	a, err := parseArgs(arguments)
	if err != nil {
		return hyponema.ToolResult{}, err
	}
	c := &call{Runner: r, tool: t, cfg: t.HTTP, workspaceID: workspaceID}
	c.limits()
	res, err := c.run(ctx, a)
	var f *failure
	switch {
	case errors.As(err, &f):
		c.log(ctx, f.outcome)
		return hyponema.ToolResult{Content: f.msg, IsError: true}, nil
	case err != nil:
		return hyponema.ToolResult{}, err
	}
	c.log(ctx, "ok")
	return res, nil
}

// call is the state of one Call.
type call struct {
	*Runner
	tool        *hyponema.Tool
	cfg         *hyponema.HTTPToolConfig
	workspaceID string

	method   string
	timeout  time.Duration
	maxBytes int64

	secrets map[string]string // name → value, resolved for this call
	host    string            // for the log
	status  int               // 0 if no answer came
	latency time.Duration
}

// limits sets the call's timeout and response cap from the tool, clamped
// to this package's limits (ValidateConfig refuses values outside them).
func (c *call) limits() {
	c.timeout = time.Duration(c.cfg.TimeoutMS) * time.Millisecond
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	c.timeout = min(c.timeout, MaxTimeout)
	c.maxBytes = int64(c.cfg.MaxResponseBytes)
	if c.maxBytes <= 0 {
		c.maxBytes = DefaultMaxResponseBytes
	}
	c.maxBytes = min(c.maxBytes, MaxResponseBytes)
	c.method = strings.ToUpper(c.cfg.Method) // as Tool.Normalize stores it
	if c.method == "" {
		c.method = http.MethodPost
	}
}

func (c *call) run(ctx context.Context, a args) (hyponema.ToolResult, error) {
	req, secretHeaders, err := c.request(ctx, a)
	if err != nil {
		return hyponema.ToolResult{}, err
	}
	callCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	callCtx = context.WithValue(callCtx, secretHeadersKey{}, secretHeaders)
	req = req.WithContext(callCtx)

	start := time.Now()
	resp, err := c.httpClient().Do(req)
	if err != nil {
		c.latency = time.Since(start)
		return hyponema.ToolResult{}, c.transportFailure(ctx, callCtx, err)
	}
	defer resp.Body.Close()
	c.status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The start of the body is enough to say what went wrong; a cut
		// JSON is shown as text.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, min(c.maxBytes, 64<<10)))
		c.latency = time.Since(start)
		if ctx.Err() != nil {
			return hyponema.ToolResult{}, ctx.Err()
		}
		return hyponema.ToolResult{}, &failure{msg: c.errorAnswer(resp, body), outcome: "http_error"}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	c.latency = time.Since(start)
	if err != nil {
		return hyponema.ToolResult{}, c.transportFailure(ctx, callCtx, err)
	}
	if int64(len(body)) > c.maxBytes {
		return hyponema.ToolResult{}, c.tooLarge()
	}
	return hyponema.ToolResult{Content: content(resp, body, c.cfg.ResponseFields)}, nil
}

// request builds the call's request from the tool's templates, and says
// which of its headers carry secrets.
func (c *call) request(ctx context.Context, a args) (*http.Request, []string, error) {
	switch c.method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil, nil, misconfigured("its method %q is not one of GET, POST, PUT, PATCH, DELETE", clip(c.method, 20))
	}
	u, used, err := renderURL(c.cfg.URL, a)
	if err != nil {
		return nil, nil, err
	}
	c.host = u.Host
	var body []byte
	switch c.method {
	case http.MethodGet, http.MethodDelete:
		if c.cfg.Body != "" {
			return nil, nil, misconfigured("it has a body template, but a body is only sent with POST, PUT and PATCH")
		}
		addQuery(u, a, used)
	default:
		if c.cfg.Body == "" {
			body = argsBody(a, used)
			break
		}
		segs, err := parseTemplate(c.cfg.Body)
		if err == nil {
			body, err = renderBody(segs, a, false)
		}
		if err != nil {
			return nil, nil, misconfigured("its body template: %v", err)
		}
	}
	header, secretHeaders, err := c.headers(ctx)
	if err != nil {
		return nil, nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body) // which lets a 307 or 308 redirect send it again
	}
	// run gives the request its context, with the timeout.
	req, err := http.NewRequestWithContext(ctx, c.method, u.String(), rd)
	if err != nil {
		return nil, nil, misconfigured("its URL is not valid")
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	for name, vs := range header {
		req.Header[name] = vs
	}
	return req, secretHeaders, nil
}

// headers renders the tool's header templates, resolving the secrets they
// name. It returns the headers and the names of those that carry secrets.
func (c *call) headers(ctx context.Context) (http.Header, []string, error) {
	h := make(http.Header, len(c.cfg.Headers))
	var secretHeaders []string
	for _, name := range sortedKeys(c.cfg.Headers) {
		if msg := checkHeaderName(name); msg != "" {
			return nil, nil, misconfigured("header %s: %s", clip(name, 80), msg)
		}
		segs, err := parseTemplate(c.cfg.Headers[name])
		if err != nil {
			return nil, nil, misconfigured("header %s: %v", name, err)
		}
		var b strings.Builder
		hasSecret := false
		for _, s := range segs {
			switch {
			case s.name == "":
				if badHeaderValue(s.lit) {
					return nil, nil, misconfigured("header %s holds a line break or another control character", name)
				}
				b.WriteString(s.lit)
			case !s.secret:
				return nil, nil, misconfigured("header %s: {{%s}}: arguments are not put in headers; only {{secrets.NAME}} is", name, s.name)
			default:
				v, err := c.secret(ctx, s.name)
				if err != nil {
					return nil, nil, err
				}
				b.WriteString(v)
				hasSecret = true
			}
		}
		name = http.CanonicalHeaderKey(name)
		h.Set(name, b.String())
		if hasSecret {
			secretHeaders = append(secretHeaders, name)
		}
	}
	return h, secretHeaders, nil
}

// secret resolves a workspace secret once per call. Its value goes into a
// header and nowhere else: not into errors, logs or the model's content.
func (c *call) secret(ctx context.Context, name string) (string, error) {
	if v, ok := c.secrets[name]; ok {
		return v, nil
	}
	if c.Secrets == nil {
		return "", fmt.Errorf("httptool: tool %s names a secret, but the Runner has no SecretResolver", c.tool.ID)
	}
	v, err := c.Secrets.ResolveSecret(ctx, c.workspaceID, name)
	switch {
	case hyponema.ErrorCode(err) == hyponema.ENOTFOUND:
		return "", &failure{msg: "the workspace secret " + name + " is not set", outcome: "not_sent"}
	case err != nil && ctx.Err() != nil:
		return "", ctx.Err()
	case err != nil:
		// The resolver's error is about its store, not the value.
		c.logger().ErrorContext(ctx, "http tool secret", "tool_id", c.tool.ID, "workspace_id", c.workspaceID, "secret", name, "error", err)
		return "", &failure{msg: "the workspace secret " + name + " could not be read", outcome: "not_sent"}
	case badHeaderValue(v):
		return "", &failure{msg: "the workspace secret " + name + " holds a line break or another control character, which a header cannot carry; fix the secret", outcome: "not_sent"}
	}
	if c.secrets == nil {
		c.secrets = make(map[string]string)
	}
	c.secrets[name] = v
	return v, nil
}

// secretHeadersKey is the context key under which a request carries the
// names of its headers that hold secrets, for the redirect check.
type secretHeadersKey struct{}

// httpClient is one egress-guarded client for every call, so that calls to
// the same API share its connections. The guard's own timeout and cap are
// set wide; each call's context carries its timeout, and run reads at most
// its tool's max_response_bytes.
func (r *Runner) httpClient() *http.Client {
	r.once.Do(func() {
		p := r.Egress
		p.Timeout = -1
		p.MaxResponseBytes = MaxResponseBytes
		hc := p.Client()
		guard := hc.CheckRedirect
		hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if err := guard(req, via); err != nil {
				return err
			}
			names, _ := req.Context().Value(secretHeadersKey{}).([]string)
			if len(names) > 0 && leftOrigin(req, via) {
				for _, n := range names {
					req.Header.Del(n)
				}
			}
			return nil
		}
		r.client = hc
	})
	return r.client
}

// leftOrigin reports whether req, or any hop before it, is at another
// origin than the first request.
func leftOrigin(req *http.Request, via []*http.Request) bool {
	first := via[0].URL
	if !sameOrigin(first, req.URL) {
		return true
	}
	for _, v := range via[1:] {
		if !sameOrigin(first, v.URL) {
			return true
		}
	}
	return false
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(strings.TrimSuffix(u.Hostname(), "."), port)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// log writes the call's debug line. The host is the tool's own (arguments
// never reach it); the path and query, which hold arguments, are left out.
func (c *call) log(ctx context.Context, outcome string) {
	c.logger().LogAttrs(ctx, slog.LevelDebug, "http tool call",
		slog.String("tool_id", c.tool.ID),
		slog.String("workspace_id", c.workspaceID),
		slog.String("method", c.method),
		slog.String("host", c.host),
		slog.Int("status", c.status),
		slog.Duration("latency", c.latency),
		slog.String("outcome", outcome),
	)
}

func (c *call) tooLarge() error {
	return &failure{
		msg:     fmt.Sprintf("the answer is larger than %d bytes, the tool's limit (max_response_bytes)", c.maxBytes),
		outcome: "too_large",
	}
}

// transportFailure words a failed request or read for the model: the
// egress guard's message as it is (it is written for workspace users),
// otherwise the class of failure, never addresses of the server's network
// or the URL. It returns ctx's error, not a failure, if the caller's
// context ended.
func (c *call) transportFailure(ctx, callCtx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return &failure{msg: "timed out after " + c.timeout.String(), outcome: "timeout"}
	}
	var ge *egress.Error
	if errors.As(err, &ge) {
		switch ge.Reason {
		case egress.ReasonTooLarge:
			return c.tooLarge()
		case egress.ReasonUnresolvable:
			return &failure{msg: ge.Msg, outcome: "failed"}
		}
		return &failure{msg: "refused: " + ge.Msg, outcome: "refused"}
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return &failure{msg: "timed out after " + c.timeout.String(), outcome: "timeout"}
	}
	var dns *net.DNSError
	var certErr *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	msg := ""
	switch {
	case errors.As(err, &dns):
		msg = "the API's host name did not resolve"
	case errors.Is(err, syscall.ECONNREFUSED):
		msg = "the API refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		msg = "the API closed the connection before answering"
	case errors.As(err, &certErr):
		msg = "the API's TLS certificate is not valid"
	case errors.As(err, &rec):
		msg = "the API does not speak TLS"
	default:
		// Other transport errors may name addresses of the network between
		// the server and the API: keep them for the server's log, without
		// *url.Error's URL, whose query holds arguments.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		c.logger().DebugContext(ctx, "http tool call failed", "tool_id", c.tool.ID, "error", err)
		msg = "the request to the API failed"
	}
	return &failure{msg: msg, outcome: "failed"}
}
