package httpapi

import (
	"context"

	"github.com/hyponema/hyponema"
)

// personaCreateBody is a persona's fields with only the name required.
type personaCreateBody struct {
	Name string `json:"name" doc:"Display name."`
	hyponema.PersonaPatch
}

type personaCreateInput struct {
	WorkspacePath
	Body personaCreateBody
}

func (s *Server) createPersona(ctx context.Context, in *personaCreateInput) (*body[*hyponema.Persona], error) {
	patch := in.Body.PersonaPatch
	patch.Name = &in.Body.Name
	p := &hyponema.Persona{WorkspaceID: in.WS}
	patch.Apply(&p.PersonaConfig)
	if err := s.Personas.CreatePersona(ctx, p); err != nil {
		return nil, err
	}
	return reply(p, nil)
}

type personaListInput struct {
	WorkspacePath
	ListParams
}

func (s *Server) listPersonas(ctx context.Context, in *personaListInput) (*body[hyponema.Page[*hyponema.Persona]], error) {
	return reply(s.Personas.ListPersonas(ctx, in.WS, in.options()))
}

func (s *Server) getPersona(ctx context.Context, in *ObjectPath) (*body[*hyponema.Persona], error) {
	return reply(s.Personas.FindPersona(ctx, in.WS, in.ID))
}

type personaUpdateInput struct {
	ObjectPath
	Body hyponema.PersonaPatch
}

func (s *Server) updatePersona(ctx context.Context, in *personaUpdateInput) (*body[*hyponema.Persona], error) {
	return reply(s.Personas.UpdatePersona(ctx, in.WS, in.ID, in.Body))
}

func (s *Server) deletePersona(ctx context.Context, in *ObjectPath) (*empty, error) {
	return &empty{}, s.Personas.DeletePersona(ctx, in.WS, in.ID)
}

func (s *Server) createPersonaVersion(ctx context.Context, in *versionCreateInput) (*body[*hyponema.PersonaVersion], error) {
	return reply(s.Personas.CreatePersonaVersion(ctx, in.WS, in.ID, in.note()))
}

func (s *Server) listPersonaVersions(ctx context.Context, in *versionListInput) (*body[hyponema.Page[*hyponema.PersonaVersion]], error) {
	return reply(s.Personas.ListPersonaVersions(ctx, in.WS, in.ID, in.options()))
}

func (s *Server) getPersonaVersion(ctx context.Context, in *VersionPath) (*body[*hyponema.PersonaVersion], error) {
	return reply(s.Personas.FindPersonaVersion(ctx, in.WS, in.ID, in.VersionID))
}

func (s *Server) publishPersona(ctx context.Context, in *publishInput) (*body[*hyponema.Persona], error) {
	return reply(s.Personas.PublishPersonaVersion(ctx, in.WS, in.ID, in.Body.VersionID))
}

func (s *Server) rollbackPersona(ctx context.Context, in *rollbackInput) (*body[*hyponema.Persona], error) {
	return reply(s.Personas.RollbackPersona(ctx, in.WS, in.ID))
}
