package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/anthropic"
	"github.com/hyponema/hyponema/llm/local"
	"github.com/hyponema/hyponema/llm/openai"
	"github.com/hyponema/hyponema/mcp"
	"github.com/hyponema/hyponema/seal"
)

// Config is the server's configuration: each field is an environment
// variable and a flag, and the flag wins.
type Config struct {
	Addr             string
	DatabaseURL      string
	DataDir          string
	PublicURL        string
	BootstrapAPIKey  string
	SecretKey        string
	OpenAIAPIKey     string
	OpenAIBaseURL    string
	AnthropicAPIKey  string
	AnthropicBaseURL string
	EgressAllow      string
	MCPServers       string
	EmbeddingModel   string
	LogLevel         string
	LogFormat        string
}

// bind registers the configuration's flags on fs, with defaults taken from
// the environment.
func (c *Config) bind(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", env("HYPONEMA_ADDR", "127.0.0.1:8080"), "listen address (HYPONEMA_ADDR)")
	fs.StringVar(&c.DataDir, "data-dir", env("HYPONEMA_DATA_DIR", "./data"), "directory for the SQLite database and generated secrets (HYPONEMA_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("HYPONEMA_DATABASE_URL", ""), "postgres://… for PostgreSQL; default: an SQLite file in the data dir (HYPONEMA_DATABASE_URL)")
	fs.StringVar(&c.PublicURL, "public-url", env("HYPONEMA_PUBLIC_URL", ""), "URL at which clients reach this server; default: http://ADDR (HYPONEMA_PUBLIC_URL)")
	fs.StringVar(&c.SecretKey, "secret-key", env("HYPONEMA_SECRET_KEY", ""), "key for signing and encryption, at least 32 characters; default: generated into the data dir on first run (HYPONEMA_SECRET_KEY)")
	fs.StringVar(&c.BootstrapAPIKey, "bootstrap-api-key", env("HYPONEMA_BOOTSTRAP_API_KEY", ""), "hyp_… key of a workspace created when the database holds none (HYPONEMA_BOOTSTRAP_API_KEY)")
	fs.StringVar(&c.OpenAIAPIKey, "openai-api-key", env("HYPONEMA_OPENAI_API_KEY", ""), "key for the OpenAI-compatible provider (HYPONEMA_OPENAI_API_KEY)")
	fs.StringVar(&c.OpenAIBaseURL, "openai-base-url", env("HYPONEMA_OPENAI_BASE_URL", ""), "any OpenAI-compatible server: OpenAI, vLLM, llama.cpp, Ollama … (HYPONEMA_OPENAI_BASE_URL)")
	fs.StringVar(&c.AnthropicAPIKey, "anthropic-api-key", env("HYPONEMA_ANTHROPIC_API_KEY", ""), "key for Anthropic (HYPONEMA_ANTHROPIC_API_KEY)")
	fs.StringVar(&c.AnthropicBaseURL, "anthropic-base-url", env("HYPONEMA_ANTHROPIC_BASE_URL", ""), "Anthropic API base URL (HYPONEMA_ANTHROPIC_BASE_URL)")
	fs.StringVar(&c.EgressAllow, "egress-allow", env("HYPONEMA_EGRESS_ALLOW", ""), "comma-separated CIDRs or host names that outbound requests (webhooks, tools …) may reach although they are not public, e.g. 127.0.0.1/32 for local development (HYPONEMA_EGRESS_ALLOW)")
	fs.StringVar(&c.MCPServers, "mcp-servers", env("HYPONEMA_MCP_SERVERS", ""), `MCP servers run on this host over stdio, as JSON: {"name":{"command":"…","args":[…],"env":{…},"dir":"…"}}; tools of every workspace may use them by name (HYPONEMA_MCP_SERVERS)`)
	fs.StringVar(&c.EmbeddingModel, "embedding-model", env("HYPONEMA_EMBEDDING_MODEL", ""), "embeddings model of the OpenAI-compatible server (e.g. text-embedding-3-small) for hybrid knowledge-base search; empty: lexical search only (HYPONEMA_EMBEDDING_MODEL)")
	fs.StringVar(&c.LogLevel, "log-level", env("HYPONEMA_LOG_LEVEL", "info"), "debug, info, warn or error (HYPONEMA_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("HYPONEMA_LOG_FORMAT", "text"), "text or json (HYPONEMA_LOG_FORMAT)")
}

// databaseURL returns the configured database, or the default SQLite file.
func (c *Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "hyponema.db")
}

// publicURL returns the URL at which clients reach the server.
func (c *Config) publicURL(addr string) string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	return "http://" + addr
}

