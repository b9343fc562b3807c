// Package httpapi is Hyponema's HTTP API: one route table on the standard
// ServeMux, bearer authentication, the API's error shape, request IDs,
// idempotency keys, and the OpenAPI 3.1 document generated from the code
// (huma v2).
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
	"github.com/hyponema/hyponema/conversation"
)

func init() {
	// Every error that huma makes or passes on takes the API's shape.
	huma.NewErrorWithContext = newHumaError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		return newHumaError(nil, status, msg, errs...)
	}
	// "NAME" is not "name": a field the API does not know is an error.
	huma.ValidateStrictCasing = true
}

// APIVersion is the version of the API contract that the OpenAPI document
// describes: the date of its last change.
const APIVersion = "2026-11-29"

// Server serves the HTTP API. Set the services, then call Handler or Open.
type Server struct {
	Workspaces  hyponema.WorkspaceService
	APIKeys     hyponema.APIKeyService
	Agents      hyponema.AgentService
	Personas    hyponema.PersonaService
	Idempotency hyponema.IdempotencyService
	Sessions    hyponema.SessionService
	Messages    hyponema.MessageService
	Engine      *conversation.Engine
	// Webhooks stores webhook endpoints and their deliveries; WebhookAdmin
	// creates, changes and rotates endpoints (secrets, the egress check).
	Webhooks     hyponema.WebhookService
	WebhookAdmin hyponema.WebhookAdmin
	// Events is the workspace event log that webhooks deliver from.
	Events hyponema.EventLog
	// Secrets stores workspace secrets, which no response ever shows.
	Secrets hyponema.SecretService
	// Tools stores tools and their attachment to agents; ToolDiscoverer
	// asks MCP servers what they offer (nil: discovery answers 503).
	Tools          hyponema.ToolService
	ToolDiscoverer hyponema.ToolDiscoverer
	// ToolChecker checks tools in depth when they are saved; nil skips
	// that (the store's validation still runs).
	ToolChecker hyponema.ToolChecker
	// Knowledge stores knowledge bases, their sources and chunks, and
	// searches them; KnowledgeAgents attaches them to agents' drafts.
	Knowledge       hyponema.KnowledgeService
	KnowledgeAgents hyponema.KnowledgeAttacher
	// Embedder embeds knowledge queries; nil searches by words alone.
	Embedder hyponema.Embedder
	// Tokens signs and verifies session client tokens.
	Tokens *clienttoken.Keyring
	// Sealer encrypts the responses stored for Idempotency-Key replays;
	// nil stores them as they are.
	Sealer Sealer

	// PingInterval is how often idle event streams get a ping comment.
	PingInterval time.Duration
	// PublicURL is where clients reach the server (HYPONEMA_PUBLIC_URL),
	// for the client_url of sessions; "" uses the request's own host.
	PublicURL string

	// Ready reports whether the server's dependencies answer (/readyz).
	Ready func(ctx context.Context) error
	// Now is the clock; tests may replace it.
	Now func() time.Time

	logger  *slog.Logger
	api     huma.API
	handler http.Handler
	touches keyTouches

	ln     net.Listener
	server *http.Server

	// streams ends open event streams when the server closes: they would
	// otherwise hold Shutdown until its deadline.
	streams      context.Context
	closeStreams context.CancelFunc
}

// NewServer returns a server whose routes are registered. Services must be
// set before it handles a request.
func NewServer(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		Now:     func() time.Time { return time.Now().UTC() },
		logger:  logger,
		touches: keyTouches{last: map[string]time.Time{}},
		Ready:   func(context.Context) error { return nil },

		PingInterval: DefaultPingInterval,
	}
	s.streams, s.closeStreams = context.WithCancel(context.Background())

	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("Hyponema API", APIVersion)
	cfg.CreateHooks = nil // no $schema links in bodies
	cfg.DocsPath = ""     // the docs renderer loads scripts from a CDN
	cfg.SchemasPath = ""
	cfg.Info.Description = "Build, run and study conversational AI agents. Authenticate with a workspace API key: `Authorization: Bearer hyp_…`."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"apiKey":      {Type: "http", Scheme: "bearer", Description: "A workspace API key, hyp_ followed by 41 characters."},
		"clientToken": {Type: "http", Scheme: "bearer", Description: "A session client token (hct_…), for browsers and apps: usable only on its own session's client endpoints."},
	}
	cfg.Security = []map[string][]string{{"apiKey": {}}}
	s.api = humago.New(mux, cfg)
	s.api.UseMiddleware(s.scopeWorkspace)
	s.routes()

	s.webRoutes(mux)

	// Paths that match no route get the API's 404 rather than the mux's text.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, hyponema.Errorf(hyponema.ENOTFOUND, "No such route: %s %s.", r.Method, r.URL.Path))
	})
	s.handler = s.withRequest(s.withCORS(s.withAuth(s.withIdempotency(mux))))
	return s
}

