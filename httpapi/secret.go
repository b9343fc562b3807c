package httpapi

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"slices"

	"github.com/danielgtaylor/huma/v2"

	"github.com/hyponema/hyponema"
)

// SecretPath is {ws} and the {name} of one of its secrets.
type SecretPath struct {
	WorkspacePath
	Name string `path:"name" doc:"The secret's name, as tools name it in {{secrets.NAME}}." example:"CRM_TOKEN"`
}

// The list of secrets is never long enough to page: it answers the list
// shape with has_more false.
func (s *Server) listSecrets(ctx context.Context, in *WorkspacePath) (*body[hyponema.Page[*hyponema.Secret]], error) {
	list, err := s.Secrets.ListSecrets(ctx, in.WS)
	if err != nil {
		return nil, err
	}
	return reply(hyponema.Page[*hyponema.Secret]{Data: list}, nil)
}

func (s *Server) getSecret(ctx context.Context, in *SecretPath) (*body[*hyponema.Secret], error) {
	return reply(s.Secrets.FindSecret(ctx, in.WS, in.Name))
}

type secretSetInput struct {
	SecretPath
	Body struct {
		// maxLength counts characters and ValidateSecret bytes: the
		// schema states the bound, the domain holds it exactly.
		Value string `json:"value" maxLength:"8192" doc:"The value, at most 8192 bytes of UTF-8 text without line breaks or NUL. Never shown again: no response contains it."`
	}
}

// secretSetOutput answers 201 when the secret is new, 200 when its value
// was replaced.
type secretSetOutput struct {
	Status int
	Body   *hyponema.Secret
}

func (s *Server) setSecret(ctx context.Context, in *secretSetInput) (*secretSetOutput, error) {
	sec, created, err := s.Secrets.SetSecret(ctx, in.WS, in.Name, in.Body.Value)
	if err != nil {
		return nil, nameInPath(err)
	}
	out := &secretSetOutput{Status: http.StatusOK, Body: sec}
	if created {
		out.Status = http.StatusCreated
	}
	return out, nil
}

func (s *Server) deleteSecret(ctx context.Context, in *SecretPath) (*empty, error) {
	return &empty{}, s.Secrets.DeleteSecret(ctx, in.WS, in.Name)
}

// nameInPath moves the domain's complaint about a secret's name from the
// body, where hyponema.ValidateSecret puts every field, to the path, where
// the API takes the name.
func nameInPath(err error) error {
	var de *hyponema.Error
	if !errors.As(err, &de) || de.Code != hyponema.EINVALID {
		return err
	}
	moved := *de
	moved.Fields = slices.Clone(de.Fields)
	for i, f := range moved.Fields {
		if slices.Equal(f.Loc, []string{"body", "name"}) {
			moved.Fields[i].Loc = []string{"path", "name"}
		}
	}
	moved.Message = hyponema.FieldsDetail(moved.Fields)
	return &moved
}

// createdOrReplaced documents an operation that answers 200 (replaced)
// by default and 201 (created) with the same body.
func createdOrReplaced(o huma.Operation, registry huma.Registry, v any) huma.Operation {
	o.Responses = map[string]*huma.Response{
		"201": {
			Description: "Created",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: registry.Schema(reflect.TypeOf(v), true, "")}},
		},
	}
	return o
}
