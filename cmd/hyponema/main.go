// Command hyponema runs the Hyponema server and its management commands.
//
//	hyponema serve                       run the server (SQLite in ./data by default)
//	hyponema migrate                     apply database migrations and exit
//	hyponema workspace create --name N   create a workspace and print its first API key
//	hyponema chat --agent agt_…          chat with an agent of a running server
//	hyponema version                     print the version
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/riverqueue/river"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/bus"
	"github.com/hyponema/hyponema/conversation"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/httpapi"
	"github.com/hyponema/hyponema/jobs"
	"github.com/hyponema/hyponema/knowledge"
	"github.com/hyponema/hyponema/mcp"
	"github.com/hyponema/hyponema/store"
	"github.com/hyponema/hyponema/tool"
	"github.com/hyponema/hyponema/tool/httptool"
	"github.com/hyponema/hyponema/webhook"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise
// it comes from the module's build info.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "hyponema:", err)
		}
		os.Exit(1)
	}
}

const usage = `Hyponema: build, run and study conversational AI agents.

Usage:
  hyponema serve [flags]                      run the server
  hyponema migrate [flags]                    apply database migrations and exit
  hyponema workspace create --name N [flags]  create a workspace; print its ID and first API key as JSON
  hyponema chat --agent agt_… [flags]         chat with an agent of a running server in the terminal
  hyponema version                            print the version

Run "hyponema serve -h" for the flags; each has an environment variable too.
`

// run dispatches a command line. It is main without the process: tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args[1:], getenv, stdout, stderr)
	case "workspace":
		if len(args) < 2 || args[1] != "create" {
			return errors.New(`usage: hyponema workspace create --name NAME`)
		}
		return runWorkspaceCreate(ctx, args[2:], getenv, stdout, stderr)
	case "chat":
		return runChat(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*Config, error) {
	fs := flag.NewFlagSet("hyponema "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &Config{}
	c.bind(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, nil
}

func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig("serve", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	m := NewMain(c, stderr)
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	fmt.Fprintf(stdout, "hyponema %s listening on %s (database: %s)\n", buildVersion(), m.URL(), m.DB.Dialect())
	<-ctx.Done()
	m.logger.Info("shutting down")
	return m.Close()
}

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parseConfig("migrate", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "migrated %s database\n", db.Dialect())
	return nil
}

func runWorkspaceCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var name string
	c, err := parseConfig("workspace create", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "workspace name (required)")
	})
	if err != nil {
		return err
	}
	db, err := openDB(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	w, secret, err := createWorkspace(ctx, db, name, "")
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(map[string]string{"workspace_id": w.ID, "api_key": secret})
}

