package hyponema

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// More ID prefixes.
const (
	PrefixSession = "ses_"
	PrefixMessage = "msg_"
	PrefixEndUser = "usr_"
	PrefixTurn    = "trn_"
)

// Session channels, statuses and the reasons a session ends.
const (
	ChannelChat  = "chat"
	ChannelVoice = "voice"

	SessionActive = "active"
	SessionEnded  = "ended"

	EndedByAPI         = "api"          // the customer's backend ended it
	EndedByClient      = "client"       // the end user's client ended it
	EndedByAgent       = "agent"        // the agent ended it (a tool, later)
	EndedByTimeout     = "timeout"      // no message for the agent's inactivity timeout
	EndedByMaxDuration = "max_duration" // the agent's maximum duration passed
)

// Message roles and statuses.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleSystem    = "system"

	// MessageComplete is a message that was said in full.
	MessageComplete = "complete"
	// MessageIncomplete is a reply that is still being generated, or that
	// stopped half way (a provider failure, a crash): what it holds is what
	// had been said by then.
	MessageIncomplete = "incomplete"
)

// Session is one conversation between an end user and a pinned agent version.
type Session struct {
	ID             string            `json:"id" doc:"Session ID (ses_…)."`
	WorkspaceID    string            `json:"workspace_id"`
	AgentID        string            `json:"agent_id"`
	AgentVersionID string            `json:"agent_version_id" doc:"The agent version this session runs, for its whole life."`
	Channel        string            `json:"channel" enum:"chat,voice"`
	Status         string            `json:"status" enum:"active,ended"`
	EndedReason    string            `json:"ended_reason" doc:"Why it ended: api, client, agent, timeout or max_duration; empty while active."`
	UserID         string            `json:"user_id" doc:"The end user (usr_…), when the session named one."`
	Variables      map[string]string `json:"variables" doc:"Values for the agent's {{variables}}."`
	Metadata       map[string]string `json:"metadata"`
	CreatedAt      time.Time         `json:"created_at"`
	LastActivityAt time.Time         `json:"last_activity_at" doc:"The last message, for the inactivity timeout."`
	EndedAt        *time.Time        `json:"ended_at"`

	// The agent version's limits, copied at creation so that expiry can be
	// found by one query.
	InactivityTimeoutSeconds int `json:"inactivity_timeout_seconds"`
	MaxDurationSeconds       int `json:"max_duration_seconds"`
}

// Validate checks what a client may set on a session.
func (s *Session) Validate() error {
	var v Validation
	if s.Channel != ChannelChat && s.Channel != ChannelVoice {
		v.Add("enum", "must be chat or voice", "channel")
	}
	validateMetadata(&v, s.Metadata, "metadata")
	if len(s.Variables) > MaxMetadataKeys {
		v.Add("too_long", fmt.Sprintf("must have at most %d variables", MaxMetadataKeys), "variables")
	}
	for k, val := range s.Variables {
		if !variableName.MatchString(k) {
			v.Add("invalid", "names must be letters, digits and _ (starting with a letter or _)", "variables", k)
		}
		validateText(&v, val, MaxFirstMessageLen, "variables", k)
	}
	return v.Err()
}

// EndUser is a person who talks to agents, known by the customer's own ID.
type EndUser struct {
	ID          string            `json:"id" doc:"End user ID (usr_…)."`
	WorkspaceID string            `json:"workspace_id"`
	ExternalID  string            `json:"external_id" doc:"The customer's own ID for the user; unique in the workspace."`
	Name        string            `json:"name"`
	Metadata    map[string]string `json:"metadata"`
	CreatedAt   time.Time         `json:"created_at"`
}

// Validate checks the user's fields.
func (u *EndUser) Validate() error {
	var v Validation
	switch {
	case u.ExternalID == "":
		v.Add("missing", "is required", "user", "external_id")
	case len(u.ExternalID) > 200:
		v.Add("too_long", "must be at most 200 characters", "user", "external_id")
	default:
		validateText(&v, u.ExternalID, 200, "user", "external_id")
	}
	validateText(&v, u.Name, MaxNameLen, "user", "name")
	validateMetadata(&v, u.Metadata, "user.metadata")
	return v.Err()
}