// Handler returns the server's root handler.
func (s *Server) Handler() http.Handler { return s.handler }

// OpenAPI returns the generated OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// Open listens on addr (port 0 picks a free port) and serves in the background.
func (s *Server) Open(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.server = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := s.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on, once open.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Close stops accepting requests and waits for running ones until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	s.closeStreams()
	if s.server == nil {
		return nil
	}
	return s.server.Shutdown(ctx)
}

// scopeWorkspace refuses any {ws} in a path other than the caller's own,
// as 404: a key never learns whether another workspace exists.
func (s *Server) scopeWorkspace(ctx huma.Context, next func(huma.Context)) {
	if ws := ctx.Param("ws"); ws != "" {
		p := PrincipalFromContext(ctx.Context())
		if p == nil || p.WorkspaceID != ws {
			_ = huma.WriteErr(s.api, ctx, http.StatusNotFound, "Workspace not found.")
			return
		}
	}
	next(ctx)
}

// op describes one route for the table below.
func op(method, path, id, tag, summary string, status int) huma.Operation {
	o := huma.Operation{
		Method:        method,
		Path:          path,
		OperationID:   id,
		Tags:          []string{tag},
		Summary:       summary,
		DefaultStatus: status,
		MaxBodyBytes:  MaxBodyBytes,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusRequestEntityTooLarge},
	}
	if method == http.MethodPost {
		o.Errors = append(o.Errors, http.StatusConflict)
	}
	return o
}

// client marks a session client endpoint: a workspace key or the session's
// own client token may call it (see clientEndpoint for the enforcement).
func client(o huma.Operation) huma.Operation {
	o.Security = []map[string][]string{{"apiKey": {}}, {"clientToken": {}}}
	o.Errors = append(o.Errors, http.StatusForbidden)
	return o
}

// public marks an operation that needs no credential.
func public(o huma.Operation) huma.Operation {
	o.Security = []map[string][]string{}
	o.Errors = nil
	return o
}

// describe adds a longer description to an operation.
func describe(o huma.Operation, description string) huma.Operation {
	o.Description = description
	return o
}