// openDB opens the configured database and brings its schema up to date.
func openDB(ctx context.Context, c *Config) (*store.DB, error) {
	db, err := store.Open(ctx, c.databaseURL())
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := jobs.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// createWorkspace creates a workspace and its first API key, with the given
// secret or a new one.
func createWorkspace(ctx context.Context, db *store.DB, name, secret string) (*hyponema.Workspace, string, error) {
	w := &hyponema.Workspace{Name: name}
	if err := store.NewWorkspaceService(db).CreateWorkspace(ctx, w); err != nil {
		return nil, "", errorText(err)
	}
	keys := store.NewAPIKeyService(db)
	k := &hyponema.APIKey{WorkspaceID: w.ID, Name: "first key"}
	var err error
	if secret == "" {
		secret, err = keys.CreateAPIKey(ctx, k)
	} else {
		k.Name = "bootstrap key"
		err = keys.CreateAPIKeyWithSecret(ctx, k, secret)
	}
	if err != nil {
		return nil, "", errorText(err)
	}
	return w, secret, nil
}

// errorText shows domain errors by their message, for people at a terminal.
func errorText(err error) error {
	if code := hyponema.ErrorCode(err); code != hyponema.EINTERNAL {
		return errors.New(hyponema.ErrorMessage(err))
	}
	return err
}

// webhookWorkers is how many deliveries run at once: they wait on
// receivers, not on the CPU.
const webhookWorkers = 100

// ingestWorkers is how many knowledge sources are ingested at once: each
// may hold a 20 MiB document and its text while it is chunked and embedded.
const ingestWorkers = 4

// Main is the running program: its configuration and the adapters it wired.
type Main struct {
	Config *Config
	DB     *store.DB
	Engine *conversation.Engine
	Jobs   *jobs.Queue
	HTTP   *httpapi.Server

	logger *slog.Logger
	stderr io.Writer
	tools  *tool.Runner       // MCP sessions and stdio servers, kept across turns
	cancel context.CancelFunc // stops background work
	wg     sync.WaitGroup     // background work still running
}

// NewMain returns a program that logs to stderr.
func NewMain(c *Config, stderr io.Writer) *Main {
	return &Main{Config: c, stderr: stderr}
}

// Run opens the database, migrates it, bootstraps the first workspace if so
// configured, and starts serving HTTP. It returns once the server listens.
func (m *Main) Run(ctx context.Context) error {
	logger, err := m.Config.logger(m.stderr)
	if err != nil {
		return err
	}
	m.logger = logger
	if m.DB, err = openDB(ctx, m.Config); err != nil {
		return err
	}
	if err := m.bootstrap(ctx); err != nil {
		return err
	}
	secret, err := m.Config.secretKey()
	if err != nil {
		return err
	}
	tokens, err := tokenKeys(secret)
	if err != nil {
		return err
	}

	// The job queue first: from now on every recorded event must queue
	// its deliveries (the engine's sweeper ends sessions at once).
	egressPolicy, err := egress.ParseAllow(m.Config.EgressAllow)
	if err != nil {
		return fmt.Errorf("HYPONEMA_EGRESS_ALLOW: %w", err)
	}
	box, err := sealBox(secret, webhook.SealPurpose)
	if err != nil {
		return err
	}
	hooks := store.NewWebhookService(m.DB)
	admin := &webhook.Admin{Store: hooks, Box: box, Egress: egressPolicy}
	sender := &webhook.Sender{Webhooks: hooks, Events: hooks, Admin: admin, Egress: egressPolicy, Logger: logger}
	// Knowledge: sources are ingested by jobs (fetched through the egress
	// guard, chunked, embedded when a model is configured).
	knowledgeStore := store.NewKnowledgeService(m.DB)
	embedder := m.Config.embedder()
	ingester := &knowledge.Ingester{Store: knowledgeStore, Embedder: embedder, Egress: egressPolicy, Logger: logger}
	workers := river.NewWorkers()
	sender.Register(workers)
	ingester.Register(workers)
	var pgDSN string
	if m.DB.Dialect() == store.DialectPostgres {
		pgDSN = m.Config.databaseURL()
	}
	if m.Jobs, err = jobs.Open(ctx, m.DB, jobs.Config{
		Workers: workers,
		Queues: map[string]river.QueueConfig{webhook.QueueName: {MaxWorkers: webhookWorkers},
			knowledge.QueueName: {MaxWorkers: ingestWorkers}},
		PostgresDSN: pgDSN,
		Logger:      logger,
	}); err != nil {
		return err
	}
	m.DB.SetEnqueuer(webhook.Enqueuer{Client: m.Jobs.Client()})
	m.DB.SetSourceQueue(knowledge.Queue{Client: m.Jobs.Client()})
	if err := m.Jobs.Start(ctx); err != nil {
		return err
	}

	// Tools: workspace secrets (sealed), and the runners of HTTP and MCP
	// tools behind the egress guard.
	secretBox, err := sealBox(secret, "workspace secrets")
	if err != nil {
		return err
	}
	secrets := store.NewSecretService(m.DB, secretBox)
	stdio, err := m.Config.mcpServers()
	if err != nil {
		return err
	}
	runner := &tool.Runner{
		HTTP:    &httptool.Runner{Egress: egressPolicy, Secrets: secrets, Logger: logger},
		MCP:     &mcp.Pool{},
		Egress:  egressPolicy,
		Secrets: secrets,
		Stdio:   stdio,
	}
	m.tools = runner

	m.Engine = &conversation.Engine{
		Tools:           runner,
		WorkspaceEvents: hooks,
		Sessions:        store.NewSessionService(m.DB),
		Messages:        store.NewMessageService(m.DB),
		Events:          store.NewEventService(m.DB),
		Agents:          store.NewAgentService(m.DB),
		Personas:        store.NewPersonaService(m.DB),
		Knowledge:       knowledgeStore,
		Embedder:        embedder,
		Models:          m.Config.models(),
		Bus:             bus.NewMemory(),
		Logger:          logger,
	}
	m.Engine.Start()
	// On SQLite one server process owns the database, so a turn claim found
	// at start is a dead process's: release it now rather than when its
	// lease runs out.
	if err := m.Engine.Recover(ctx, m.DB.Dialect() == store.DialectSQLite); err != nil {
		return err
	}
	// Likewise an unfinished Idempotency-Key claim: its client's retry runs
	// at once instead of getting 409 for IdempotencyLockTTL.
	if m.DB.Dialect() == store.DialectSQLite {
		if _, err := store.NewIdempotencyService(m.DB).ReleaseUnfinishedIdempotencyKeys(ctx); err != nil {
			return err
		}
	}

	s := httpapi.NewServer(logger)
	s.Secrets = secrets
	s.Tools = store.NewToolService(m.DB)
	s.ToolDiscoverer = runner
	s.ToolChecker = runner
	s.Webhooks = hooks
	s.Knowledge = knowledgeStore
	s.KnowledgeAgents = store.NewAgentService(m.DB)
	s.Embedder = embedder
	s.WebhookAdmin = admin
	s.Events = hooks
	s.Workspaces = store.NewWorkspaceService(m.DB)
	s.APIKeys = store.NewAPIKeyService(m.DB)
	s.Agents = store.NewAgentService(m.DB)
	s.Personas = store.NewPersonaService(m.DB)
	s.Idempotency = store.NewIdempotencyService(m.DB)
	s.Sessions = m.Engine.Sessions
	s.Messages = m.Engine.Messages
	s.Engine = m.Engine
	s.Tokens = tokens
	if s.Sealer, err = sealBox(secret, "idempotent responses"); err != nil {
		return err
	}
	s.PublicURL = m.Config.PublicURL
	s.Ready = m.DB.Ping
	if err := s.Open(m.Config.Addr); err != nil {
		return err
	}
	m.HTTP = s
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.wg.Go(func() { m.sweepIdempotencyKeys(bg) })
	m.wg.Go(func() { m.sweepEvents(bg, hooks) })
	logger.Info("serving", "url", m.URL(), "database", m.DB.Dialect())
	return nil
}

// bootstrap creates a workspace with HYPONEMA_BOOTSTRAP_API_KEY when the
// database holds none, so that automation can start from a known key.
func (m *Main) bootstrap(ctx context.Context) error {
	secret := m.Config.BootstrapAPIKey
	if secret == "" {
		return nil
	}
	if !hyponema.ValidAPIKeySecret(secret) {
		return errors.New("HYPONEMA_BOOTSTRAP_API_KEY must be hyp_ followed by 41 characters of [A-Za-z0-9]")
	}
	n, err := store.NewWorkspaceService(m.DB).CountWorkspaces(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	w, _, err := createWorkspace(ctx, m.DB, "Default", secret)
	if err != nil {
		return fmt.Errorf("bootstrap workspace: %w", err)
	}
	m.logger.Info("created bootstrap workspace", "workspace_id", w.ID)
	return nil
}

// sweepIdempotencyKeys deletes stored responses older than their 24 h life.
func (m *Main) sweepIdempotencyKeys(ctx context.Context) {
	svc := store.NewIdempotencyService(m.DB)
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := svc.DeleteExpiredIdempotencyKeys(ctx, time.Now().Add(-hyponema.IdempotencyTTL)); err != nil && ctx.Err() == nil {
			m.logger.Warn("sweeping idempotency keys", "error", err)
		} else if n > 0 {
			m.logger.Debug("swept idempotency keys", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepEvents deletes events and deliveries older than
// hyponema.EventRetention, hourly.
func (m *Main) sweepEvents(ctx context.Context, log hyponema.EventLog) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := log.DeleteEventsBefore(ctx, time.Now().Add(-hyponema.EventRetention)); err != nil && ctx.Err() == nil {
			m.logger.Warn("sweeping events", "error", err)
		} else if n > 0 {
			m.logger.Debug("swept events", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// URL returns the public URL of the running server.
func (m *Main) URL() string {
	if m.HTTP == nil {
		return ""
	}
	return m.Config.publicURL(m.HTTP.Addr())
}

// Close stops the server, letting running requests finish for up to 10 s,
// then closes the database.
func (m *Main) Close() error {
	var errs []error
	if m.cancel != nil {
		m.cancel()
		m.wg.Wait()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m.HTTP != nil {
		// Streams end when their turns or clients do; Shutdown waits for
		// them until ctx, then the engine cuts the remaining turns short.
		errs = append(errs, m.HTTP.Close(ctx))
	}
	if m.Engine != nil {
		errs = append(errs, m.Engine.Close(ctx))
	}
	if m.tools != nil {
		errs = append(errs, m.tools.Close())
	}
	if m.Jobs != nil {
		// Running deliveries finish or are cancelled; either way they are
		// tried again, by this server's next start or another replica.
		errs = append(errs, m.Jobs.Stop(ctx))
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	return errors.Join(errs...)
}