// Usage counts a reply's tokens, as the provider reported them.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
}

// Message is one message of a session's transcript.
type Message struct {
	ID          string     `json:"id" doc:"Message ID (msg_…)."`
	WorkspaceID string     `json:"workspace_id"`
	SessionID   string     `json:"session_id"`
	Role        string     `json:"role" enum:"user,assistant,tool,system"`
	Text        string     `json:"text"`
	Status      string     `json:"status" enum:"complete,incomplete" doc:"incomplete: the reply is still being generated, or stopped half way; text is what had been said."`
	ToolCalls   []ToolCall `json:"tool_calls"`
	Usage       *Usage     `json:"usage" doc:"Tokens, for assistant messages."`
	TTFTMS      *int       `json:"ttft_ms" doc:"Time from the user's message to the reply's first text, for assistant messages."`
	LatencyMS   *int       `json:"latency_ms" doc:"Time from the user's message to the reply's end, for assistant messages."`
	Error       string     `json:"error,omitempty" doc:"Why an incomplete reply stopped."`
	Citations   []Citation `json:"citations,omitempty" doc:"For assistant messages: the knowledge-base passages the reply was given."`
	CreatedAt   time.Time  `json:"created_at"`
}

// MaxMessageLen bounds what a user may send in one message.
const MaxMessageLen = 32_000

// SessionEvent is one entry of a session's event log: what SSE streams
// carry. Seq increases within the session and is the SSE event id.
type SessionEvent struct {
	SessionID   string          `json:"session_id"`
	WorkspaceID string          `json:"workspace_id"`
	Seq         int64           `json:"seq"`
	Type        string          `json:"type"`
	Data        json.RawMessage `json:"data"`
	CreatedAt   time.Time       `json:"created_at"`
}

// Session event types (api.md, "Streaming").
const (
	EventSessionCreated   = "session.created"
	EventMessageCreated   = "message.created"
	EventMessageDelta     = "message.delta"
	EventToolCall         = "tool.call"
	EventToolResult       = "tool.result"
	EventMessageCompleted = "message.completed"
	EventSessionEnded     = "session.ended"
	EventError            = "error"
	EventDone             = "done"
)

// SessionFilter narrows a list of sessions; empty fields match all.
type SessionFilter struct {
	AgentID string
	Status  string
	UserID  string
}

// SessionService stores sessions, their end users and who is running a
// turn. Sessions are scoped to a workspace like everything else.
type SessionService interface {
	// CreateSession stores s, finding or creating its end user by
	// ExternalID when user is not nil (s.UserID is set), and stores msgs
	// and the events that events returns for the stored session, in the
	// same transaction. Returns EINVALID.
	CreateSession(ctx context.Context, s *Session, user *EndUser, msgs []*Message, events func(*Session) []*SessionEvent) error

	// FindSession returns ENOTFOUND.
	FindSession(ctx context.Context, workspaceID, id string) (*Session, error)

	// FindSessionByID returns a session by its ID alone, for the checks made
	// before any caller is known (a browser's CORS preflight). What it
	// returns must never reach a caller. Returns ENOTFOUND.
	FindSessionByID(ctx context.Context, id string) (*Session, error)

	// ListSessions lists the workspace's sessions.
	ListSessions(ctx context.Context, workspaceID string, f SessionFilter, opt PageOptions) (Page[*Session], error)

	// EndSession ends an active session at t with reason, storing the
	// events that events returns for the ended session in the same
	// transaction; ended reports whether this call ended it. An already
	// ended session is returned unchanged. Returns ENOTFOUND.
	EndSession(ctx context.Context, workspaceID, id, reason string, t time.Time, events func(*Session) []*SessionEvent) (s *Session, ended bool, err error)

	// TransferSession hands an active session over to another agent's
	// version: later turns run it; the transcript stays. Returns
	// ENOTFOUND, ESESSIONENDED, EINVALID (the version is not the agent's).
	TransferSession(ctx context.Context, workspaceID, sessionID, agentID, versionID string) (*Session, error)

	// ListExpiredSessions returns up to limit active sessions that, at now,
	// passed their inactivity timeout or maximum duration.
	ListExpiredSessions(ctx context.Context, now time.Time, limit int) ([]*Session, error)

	// ClaimTurn records that turnID runs on the session until leaseUntil.
	// Returns ENOTFOUND, ESESSIONENDED, or ECONFLICT while another turn's
	// lease is live.
	ClaimTurn(ctx context.Context, workspaceID, sessionID, turnID string, leaseUntil time.Time) error

	// RenewTurn extends a held claim; ECONFLICT if the claim was lost.
	RenewTurn(ctx context.Context, sessionID, turnID string, leaseUntil time.Time) error

	// ReleaseTurn clears the claim if turnID holds it.
	ReleaseTurn(ctx context.Context, sessionID, turnID string) error

	// ReleaseExpiredTurns clears every claim whose lease ended before now
	// (its process died mid-turn) and returns the sessions it cleared.
	ReleaseExpiredTurns(ctx context.Context, now time.Time) ([]string, error)
}

