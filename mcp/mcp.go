// Package mcp is Hyponema's client for MCP (Model Context Protocol) tool
// servers: the conversation engine lists a server's tools and calls them
// during a chat turn. It wraps the official SDK
// (github.com/modelcontextprotocol/go-sdk) and adds what the engine needs:
//
//   - one session per server, connected lazily and connected again when the
//     server drops it (a restart that forgets the session, a refused
//     connection, EOF), with concurrent callers sharing a single reconnect;
//   - a call retried once on the new session only when it is known not to
//     have reached the server (it failed to connect, or the server said it
//     did not know the session), so a tool never runs twice because of us;
//     otherwise the error says that the call may or may not have run;
//   - the tool list cached for a TTL;
//   - results as text, a tool's own failure as a result with IsError, and
//     everything else as an *Error whose Kind tells an unreachable server
//     from a protocol error from an unknown tool, and whose text never holds
//     the configured header values.
//
// A Server is reached over the streamable HTTP transport through the
// *http.Client it is given, which should be egress-guarded (egress.Policy's
// Client); a Command is a server run as a subprocess speaking stdio, for
// servers the operator configures (the engine decides who may use them).
package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/hyponema/hyponema/egress"
)

// Defaults for the zero fields of Server and Command.
const (
	DefaultToolsTTL    = 5 * time.Minute
	DefaultCallTimeout = 30 * time.Second
)

// Server is an MCP server reached over the streamable HTTP transport.
type Server struct {
	// URL is the server's MCP endpoint, http or https.
	URL string
	// Header is sent with every request to URL's origin, e.g.
	// Authorization, and not along a redirect to another origin. Its
	// values are treated as secrets, as are the URL's query and its path
	// segments of 16 bytes or more: they never appear in errors. Headers
	// that the transport sets itself (Mcp-*, Accept, Content-Type,
	// Last-Event-ID) may not be given.
	Header http.Header
	// HTTPClient makes the requests; nil means egress.Policy{}.Client(),
	// which reaches public addresses only. Its Timeout bounds each request
	// (15 s for an egress client by default) as well as CallTimeout does;
	// its MaxResponseBytes caps each response, a tool result included.
	HTTPClient *http.Client
	// ToolsTTL is how long ListTools answers from its cache: zero means
	// DefaultToolsTTL, negative means it asks the server every time.
	ToolsTTL time.Duration
	// CallTimeout bounds each ListTools, Refresh and CallTool, a reconnect
	// and its retry included: zero means DefaultCallTimeout, negative means
	// only the caller's context bounds them.
	CallTimeout time.Duration
}

// Command is an MCP server run as a subprocess that speaks the stdio
// transport. It is for servers the operator configures: the subprocess runs
// with Hyponema's own privileges.
type Command struct {
	// Path is the program; without a slash it is looked up in PATH.
	Path string
	// Args are its arguments, not counting the program name.
	Args []string
	// Env is its whole environment, as KEY=value. Nil gives it only PATH:
	// Hyponema's own environment holds secrets that a tool server has no
	// business reading. The values but PATH's are kept out of errors.
	Env []string
	// Dir is its working directory; empty means Hyponema's.
	Dir string
	// Stderr receives what it writes to stderr; nil discards it.
	Stderr io.Writer
	// ToolsTTL and CallTimeout are as for Server.
	ToolsTTL    time.Duration
	CallTimeout time.Duration
}

// Tool is a tool that a server offers.
type Tool struct {
	Name        string
	Title       string // a display name, if the server gave one
	Description string
	// InputSchema is the JSON Schema of the arguments, as the server gave
	// it. Do not modify it: the cache shares it between callers.
	InputSchema json.RawMessage
}

// Result is what a tool returned.
type Result struct {
	// Text is the result's text content, its parts joined by newlines,
	// with other kinds of content noted in brackets ("[image image/png,
	// 4 KiB]"). A result with no content but structured content gives that
	// as JSON.
	Text string
	// IsError reports that the tool itself failed: Text says why, for the
	// model to read. A tool's failure is a result, not a Go error.
	IsError bool
}

// Client talks to one MCP server. Its methods are safe for concurrent use.
// Make one per server and keep it (or use a Pool): it holds the session.
type Client struct {
	mcp          *sdk.Client
	newTransport func() (sdk.Transport, *exec.Cmd)
	ttl          time.Duration // negative: no cache
	timeout      time.Duration // negative: none
	redactor     *strings.Replacer
	now          func() time.Time // tests move the clock

	ctx     context.Context // cancelled by Close, which ends a connect in progress
	cancel  context.CancelFunc
	closing sync.WaitGroup // connects and session closes running in the background

	listSem chan struct{} // one tools/list at a time

	mu        sync.Mutex
	closed    bool
	sess      *session // nil until connected, and after a drop
	dialing   *dialing // the connect in progress, shared by its waiters
	connected bool     // a session was established once: later ones are reconnects

	// The tool list cache, under mu.
	tools      []Tool
	names      map[string]bool
	hasList    bool
	fetchedAt  time.Time
	stale      bool   // a reconnect or a list_changed notification happened since
	listStarts uint64 // fetches started
	listDone   uint64 // the start number of the last fetch that completed
}

