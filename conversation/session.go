package conversation

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/hyponema/hyponema"
)

// NewSession is what a client asks for when it starts a session.
type NewSession struct {
	WorkspaceID    string
	AgentID        string
	AgentVersionID string // "" runs the published version
	Channel        string // "" is chat
	User           *hyponema.EndUser
	Variables      map[string]string
	Metadata       map[string]string
}

// CreateSession starts a session on the agent's published version (or the
// one named), with its variables resolved and its first message said.
// Returns EINVALID (unknown agent or version, missing variables …) and
// ECONFLICT (the agent has no published version).
func (e *Engine) CreateSession(ctx context.Context, req NewSession) (*hyponema.Session, error) {
	agent, err := e.Agents.FindAgent(ctx, req.WorkspaceID, req.AgentID)
	if hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return nil, fieldError("agent_id", "no such agent")
	} else if err != nil {
		return nil, err
	}
	versionID := req.AgentVersionID
	if versionID == "" {
		if agent.PublishedVersionID == "" {
			return nil, hyponema.Errorf(hyponema.ECONFLICT, "The agent has no published version: publish one, or name agent_version_id.")
		}
		versionID = agent.PublishedVersionID
	} else if _, err := e.Agents.FindAgentVersion(ctx, req.WorkspaceID, agent.ID, versionID); hyponema.ErrorCode(err) == hyponema.ENOTFOUND {
		return nil, fieldError("agent_version_id", "no such version of this agent")
	} else if err != nil {
		return nil, err
	}
	p, err := e.pin(ctx, req.WorkspaceID, versionID)
	if err != nil {
		return nil, err
	}
	channel := req.Channel
	if channel == "" {
		channel = hyponema.ChannelChat
	}
	now := e.Now()
	s := &hyponema.Session{
		ID:                       hyponema.NewID(hyponema.PrefixSession),
		WorkspaceID:              req.WorkspaceID,
		AgentID:                  agent.ID,
		AgentVersionID:           versionID,
		Channel:                  channel,
		Status:                   hyponema.SessionActive,
		Variables:                req.Variables,
		Metadata:                 req.Metadata,
		CreatedAt:                now,
		LastActivityAt:           now,
		InactivityTimeoutSeconds: p.version.Config.InactivityTimeoutSeconds,
		MaxDurationSeconds:       p.version.Config.MaxDurationSeconds,
	}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Variables, err = hyponema.ResolveVariables(p.version, p.persona, req.Variables); err != nil {
		return nil, err
	}
	if req.User != nil {
		req.User.WorkspaceID = req.WorkspaceID
		req.User.ID = hyponema.NewID(hyponema.PrefixEndUser)
		req.User.CreatedAt = now
		if err := req.User.Validate(); err != nil {
			return nil, err
		}
	}

	var msgs []*hyponema.Message
	if text := hyponema.RenderTemplate(p.version.Config.FirstMessage, s.Variables); text != "" {
		msgs = append(msgs, &hyponema.Message{
			ID: hyponema.NewID(hyponema.PrefixMessage), WorkspaceID: s.WorkspaceID, SessionID: s.ID,
			Role: hyponema.RoleAssistant, Text: text, Status: hyponema.MessageComplete,
			ToolCalls: []hyponema.ToolCall{}, CreatedAt: now,
		})
	}
	// The user is found or created with the session, so the events are
	// built from the session as stored.
	err = e.withSeq(ctx, s.ID, func(last int64) (events []*hyponema.SessionEvent, err error) {
		err = e.Sessions.CreateSession(ctx, s, req.User, msgs, func(s *hyponema.Session) []*hyponema.SessionEvent {
			events = []*hyponema.SessionEvent{newEvent(s, hyponema.EventSessionCreated, nil, now)}
			for _, m := range msgs {
				events = append(events, newEvent(s, hyponema.EventMessageCompleted, m, now))
			}
			return numbered(last, events...)
		})
		return events, err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// EndSession ends the session with reason; ending an ended session returns
// it as it is. A turn running in this process is stopped first, its reply
// stored as incomplete. Returns ENOTFOUND.
func (e *Engine) EndSession(ctx context.Context, workspaceID, sessionID, reason string) (*hyponema.Session, error) {
	if t := e.runningTurn(sessionID); t != nil && t.session.WorkspaceID == workspaceID {
		t.stop(errSessionEnding)
		select {
		case <-t.finished:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var ended *hyponema.Session
	err := e.withSeq(ctx, sessionID, func(last int64) (events []*hyponema.SessionEvent, err error) {
		ended, _, err = e.Sessions.EndSession(ctx, workspaceID, sessionID, reason, e.Now(), func(s *hyponema.Session) []*hyponema.SessionEvent {
			events = numbered(last, newEvent(s, hyponema.EventSessionEnded, nil, *s.EndedAt))
			return events
		})
		return events, err
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// newEvent builds a session event; data nil means the session itself.
func newEvent(s *hyponema.Session, typ string, data any, t time.Time) *hyponema.SessionEvent {
	if data == nil {
		data = s
	}
	b, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("conversation: marshal %s event: %v", typ, err)) // our own types always marshal
	}
	return &hyponema.SessionEvent{SessionID: s.ID, WorkspaceID: s.WorkspaceID, Type: typ, Data: b, CreatedAt: t}
}

func fieldError(field, msg string) error {
	var v hyponema.Validation
	v.Add("invalid", msg, field)
	return v.Err()
}