// MessageService stores transcripts.
type MessageService interface {
	// SaveMessage inserts m, or updates its text, status, tool calls,
	// usage, timings and error if it exists, and appends events in the same
	// transaction. A session's last activity becomes m.CreatedAt for a new
	// user message.
	SaveMessage(ctx context.Context, m *Message, events []*SessionEvent) error

	// StartTurn claims the session for turnID (as ClaimTurn, with its
	// errors) and saves the user's message m with events, in one
	// transaction: a turn's start costs one write.
	StartTurn(ctx context.Context, m *Message, events []*SessionEvent, turnID string, leaseUntil time.Time) error

	// FinishTurn is SaveMessage that also releases turnID's claim on the
	// session, in the same transaction: a turn's last events and the
	// session's release are seen together, so a client that reads "done"
	// may send its next message at once.
	FinishTurn(ctx context.Context, m *Message, events []*SessionEvent, turnID string) error

	// ListMessages lists a session's transcript (oldest first unless
	// opt says otherwise). Returns ENOTFOUND for another workspace's session.
	ListMessages(ctx context.Context, workspaceID, sessionID string, opt PageOptions) (Page[*Message], error)

	// RecentMessages returns up to limit of the session's newest messages,
	// oldest first, for the prompt.
	RecentMessages(ctx context.Context, sessionID string, limit int) ([]*Message, error)
}

// EventService stores session event logs.
type EventService interface {
	// AppendEvents stores events, whose Seq the caller assigned. A seq that
	// is already taken is ECONFLICT.
	AppendEvents(ctx context.Context, events []*SessionEvent) error

	// ListEvents returns up to limit of the session's events with seq
	// greater than after, in order.
	ListEvents(ctx context.Context, sessionID string, after int64, limit int) ([]*SessionEvent, error)

	// LastEventSeq returns the highest seq of the session, 0 for none.
	LastEventSeq(ctx context.Context, sessionID string) (int64, error)
}

// EventBus carries session events from the process that makes them to every
// stream that follows the session: in process by default, across replicas
// over NATS. Delivery is best effort: a subscriber that falls behind is
// dropped (its channel closed) and replays from the store.
type EventBus interface {
	// Publish sends ev to the session's subscribers without blocking.
	Publish(ev *SessionEvent)
	// Subscribe follows one session until the subscription is closed.
	Subscribe(sessionID string) Subscription
}

// Subscription is one follower of a session's events.
type Subscription interface {
	// Events delivers events in publication order; it is closed when the
	// subscriber fell behind (replay from the store) or after Close.
	Events() <-chan *SessionEvent
	// Close ends the subscription.
	Close()
}
