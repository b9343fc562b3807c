package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/hyponema/hyponema/llm"
	"github.com/hyponema/hyponema/llm/anthropic"
	"github.com/hyponema/hyponema/llm/local"
	"github.com/hyponema/hyponema/llm/openai"
)

// Config is the server's configuration: each field is an environment
// variable and a flag, and the flag wins.
type Config struct {
	Addr             string
	DatabaseURL      string
	DataDir          string
	PublicURL        string
	BootstrapAPIKey  string
	OpenAIAPIKey     string
	OpenAIBaseURL    string
	AnthropicAPIKey  string
	AnthropicBaseURL string
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
	fs.StringVar(&c.BootstrapAPIKey, "bootstrap-api-key", env("HYPONEMA_BOOTSTRAP_API_KEY", ""), "hyp_… key of a workspace created when the database holds none (HYPONEMA_BOOTSTRAP_API_KEY)")
	fs.StringVar(&c.OpenAIAPIKey, "openai-api-key", env("HYPONEMA_OPENAI_API_KEY", ""), "key for the OpenAI-compatible provider (HYPONEMA_OPENAI_API_KEY)")
	fs.StringVar(&c.OpenAIBaseURL, "openai-base-url", env("HYPONEMA_OPENAI_BASE_URL", ""), "any OpenAI-compatible server: OpenAI, vLLM, llama.cpp, Ollama … (HYPONEMA_OPENAI_BASE_URL)")
	fs.StringVar(&c.AnthropicAPIKey, "anthropic-api-key", env("HYPONEMA_ANTHROPIC_API_KEY", ""), "key for Anthropic (HYPONEMA_ANTHROPIC_API_KEY)")
	fs.StringVar(&c.AnthropicBaseURL, "anthropic-base-url", env("HYPONEMA_ANTHROPIC_BASE_URL", ""), "Anthropic API base URL (HYPONEMA_ANTHROPIC_BASE_URL)")
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
