package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/clienttoken"
	"github.com/hyponema/hyponema/conversation"
)

// SessionPath is the {id} of a session; sessions live under the key's own
// workspace, which the path does not repeat.
type SessionPath struct {
	ID string `path:"id" doc:"Session ID (ses_…)."`
}

type sessionUser struct {
	ExternalID string            `json:"external_id" doc:"Your own ID for the end user; the same ID finds the same user."`
	Name       string            `json:"name,omitempty"`
	Metadata   map[string]string `json:"metadata,omitempty"`
}

type sessionCreateInput struct {
	Body struct {
		AgentID            string            `json:"agent_id" doc:"The agent (agt_…) to talk to."`
		ClientTokenTTLSecs int               `json:"client_token_ttl_seconds,omitempty" doc:"Life of the client token in the answer: 60 to 86400 seconds; 900 by default."`
		AgentVersionID     string            `json:"agent_version_id,omitempty" doc:"A version of that agent to run instead of the published one."`
		Channel            string            `json:"channel,omitempty" enum:"chat,voice" default:"chat"`
		User               *sessionUser      `json:"user,omitempty" doc:"The end user; found or created by external_id."`
		Variables          map[string]string `json:"variables,omitempty" doc:"Values for the agent's {{variables}}."`
		Metadata           map[string]string `json:"metadata,omitempty"`
	}
}

// sessionCreated is a new session with a client token for its end user's
// browser or app: the token, unlike the workspace key, may leave the
// customer's backend.
type sessionCreated struct {
	*hyponema.Session
	clientToken
}

// clientToken is a minted session client token.
type clientToken struct {
	ClientToken          string    `json:"client_token" doc:"A token (hct_…) that can call this session's client endpoints only, until it expires or the session ends."`
	ClientTokenExpiresAt time.Time `json:"client_token_expires_at"`
	ClientURL            string    `json:"client_url" doc:"The chat page that Hyponema hosts for the session, with the token in its fragment (never sent to a server): open it in the end user's browser."`
}

// mintClientToken mints a token for the session, valid for ttlSeconds (0:
// the default).
func (s *Server) mintClientToken(ctx context.Context, sess *hyponema.Session, ttlSeconds int) (clientToken, error) {
	if s.Tokens == nil {
		return clientToken{}, hyponema.Errorf(hyponema.EUNAVAILABLE, "This server has no key to sign client tokens with.")
	}
	tok, c, err := s.Tokens.Mint(clienttoken.Claims{SessionID: sess.ID, WorkspaceID: sess.WorkspaceID, AgentID: sess.AgentID, Audience: clienttoken.AudienceClient},
		time.Duration(ttlSeconds)*time.Second, s.Now())
	if err != nil {
		return clientToken{}, err
	}
	return clientToken{ClientToken: string(tok), ClientTokenExpiresAt: c.ExpiresAt,
		ClientURL: s.baseURL(ctx) + "/chat/" + sess.ID + "#token=" + string(tok)}, nil
}

func (s *Server) createSession(ctx context.Context, in *sessionCreateInput) (*body[sessionCreated], error) {
	if err := checkTTL(in.Body.ClientTokenTTLSecs, "client_token_ttl_seconds"); err != nil {
		return nil, err
	}
	req := conversation.NewSession{
		WorkspaceID:    principal(ctx).WorkspaceID,
		AgentID:        in.Body.AgentID,
		AgentVersionID: in.Body.AgentVersionID,
		Channel:        in.Body.Channel,
		Variables:      in.Body.Variables,
		Metadata:       in.Body.Metadata,
	}
	if u := in.Body.User; u != nil {
		req.User = &hyponema.EndUser{ExternalID: u.ExternalID, Name: u.Name, Metadata: u.Metadata}
	}
	sess, err := s.Engine.CreateSession(ctx, req)
	if err != nil {
		return nil, err
	}
	tok, err := s.mintClientToken(ctx, sess, in.Body.ClientTokenTTLSecs)
	if err != nil {
		return nil, err
	}
	return reply(sessionCreated{Session: sess, clientToken: tok}, nil)
}

// checkTTL refuses a client token life outside clienttoken's bounds (0
// means the default), naming the request's own field.
func checkTTL(seconds int, field string) error {
	ttl := time.Duration(seconds) * time.Second
	if seconds == 0 || (ttl >= clienttoken.MinTTL && ttl <= clienttoken.MaxTTL) {
		return nil
	}
	var v hyponema.Validation
	v.Add("out_of_range", fmt.Sprintf("must be between %d and %d seconds", int(clienttoken.MinTTL.Seconds()), int(clienttoken.MaxTTL.Seconds())), field)
	return v.Err()
}

type clientTokenInput struct {
	SessionPath
	Body *struct {
		TTLSeconds int `json:"ttl_seconds,omitempty" doc:"Life of the token: 60 to 86400 seconds; 900 by default."`
	} `required:"false"`
}

type clientTokenCreated struct {
	SessionID string `json:"session_id"`
	clientToken
}