// secretKey returns the configured secret key, or the one kept in the data
// dir, generating it there (mode 0600) on first run. Replicas must share
// one: set HYPONEMA_SECRET_KEY for them.
func (c *Config) secretKey() ([]byte, error) {
	if c.SecretKey != "" {
		if len(c.SecretKey) < 32 {
			return nil, errors.New("HYPONEMA_SECRET_KEY must be at least 32 characters")
		}
		return []byte(c.SecretKey), nil
	}
	path := filepath.Join(c.DataDir, "secret_key")
	if b, err := os.ReadFile(path); err == nil {
		if key := strings.TrimSpace(string(b)); len(key) >= 32 {
			return []byte(key), nil
		}
		return nil, fmt.Errorf("%s holds no key of 32 characters or more", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the secret key: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the data dir: %w", err)
	}
	buf := make([]byte, 32)
	_, _ = rand.Read(buf)
	key := hex.EncodeToString(buf)
	// O_EXCL: of two processes starting at once, one writes and the other
	// reads what it wrote.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.secretKey()
	} else if err != nil {
		return nil, fmt.Errorf("writing the secret key: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(key + "\n"); err != nil {
		return nil, fmt.Errorf("writing the secret key: %w", err)
	}
	return []byte(key), f.Sync()
}

// tokenKeys derives the session client tokens' signing key from the secret
// key. Its id is a digest of the key, so that tokens signed under an old
// secret fail as unknown_key after the secret changes.
func tokenKeys(secret []byte) (*clienttoken.Keyring, error) {
	key, err := clienttoken.DeriveKey("k1", secret, "hyponema session client tokens")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key.Secret)
	key.ID = "k" + hex.EncodeToString(sum[:4])
	return clienttoken.NewKeyring(key)
}

// sealBox derives the key that seals stored secrets (webhook signing
// secrets) from the secret key.
func sealBox(secret []byte, purpose string) (*seal.Box, error) {
	return seal.New(purpose, seal.Key{ID: "k1", Secret: secret})
}

// mcpServers parses HYPONEMA_MCP_SERVERS. A server's environment is what
// the operator gives it plus PATH, never Hyponema's own (it holds secrets).
func (c *Config) mcpServers() (map[string]mcp.Command, error) {
	if strings.TrimSpace(c.MCPServers) == "" {
		return nil, nil
	}
	var in map[string]struct {
		Command string            `json:"command"`
		Args    []string          `json:"args"`
		Env     map[string]string `json:"env"`
		Dir     string            `json:"dir"`
	}
	dec := json.NewDecoder(strings.NewReader(c.MCPServers))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("HYPONEMA_MCP_SERVERS: %w", err)
	}
	out := make(map[string]mcp.Command, len(in))
	for name, s := range in {
		t := hyponema.Tool{Name: "t", Type: hyponema.ToolMCP, MCP: &hyponema.MCPToolConfig{Transport: hyponema.MCPStdio, Server: name}}
		t.Normalize()
		if err := t.Validate(); err != nil || s.Command == "" {
			return nil, fmt.Errorf("HYPONEMA_MCP_SERVERS: server %q needs a name of letters, digits, _ and -, and a command", name)
		}
		env := []string{"PATH=" + os.Getenv("PATH")}
		for k, v := range s.Env {
			if k == "PATH" {
				env[0] = "PATH=" + v
				continue
			}
			env = append(env, k+"="+v)
		}
		out[name] = mcp.Command{Path: s.Command, Args: s.Args, Env: env, Dir: s.Dir}
	}
	return out, nil
}

// embedder returns the embeddings client, or nil when no model is set.
func (c *Config) embedder() hyponema.Embedder {
	if c.EmbeddingModel == "" {
		return nil
	}
	return openai.NewEmbedder(openai.Config{APIKey: c.OpenAIAPIKey, BaseURL: c.OpenAIBaseURL}, c.EmbeddingModel)
}

// logger builds the process's logger.
func (c *Config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}

// models registers the configured model providers: the offline local engine
// always, OpenAI-compatible and Anthropic when a key or base URL is set.
// Each is wrapped in the retry policy (429 and 5xx before the first token).
func (c *Config) models() *llm.Router {
	r := llm.NewRouter()
	r.Register("local", local.New())
	if c.OpenAIAPIKey != "" || c.OpenAIBaseURL != "" {
		r.Register("openai", llm.WithRetry(openai.New(openai.Config{APIKey: c.OpenAIAPIKey, BaseURL: c.OpenAIBaseURL}), llm.RetryPolicy{}))
	}
	if c.AnthropicAPIKey != "" || c.AnthropicBaseURL != "" {
		r.Register("anthropic", llm.WithRetry(anthropic.New(anthropic.Config{APIKey: c.AnthropicAPIKey, BaseURL: c.AnthropicBaseURL}), llm.RetryPolicy{}))
	}
	return r
}
