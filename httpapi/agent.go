package httpapi

import (
	"context"

	"github.com/hyponema/hyponema"
)

// agentCreateBody is an agent's fields with only the name required; the
// outer Name shadows the patch's optional one.
type agentCreateBody struct {
	Name string `json:"name" doc:"Display name."`
	hyponema.AgentPatch
}

type agentCreateInput struct {
	WorkspacePath
	Body agentCreateBody
}

func (s *Server) createAgent(ctx context.Context, in *agentCreateInput) (*body[*hyponema.Agent], error) {
	patch := in.Body.AgentPatch
	patch.Name = &in.Body.Name
	a := &hyponema.Agent{WorkspaceID: in.WS, AgentConfig: hyponema.NewAgentConfig()}
	patch.Apply(&a.AgentConfig)
	if err := s.Agents.CreateAgent(ctx, a); err != nil {
		return nil, err
	}
	return reply(a, nil)
}

type agentListInput struct {
	WorkspacePath
	ListParams
}

func (s *Server) listAgents(ctx context.Context, in *agentListInput) (*body[hyponema.Page[*hyponema.Agent]], error) {
	return reply(s.Agents.ListAgents(ctx, in.WS, in.options()))
}

func (s *Server) getAgent(ctx context.Context, in *ObjectPath) (*body[*hyponema.Agent], error) {
	return reply(s.Agents.FindAgent(ctx, in.WS, in.ID))
}

type agentUpdateInput struct {
	ObjectPath
	Body hyponema.AgentPatch
}

func (s *Server) updateAgent(ctx context.Context, in *agentUpdateInput) (*body[*hyponema.Agent], error) {
	return reply(s.Agents.UpdateAgent(ctx, in.WS, in.ID, in.Body))
}

func (s *Server) deleteAgent(ctx context.Context, in *ObjectPath) (*empty, error) {
	return &empty{}, s.Agents.DeleteAgent(ctx, in.WS, in.ID)
}

// versionCreateInput is shared by agents and personas: the body may be
// absent, {} or {"note": …}.
type versionCreateInput struct {
	ObjectPath
	Body *struct {
		Note string `json:"note,omitempty" maxLength:"2000" doc:"What changed, for people."`
	} `required:"false"`
}

func (in *versionCreateInput) note() string {
	if in.Body == nil {
		return ""
	}
	return in.Body.Note
}

func (s *Server) createAgentVersion(ctx context.Context, in *versionCreateInput) (*body[*hyponema.AgentVersion], error) {
	return reply(s.Agents.CreateAgentVersion(ctx, in.WS, in.ID, in.note()))
}

type versionListInput struct {
	ObjectPath
	ListParams
}

func (s *Server) listAgentVersions(ctx context.Context, in *versionListInput) (*body[hyponema.Page[*hyponema.AgentVersion]], error) {
	return reply(s.Agents.ListAgentVersions(ctx, in.WS, in.ID, in.options()))
}

func (s *Server) getAgentVersion(ctx context.Context, in *VersionPath) (*body[*hyponema.AgentVersion], error) {
	return reply(s.Agents.FindAgentVersion(ctx, in.WS, in.ID, in.VersionID))
}

type publishInput struct {
	ObjectPath
	Body struct {
		VersionID string `json:"version_id" doc:"The version to make live."`
	}
}

func (s *Server) publishAgent(ctx context.Context, in *publishInput) (*body[*hyponema.Agent], error) {
	return reply(s.Agents.PublishAgentVersion(ctx, in.WS, in.ID, in.Body.VersionID))
}

// rollbackInput takes an empty body, {} or nothing.
type rollbackInput struct {
	ObjectPath
	Body *struct{} `required:"false"`
}

func (s *Server) rollbackAgent(ctx context.Context, in *rollbackInput) (*body[*hyponema.Agent], error) {
	return reply(s.Agents.RollbackAgent(ctx, in.WS, in.ID))
}