// New returns a Client for an MCP server reached over streamable HTTP. It
// checks the configuration but does not connect: the first ListTools or
// CallTool does. Errors are *Error values of KindInvalid.
func New(s Server) (*Client, error) {
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{Kind: KindInvalid, Msg: "the MCP server URL must be an absolute http or https URL"}
	}
	if u.User != nil {
		return nil, &Error{Kind: KindInvalid, Msg: "the MCP server URL must not hold a user name or password; send credentials in headers"}
	}
	header := make(http.Header, len(s.Header))
	for k, vs := range s.Header {
		ck := http.CanonicalHeaderKey(k)
		switch {
		case strings.HasPrefix(ck, "Mcp-"), ck == "Accept", ck == "Content-Type", ck == "Content-Length", ck == "Last-Event-Id", ck == "Host":
			return nil, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("header %s is set by the MCP transport and may not be configured", ck)}
		}
		header[ck] = append([]string(nil), vs...)
	}
	hc := s.HTTPClient
	if hc == nil {
		hc = egress.Policy{}.Client()
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	wrapped := *hc // a shallow copy keeps its redirect policy and timeout
	wrapped.Transport = &roundTripper{next: next, header: header, origin: origin(u)}
	// Some hosted servers take their key in the URL's query or path.
	secrets := []string{u.RawQuery}
	for _, vs := range header {
		secrets = append(secrets, vs...)
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if len(seg) >= 16 {
			secrets = append(secrets, seg)
		}
	}
	newTransport := func() (sdk.Transport, *exec.Cmd) {
		return &sdk.StreamableClientTransport{
			Endpoint:   s.URL,
			HTTPClient: &wrapped,
			// The standalone GET stream only carries notifications that we
			// do not need, and it would hold a connection open per server
			// against the egress client's timeout and size cap.
			DisableStandaloneSSE: true,
			// How often the SDK tries to resume a call's broken SSE stream
			// (with Last-Event-ID) before the call fails; its default of 5,
			// with backoff from 1 s, can keep a caller waiting for half a
			// minute on a server that is gone.
			MaxRetries: 2,
		}, nil
	}
	return newClient(newTransport, s.ToolsTTL, s.CallTimeout, secrets), nil
}

// NewCommand returns a Client for an MCP server run as a subprocess over
// stdio. The subprocess starts at the first ListTools or CallTool, and again
// if it exits. Errors are *Error values of KindInvalid.
func NewCommand(cmd Command) (*Client, error) {
	if cmd.Path == "" {
		return nil, &Error{Kind: KindInvalid, Msg: "the MCP server command has no path"}
	}
	env := cmd.Env
	if env == nil {
		env = []string{"PATH=" + os.Getenv("PATH")}
	}
	args := append([]string(nil), cmd.Args...)
	env = append([]string(nil), env...)
	newTransport := func() (sdk.Transport, *exec.Cmd) {
		c := exec.Command(cmd.Path, args...)
		c.Env, c.Dir, c.Stderr = env, cmd.Dir, cmd.Stderr
		// Close closes its stdin, then sends SIGTERM after 2 s and SIGKILL
		// 2 s after that.
		return trackedTransport{&sdk.CommandTransport{Command: c, TerminateDuration: 2 * time.Second}}, c
	}
	var secrets []string
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k != "PATH" {
			secrets = append(secrets, v)
		}
	}
	return newClient(newTransport, cmd.ToolsTTL, cmd.CallTimeout, secrets), nil
}

func newClient(newTransport func() (sdk.Transport, *exec.Cmd), ttl, timeout time.Duration, secrets []string) *Client {
	if ttl == 0 {
		ttl = DefaultToolsTTL
	}
	if timeout == 0 {
		timeout = DefaultCallTimeout
	}
	c := &Client{
		newTransport: newTransport,
		ttl:          ttl,
		timeout:      timeout,
		redactor:     newRedactor(secrets),
		now:          time.Now,
		listSem:      make(chan struct{}, 1),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mcp = sdk.NewClient(&sdk.Implementation{Name: "hyponema", Version: version()}, &sdk.ClientOptions{
		// No roots, sampling or elicitation: the engine offers none. (Left
		// nil, the SDK would declare roots.)
		Capabilities: &sdk.ClientCapabilities{},
		// Such notifications only arrive on a call's own response stream,
		// since the standalone stream is off, but when one does, believe it.
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			c.mu.Lock()
			c.stale = true
			c.mu.Unlock()
		},
	})
	return c
}

// Close ends the calls in progress and the session (for a Command, the
// subprocess), and makes further calls fail with KindClosed. It waits for
// sessions being closed in the background. Ending a session is best
// effort, so Close returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	s := c.sess
	c.sess = nil
	c.mu.Unlock()
	c.cancel()
	if s != nil {
		_ = s.cs.Close()
	}
	c.closing.Wait()
	return nil
}

// withTimeout bounds one operation by the Client's CallTimeout, and ends it
// when the Client is closed.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	var cancel context.CancelFunc
	if c.timeout < 0 {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	stop := context.AfterFunc(c.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// origin is scheme://host:port, with the default port made explicit.
func origin(u *url.URL) string {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return strings.ToLower(u.Scheme) + "://" + host + ":" + port
}

// newRedactor replaces secrets, and the words of at least 6 bytes inside
// them (the token of "Bearer <token>"), longest first.
func newRedactor(secrets []string) *strings.Replacer {
	seen := map[string]bool{}
	var words []string
	add := func(s string) {
		if len(s) >= 6 && !seen[s] {
			seen[s] = true
			words = append(words, s)
		}
	}
	for _, s := range secrets {
		add(s)
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == ';' || r == '&' || r == '=' }) {
			add(f)
		}
	}
	sort.Slice(words, func(i, j int) bool { return len(words[i]) > len(words[j]) })
	pairs := make([]string, 0, 2*len(words))
	for _, w := range words {
		pairs = append(pairs, w, "[redacted]")
	}
	return strings.NewReplacer(pairs...)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func closedError() *Error { return &Error{Kind: KindClosed, Msg: "the MCP client is closed"} }