// createClientToken mints a fresh client token for an active session (the
// customer's backend does this when a browser's token nears its end).
func (s *Server) createClientToken(ctx context.Context, in *clientTokenInput) (*body[clientTokenCreated], error) {
	ttl := 0
	if in.Body != nil {
		ttl = in.Body.TTLSeconds
	}
	if err := checkTTL(ttl, "ttl_seconds"); err != nil {
		return nil, err
	}
	sess, err := s.Sessions.FindSession(ctx, principal(ctx).WorkspaceID, in.ID)
	if err != nil {
		return nil, err
	}
	if sess.Status == hyponema.SessionEnded {
		return nil, hyponema.Errorf(hyponema.ESESSIONENDED, "The session has ended: its client tokens are dead.")
	}
	tok, err := s.mintClientToken(ctx, sess, ttl)
	if err != nil {
		return nil, err
	}
	return reply(clientTokenCreated{SessionID: sess.ID, clientToken: tok}, nil)
}

type sessionListInput struct {
	ListParams
	AgentID string `query:"agent_id" doc:"Only this agent's sessions."`
	Status  string `query:"status" enum:"active,ended" doc:"Only sessions in this status."`
	UserID  string `query:"user_id" doc:"Only this end user's sessions (usr_…)."`
}

func (s *Server) listSessions(ctx context.Context, in *sessionListInput) (*body[hyponema.Page[*hyponema.Session]], error) {
	f := hyponema.SessionFilter{AgentID: in.AgentID, Status: in.Status, UserID: in.UserID}
	return reply(s.Sessions.ListSessions(ctx, principal(ctx).WorkspaceID, f, in.options()))
}

func (s *Server) getSession(ctx context.Context, in *SessionPath) (*body[*hyponema.Session], error) {
	return reply(s.Sessions.FindSession(ctx, principal(ctx).WorkspaceID, in.ID))
}

type sessionEndInput struct {
	SessionPath
	Body *struct{} `required:"false"`
}

func (s *Server) endSession(ctx context.Context, in *sessionEndInput) (*body[*hyponema.Session], error) {
	reason := hyponema.EndedByAPI
	if principal(ctx).IsClient() {
		reason = hyponema.EndedByClient
	}
	return reply(s.Engine.EndSession(ctx, principal(ctx).WorkspaceID, in.ID, reason))
}

type messageSendInput struct {
	SessionPath
	Accept string `header:"Accept" doc:"text/event-stream to stream the reply; otherwise the answer is the finished message."`
	Body   struct {
		Text string `json:"text" doc:"What the user says."`
	}
}

// sendMessage starts a turn. With Accept: text/event-stream it streams the
// turn's events (from the user's message.created to done or error); else it
// answers with the finished assistant message. Either way the reply runs to
// its end and is stored even if the client goes away.
func (s *Server) sendMessage(ctx context.Context, in *messageSendInput) (*huma.StreamResponse, error) {
	t, err := s.Engine.Send(ctx, principal(ctx).WorkspaceID, in.ID, in.Body.Text)
	if err != nil {
		return nil, err
	}
	if strings.Contains(in.Accept, "text/event-stream") {
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			s.follow(hctx, in.ID, t.FirstSeq-1, t.IsEnd)
		}}, nil
	}
	msg, err := t.Wait(ctx)
	if err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		_, w := humago.Unwrap(hctx)
		writeJSON(w, http.StatusOK, msg)
	}}, nil
}

type transcriptInput struct {
	SessionPath
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Page size."`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page."`
	Order  string `query:"order" enum:"asc,desc" default:"asc" doc:"asc: oldest first (the transcript's order); desc: newest first."`
}

func (s *Server) listMessages(ctx context.Context, in *transcriptInput) (*body[hyponema.Page[*hyponema.Message]], error) {
	opt := hyponema.PageOptions{Limit: in.Limit, Cursor: in.Cursor, Asc: in.Order != "desc"}
	return reply(s.Messages.ListMessages(ctx, principal(ctx).WorkspaceID, in.ID, opt))
}

type eventsInput struct {
	SessionPath
	LastEventID      string `header:"Last-Event-ID" doc:"Resume after this event id."`
	LastEventIDQuery string `query:"last_event_id" doc:"The same as Last-Event-ID, for clients that cannot set headers."`
}

// sessionEvents streams everything that happens in the session, from after
// Last-Event-ID (or the start), until the session ends or the client goes.
func (s *Server) sessionEvents(ctx context.Context, in *eventsInput) (*huma.StreamResponse, error) {
	after, err := lastEventID(in.LastEventID, in.LastEventIDQuery)
	if err != nil {
		return nil, err
	}
	if _, err := s.Sessions.FindSession(ctx, principal(ctx).WorkspaceID, in.ID); err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		s.follow(hctx, in.ID, after, func(ev *hyponema.SessionEvent) bool { return ev.Type == hyponema.EventSessionEnded })
	}}, nil
}

// streamResponses documents an operation that answers with JSON or SSE.
func streamResponses(o huma.Operation, registry huma.Registry, jsonType any, what string) huma.Operation {
	o.Responses = map[string]*huma.Response{
		"200": {
			Description: what,
			Content: map[string]*huma.MediaType{
				"text/event-stream": {Schema: &huma.Schema{Type: "string", Description: "Server-sent events: id (the event's seq), event (its type), data (JSON). See api.md, Streaming."}},
			},
		},
	}
	if jsonType != nil {
		o.Responses["200"].Content["application/json"] = &huma.MediaType{Schema: registry.Schema(reflect.TypeOf(jsonType), true, "")}
	}
	return o
}