// routes is the one route table of the API.
func (s *Server) routes() {
	api := s.api
	const (
		get, post, put, patch, del       = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
		ok, created, accepted, noContent = http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent
	)

	huma.Register(api, public(op(get, "/healthz", "health", "System", "The process is alive", ok)), s.health)
	huma.Register(api, public(op(get, "/readyz", "ready", "System", "The database answers", ok)), s.ready)

	huma.Register(api, op(get, "/workspaces", "list-workspaces", "Workspaces", "List the workspaces the credential may use", ok), s.listWorkspaces)
	huma.Register(api, op(get, "/workspaces/{ws}", "get-workspace", "Workspaces", "Get a workspace", ok), s.getWorkspace)

	huma.Register(api, op(post, "/workspaces/{ws}/api-keys", "create-api-key", "API keys", "Create an API key; the key is shown only in this response", created), s.createAPIKey)
	huma.Register(api, op(get, "/workspaces/{ws}/api-keys", "list-api-keys", "API keys", "List API keys", ok), s.listAPIKeys)
	huma.Register(api, op(get, "/workspaces/{ws}/api-keys/{id}", "get-api-key", "API keys", "Get an API key", ok), s.getAPIKey)
	huma.Register(api, op(del, "/workspaces/{ws}/api-keys/{id}", "revoke-api-key", "API keys", "Revoke an API key at once", ok), s.revokeAPIKey)

	huma.Register(api, op(post, "/workspaces/{ws}/agents", "create-agent", "Agents", "Create an agent", created), s.createAgent)
	huma.Register(api, op(get, "/workspaces/{ws}/agents", "list-agents", "Agents", "List agents", ok), s.listAgents)
	huma.Register(api, op(get, "/workspaces/{ws}/agents/{id}", "get-agent", "Agents", "Get an agent's draft", ok), s.getAgent)
	huma.Register(api, op(patch, "/workspaces/{ws}/agents/{id}", "update-agent", "Agents", "Edit an agent's draft", ok), s.updateAgent)
	huma.Register(api, op(del, "/workspaces/{ws}/agents/{id}", "delete-agent", "Agents", "Delete an agent", noContent), s.deleteAgent)
	huma.Register(api, op(post, "/workspaces/{ws}/agents/{id}/versions", "create-agent-version", "Agents", "Snapshot the draft into a new immutable version", created), s.createAgentVersion)
	huma.Register(api, op(get, "/workspaces/{ws}/agents/{id}/versions", "list-agent-versions", "Agents", "List an agent's versions", ok), s.listAgentVersions)
	huma.Register(api, op(get, "/workspaces/{ws}/agents/{id}/versions/{version_id}", "get-agent-version", "Agents", "Get an agent version", ok), s.getAgentVersion)
	huma.Register(api, op(post, "/workspaces/{ws}/agents/{id}/publish", "publish-agent", "Agents", "Make a version live", ok), s.publishAgent)
	huma.Register(api, op(post, "/workspaces/{ws}/agents/{id}/rollback", "rollback-agent", "Agents", "Go back to the version published before", ok), s.rollbackAgent)

	registry := api.OpenAPI().Components.Schemas
	huma.Register(api, op(post, "/sessions", "create-session", "Sessions", "Start a session with an agent's published (or named) version", created), s.createSession)
	huma.Register(api, op(get, "/sessions", "list-sessions", "Sessions", "List sessions", ok), s.listSessions)
	huma.Register(api, client(op(get, "/sessions/{id}", "get-session", "Sessions", "Get a session", ok)), s.getSession)
	huma.Register(api, client(op(post, "/sessions/{id}/end", "end-session", "Sessions", "End a session (idempotent)", ok)), s.endSession)
	huma.Register(api, client(streamResponses(op(post, "/sessions/{id}/messages", "send-message", "Sessions", "Send the user's message; the reply streams as SSE or comes back finished", ok),
		registry, hyponema.Message{}, "The finished assistant message (application/json), or the turn's events (text/event-stream).")), s.sendMessage)
	huma.Register(api, client(op(get, "/sessions/{id}/messages", "list-messages", "Sessions", "The transcript, oldest first", ok)), s.listMessages)
	huma.Register(api, client(streamResponses(op(get, "/sessions/{id}/events", "session-events", "Sessions", "Follow everything that happens in the session (SSE); resumes after Last-Event-ID", ok),
		registry, nil, "The session's events as server-sent events.")), s.sessionEvents)
	huma.Register(api, op(post, "/sessions/{id}/client-tokens", "create-client-token", "Sessions", "Mint a fresh client token for the session", created), s.createClientToken)

	huma.Register(api, op(post, "/workspaces/{ws}/personas", "create-persona", "Personas", "Create a persona", created), s.createPersona)
	huma.Register(api, op(get, "/workspaces/{ws}/personas", "list-personas", "Personas", "List personas", ok), s.listPersonas)
	huma.Register(api, op(get, "/workspaces/{ws}/personas/{id}", "get-persona", "Personas", "Get a persona's draft", ok), s.getPersona)
	huma.Register(api, op(patch, "/workspaces/{ws}/personas/{id}", "update-persona", "Personas", "Edit a persona's draft", ok), s.updatePersona)
	huma.Register(api, op(del, "/workspaces/{ws}/personas/{id}", "delete-persona", "Personas", "Delete a persona", noContent), s.deletePersona)
	huma.Register(api, op(post, "/workspaces/{ws}/personas/{id}/versions", "create-persona-version", "Personas", "Snapshot the draft into a new immutable version", created), s.createPersonaVersion)
	huma.Register(api, op(get, "/workspaces/{ws}/personas/{id}/versions", "list-persona-versions", "Personas", "List a persona's versions", ok), s.listPersonaVersions)
	huma.Register(api, op(get, "/workspaces/{ws}/personas/{id}/versions/{version_id}", "get-persona-version", "Personas", "Get a persona version", ok), s.getPersonaVersion)
	huma.Register(api, op(post, "/workspaces/{ws}/personas/{id}/publish", "publish-persona", "Personas", "Make a version live", ok), s.publishPersona)
	huma.Register(api, op(post, "/workspaces/{ws}/personas/{id}/rollback", "rollback-persona", "Personas", "Go back to the version published before", ok), s.rollbackPersona)

	const hooks = "/workspaces/{ws}/webhooks"
	huma.Register(api, describe(op(post, hooks, "create-webhook", "Webhooks", "Create a webhook endpoint; its signing secret is shown only in this response", created),
		"Events of the types in `events` (all when empty) are POSTed to `url`, signed per the Standard Webhooks specification with the secret in the answer, at least once, retried with backoff for about a day and a half. "+
			"The URL must reach a public address. Event types: "+strings.Join(hyponema.WebhookEventTypes, ", ")+"."), s.createWebhook)
	huma.Register(api, describe(op(get, hooks, "list-webhooks", "Webhooks", "List webhook endpoints", ok),
		"The workspace's endpoints, newest first. Signing secrets are never listed."), s.listWebhooks)
	huma.Register(api, describe(op(get, hooks+"/{webhook_id}", "get-webhook", "Webhooks", "Get a webhook endpoint", ok),
		"The endpoint, without its signing secret; disabled_reason and failing_since tell whether deliveries fail."), s.getWebhook)
	huma.Register(api, describe(op(patch, hooks+"/{webhook_id}", "update-webhook", "Webhooks", "Change a webhook endpoint", ok),
		"Changes the fields given. enabled=false switches the endpoint off; enabled=true switches it on again, also after the server disabled it for failing."), s.updateWebhook)
	huma.Register(api, describe(op(del, hooks+"/{webhook_id}", "delete-webhook", "Webhooks", "Delete a webhook endpoint", noContent),
		"Deletes the endpoint and its delivery log; deliveries still queued for it are dropped."), s.deleteWebhook)
	huma.Register(api, describe(op(post, hooks+"/{webhook_id}/rotate-secret", "rotate-webhook-secret", "Webhooks", "Give a webhook endpoint a new signing secret; it is shown only in this response", ok),
		"Deliveries are signed with the new secret and, until previous_secret_expires_at (24 hours), with the old one as well, so the receiver can switch without losing events."), s.rotateWebhookSecret)
	huma.Register(api, describe(op(post, hooks+"/{webhook_id}/test", "test-webhook", "Webhooks", "Send a webhook.test event to the endpoint", accepted),
		"Records a webhook.test event and queues its delivery to this endpoint alone, enabled or not. The answer is the event; its tries appear under the endpoint's deliveries."), s.testWebhook)
	huma.Register(api, describe(op(get, hooks+"/{webhook_id}/deliveries", "list-webhook-deliveries", "Webhooks", "List the tries to deliver events to the endpoint", ok),
		"Every try, newest first: the receiver's status and the first bytes of its answer, or why it failed."), s.listDeliveries)
	huma.Register(api, describe(op(get, hooks+"/{webhook_id}/deliveries/{delivery_id}", "get-webhook-delivery", "Webhooks", "Get one try to deliver an event", ok),
		"One try: the receiver's status and the first bytes of its answer, or why it failed, and when the next retry is due."), s.getDelivery)
	redeliver := describe(op(post, hooks+"/{webhook_id}/deliveries/{delivery_id}/redeliver", "redeliver-webhook-delivery", "Webhooks", "Deliver the delivery's event to the endpoint once more", accepted),
		"Queues one more try of the same event (same webhook-id) at this endpoint, without further retries. 503 unavailable when this server does not deliver webhooks.")
	redeliver.Errors = append(redeliver.Errors, http.StatusServiceUnavailable)
	huma.Register(api, redeliver, s.redeliver)

	const secrets = "/workspaces/{ws}/secrets"
	huma.Register(api, describe(op(get, secrets, "list-secrets", "Secrets", "List the workspace's secrets, by name", ok),
		"Names and times only: no response ever shows a secret's value."), s.listSecrets)
	huma.Register(api, describe(op(get, secrets+"/{name}", "get-secret", "Secrets", "Get a secret, without its value", ok),
		"Whether the secret exists and when its value last changed; never the value."), s.getSecret)
	huma.Register(api, describe(createdOrReplaced(op(put, secrets+"/{name}", "set-secret", "Secrets", "Create a secret or replace its value", ok), registry, hyponema.Secret{}),
		"201 when the secret is new, 200 when its value was replaced. The value is stored encrypted and used only by tools that name it in a header template ({{secrets.NAME}}) while they run; the answer, like every other, leaves it out."), s.setSecret)
	huma.Register(api, op(del, secrets+"/{name}", "delete-secret", "Secrets", "Delete a secret", noContent), s.deleteSecret)

	const tools = "/workspaces/{ws}/tools"
	huma.Register(api, describe(op(post, tools, "create-tool", "Tools", "Create a tool", created),
		"An http tool calls an API with the model's arguments; an mcp tool offers the tools of an MCP server. The name is the function name the model sees, unique in the workspace. Attach the tool to an agent to let its draft use it; a version keeps the tools as they were when it was made."), s.createTool)
	huma.Register(api, describe(op(get, tools, "list-tools", "Tools", "List tools", ok),
		"The workspace's tools, newest first."), s.listTools)
	huma.Register(api, op(get, tools+"/{tool_id}", "get-tool", "Tools", "Get a tool", ok), s.getTool)
	huma.Register(api, describe(op(patch, tools+"/{tool_id}", "update-tool", "Tools", "Change a tool", ok),
		"Changes the fields given; http and mcp replace the whole configuration. The type cannot change. Agent versions keep the tool as it was when they were made."), s.updateTool)
	huma.Register(api, describe(op(del, tools+"/{tool_id}", "delete-tool", "Tools", "Delete a tool", noContent),
		"Deletes the tool and detaches it from every agent's draft; agent versions keep their copy."), s.deleteTool)
	discover := describe(op(post, tools+"/{tool_id}/discover", "discover-tools", "Tools", "List the tools that an mcp tool's server offers", ok),
		"Asks the MCP server which tools it offers, filtered by tool_names, as the model would see them. 422 for an http tool; 502 or 503 when the MCP server fails or cannot be reached, 503 also when this server does not discover MCP tools.")
	discover.Errors = append(discover.Errors, http.StatusBadGateway, http.StatusServiceUnavailable)
	huma.Register(api, discover, s.discoverTools)

	huma.Register(api, describe(op(get, "/workspaces/{ws}/agents/{id}/tools", "list-agent-tools", "Agents", "List the tools attached to an agent's draft", ok),
		"In the order they were attached. A version lists the tools it captured in its own tools field."), s.listAgentTools)
	huma.Register(api, describe(op(post, "/workspaces/{ws}/agents/{id}/tools", "attach-agent-tool", "Agents", "Attach a tool to an agent's draft", ok),
		fmt.Sprintf("Attaching an attached tool changes nothing. An agent may have at most %d tools. The answer lists the draft's tools.", hyponema.MaxToolsPerAgent)), s.attachTool)
	huma.Register(api, describe(op(del, "/workspaces/{ws}/agents/{id}/tools/{tool_id}", "detach-agent-tool", "Agents", "Detach a tool from an agent's draft", noContent),
		"Published versions keep the tools they captured."), s.detachTool)

	const kbs = "/workspaces/{ws}/knowledge-base"
	huma.Register(api, describe(op(post, kbs, "create-knowledge-base", "Knowledge", "Create a knowledge base", created),
		"A named collection of sources (documents) that agents retrieve passages from. Add sources, then attach the knowledge base to agents."), s.createKnowledgeBase)
	huma.Register(api, describe(op(get, kbs, "list-knowledge-bases", "Knowledge", "List knowledge bases", ok),
		"The workspace's knowledge bases, newest first."), s.listKnowledgeBases)
	huma.Register(api, op(get, kbs+"/{kb_id}", "get-knowledge-base", "Knowledge", "Get a knowledge base", ok), s.getKnowledgeBase)
	huma.Register(api, describe(op(del, kbs+"/{kb_id}", "delete-knowledge-base", "Knowledge", "Delete a knowledge base", noContent),
		"Deletes the knowledge base with its sources and chunks and detaches it from every agent's draft."), s.deleteKnowledgeBase)
	createSource := describe(op(post, kbs+"/{kb_id}/sources", "create-source", "Knowledge", "Add a source: text, a URL or an uploaded file", created),
		fmt.Sprintf("As application/json, `{\"type\":\"text\",\"name\",\"text\"}` (text of at most %d bytes; longer is 422 on body.text) or `{\"type\":\"url\",\"url\",\"name\"?}`; "+
			"as multipart/form-data, a `file` part (text, Markdown, HTML, PDF or CSV, at most %s; larger is 413 payload_too_large) and an optional `name` field (default: the file's name). "+
			"Other media types are 415 unsupported_media_type. The source answers `pending`: it is read, chunked and embedded in the background, then becomes `ready`, or `failed` with `error`.",
			hyponema.MaxSourceTextLen, mib(hyponema.MaxSourceFileSize)))
	createSource.MaxBodyBytes = MaxSourceBodyBytes
	createSource.BodyReadTimeout = 5 * time.Minute
	createSource.SkipValidateBody = true // createSource reads JSON and multipart itself
	createSource.RequestBody = sourceRequestBody(registry)
	createSource.Errors = append(createSource.Errors, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity)
	huma.Register(api, createSource, s.createSource)
	huma.Register(api, describe(op(get, kbs+"/{kb_id}/sources", "list-sources", "Knowledge", "List a knowledge base's sources", ok),
		"Newest first, each with its status."), s.listSources)
	huma.Register(api, op(get, kbs+"/{kb_id}/sources/{source_id}", "get-source", "Knowledge", "Get a source", ok), s.getSource)
	huma.Register(api, describe(op(del, kbs+"/{kb_id}/sources/{source_id}", "delete-source", "Knowledge", "Delete a source", noContent),
		"Deletes the source with its chunks: retrieval no longer finds them."), s.deleteSource)
	huma.Register(api, describe(op(post, kbs+"/{kb_id}/sources/{source_id}/sync", "sync-source", "Knowledge", "Read the source again and remake its chunks", accepted),
		"Marks the source pending and queues its ingestion: a url source is fetched again. Its current chunks stay searchable until the new ones replace them."), s.syncSource)
	huma.Register(api, describe(op(get, kbs+"/{kb_id}/chunks", "list-chunks", "Knowledge", "List a knowledge base's chunks", ok),
		"The passages that retrieval returns, newest first; source_id lists one source's."), s.listChunks)
	huma.Register(api, op(get, kbs+"/{kb_id}/chunks/{chunk_id}", "get-chunk", "Knowledge", "Get a chunk", ok), s.getChunk)
	huma.Register(api, describe(op(post, kbs+"/{kb_id}/query", "query-knowledge-base", "Knowledge", "Find the passages of a knowledge base that best answer a query", ok),
		"Ranks the knowledge base's chunks by their words (and by meaning, when this server has an embeddings model) and answers the best top_k, best first, as agents retrieve them."), s.queryKnowledgeBase)
	huma.Register(api, describe(op(post, kbs+"/{kb_id}/attach", "attach-knowledge-base", "Knowledge", "Attach the knowledge base to an agent's draft", ok),
		fmt.Sprintf("The agent retrieves from it on every user message. Attaching an attached knowledge base changes nothing; an agent may have at most %d. The answer is the agent; versions made after capture the list in knowledge_base_ids.", hyponema.MaxKnowledgeBasesPerAgent)), s.attachKnowledgeBase)
	huma.Register(api, describe(op(post, kbs+"/{kb_id}/detach", "detach-knowledge-base", "Knowledge", "Detach the knowledge base from an agent's draft", ok),
		"404 when it is not attached. Versions keep the knowledge bases they captured. The answer is the agent."), s.detachKnowledgeBase)

	huma.Register(api, describe(op(get, "/workspaces/{ws}/events", "list-workspace-events", "Events", "List the workspace's events", ok),
		"What happened in the workspace, newest first: the events that webhooks deliver, each with the object it is about in data."), s.listWorkspaceEvents)
	huma.Register(api, describe(op(get, "/workspaces/{ws}/events/{event_id}", "get-workspace-event", "Events", "Get an event", ok),
		"One event, as webhooks deliver it."), s.getWorkspaceEvent)
}
