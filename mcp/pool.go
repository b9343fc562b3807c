package mcp

import (
	"crypto/sha256"
	"net/http"
	"sort"
	"sync"
	"time"
)

// DefaultIdleTimeout is how long a Pool keeps a Client that nobody asked for.
const DefaultIdleTimeout = 30 * time.Minute

// Pool keeps one Client per server configuration (URL, headers, HTTP
// client, TTL and timeout), so that a session lasts across chat turns and
// callers with the same configuration share it. The zero Pool is ready to
// use; its methods are safe for concurrent use.
//
// Get a Client for each turn rather than keeping it: a Client that nobody
// has asked the Pool for in IdleTimeout is closed. Do not Close a Client
// from a Pool; Close the Pool.
type Pool struct {
	// IdleTimeout is how long an unrequested Client is kept: zero means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration

	mu      sync.Mutex
	closed  bool
	clients map[poolKey]*pooled
	now     func() time.Time // tests move the clock
}

type pooled struct {
	c        *Client
	lastUsed time.Time
}

// poolKey identifies a configuration. The headers are hashed so that the
// key holds no secret.
type poolKey struct {
	url     string
	header  [sha256.Size]byte
	client  *http.Client
	ttl     time.Duration
	timeout time.Duration
}

// Client returns the pool's Client for s, making it on first use. Errors
// are New's, or KindClosed once the Pool is closed.
func (p *Pool) Client(s Server) (*Client, error) {
	k := poolKey{url: s.URL, header: hashHeader(s.Header), client: s.HTTPClient, ttl: s.ToolsTTL, timeout: s.CallTimeout}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, &Error{Kind: KindClosed, Msg: "the MCP client pool is closed"}
	}
	now := p.clock()
	p.sweepLocked(now)
	if e, ok := p.clients[k]; ok {
		e.lastUsed = now
		return e.c, nil
	}
	c, err := New(s)
	if err != nil {
		return nil, err
	}
	if p.clients == nil {
		p.clients = map[poolKey]*pooled{}
	}
	p.clients[k] = &pooled{c: c, lastUsed: now}
	return c, nil
}

// Close closes every Client of the pool; later calls to Client fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	clients := p.clients
	p.clients = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range clients {
		wg.Go(func() { _ = e.c.Close() })
	}
	wg.Wait()
	return nil
}

// sweepLocked closes, in the background, the Clients idle for too long.
func (p *Pool) sweepLocked(now time.Time) {
	idle := p.IdleTimeout
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	for k, e := range p.clients {
		if now.Sub(e.lastUsed) >= idle {
			delete(p.clients, k)
			go e.c.Close()
		}
	}
}

func (p *Pool) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

func hashHeader(h http.Header) [sha256.Size]byte {
	canon := make(map[string][]string, len(h))
	keys := make([]string, 0, len(h))
	for k, vs := range h {
		ck := http.CanonicalHeaderKey(k)
		if _, ok := canon[ck]; !ok {
			keys = append(keys, ck)
		}
		canon[ck] = append(canon[ck], vs...)
	}
	sort.Strings(keys)
	sum := sha256.New()
	for _, k := range keys {
		sum.Write([]byte(k))
		for _, v := range canon[k] {
			sum.Write([]byte{0})
			sum.Write([]byte(v))
		}
		sum.Write([]byte{1})
	}
	var out [sha256.Size]byte
	copy(out[:], sum.Sum(nil))
	return out
}
