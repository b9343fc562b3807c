package httpapi

import (
	"context"

	"github.com/hyponema/hyponema"
)

type apiKeyCreateInput struct {
	WorkspacePath
	Body struct {
		Name string `json:"name" doc:"What the key is for, e.g. production backend."`
	}
}

// apiKeyCreated is the only response that ever holds a key's secret.
type apiKeyCreated struct {
	*hyponema.APIKey
	Key string `json:"key" doc:"The secret key, hyp_…: shown only here, store it now."`
}

func (s *Server) createAPIKey(ctx context.Context, in *apiKeyCreateInput) (*body[apiKeyCreated], error) {
	k := &hyponema.APIKey{WorkspaceID: in.WS, Name: in.Body.Name}
	secret, err := s.APIKeys.CreateAPIKey(ctx, k)
	if err != nil {
		return nil, err
	}
	return reply(apiKeyCreated{APIKey: k, Key: secret}, nil)
}

type apiKeyListInput struct {
	WorkspacePath
	ListParams
}

func (s *Server) listAPIKeys(ctx context.Context, in *apiKeyListInput) (*body[hyponema.Page[*hyponema.APIKey]], error) {
	return reply(s.APIKeys.ListAPIKeys(ctx, in.WS, in.options()))
}

func (s *Server) getAPIKey(ctx context.Context, in *ObjectPath) (*body[*hyponema.APIKey], error) {
	return reply(s.APIKeys.FindAPIKey(ctx, in.WS, in.ID))
}

func (s *Server) revokeAPIKey(ctx context.Context, in *ObjectPath) (*body[*hyponema.APIKey], error) {
	return reply(s.APIKeys.RevokeAPIKey(ctx, in.WS, in.ID))
}
