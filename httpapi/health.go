package httpapi

import (
	"context"

	"github.com/hyponema/hyponema"
)

type healthBody struct {
	Status string `json:"status" example:"ok"`
}

func (s *Server) health(ctx context.Context, _ *struct{}) (*body[healthBody], error) {
	return reply(healthBody{Status: "ok"}, nil)
}

func (s *Server) ready(ctx context.Context, _ *struct{}) (*body[healthBody], error) {
	if err := s.Ready(ctx); err != nil {
		s.logger.WarnContext(ctx, "readiness check failed", "error", err)
		return nil, hyponema.Errorf(hyponema.EUNAVAILABLE, "The database does not answer.")
	}
	return reply(healthBody{Status: "ok"}, nil)
}
