package httpapi

import (
	"context"
	"time"

	"github.com/hyponema/hyponema"
)

// WebhookPath is {ws} and the {webhook_id} of one of its webhook endpoints.
type WebhookPath struct {
	WorkspacePath
	WebhookID string `path:"webhook_id" doc:"Webhook endpoint ID (whk_…)."`
}

// DeliveryPath is an endpoint's path and the {delivery_id} of one of its
// deliveries.
type DeliveryPath struct {
	WebhookPath
	DeliveryID string `path:"delivery_id" doc:"Delivery ID (dlv_…)."`
}

// EventPath is {ws} and the {event_id} of one of its events.
type EventPath struct {
	WorkspacePath
	EventID string `path:"event_id" doc:"Event ID (evt_…)."`
}

// webhookWithSecret is an endpoint with its signing secret: the answer of
// create and rotate-secret only, never of a read.
type webhookWithSecret struct {
	*hyponema.WebhookEndpoint
	Secret string `json:"secret" doc:"The signing secret, whsec_…: shown only in this response, store it now. Verify each delivery's webhook-signature with it (Standard Webhooks)."`
}

type webhookCreateInput struct {
	WorkspacePath
	Body struct {
		URL         string   `json:"url" maxLength:"2048" doc:"Where events are POSTed: an absolute http or https URL, without a user name, password or fragment, whose host is a public address."`
		Events      []string `json:"events,omitempty" maxItems:"50" doc:"The event types to receive; empty or absent means all. \"session.*\" matches every type that starts with \"session.\"; \"*\" matches all."`
		Description string   `json:"description,omitempty" maxLength:"2000" doc:"What the endpoint is for, for people."`
		Enabled     *bool    `json:"enabled,omitempty" doc:"false creates it switched off (disabled_reason user); true by default."`
	}
}

func (s *Server) createWebhook(ctx context.Context, in *webhookCreateInput) (*body[webhookWithSecret], error) {
	w := &hyponema.WebhookEndpoint{
		WorkspaceID: in.WS,
		URL:         in.Body.URL,
		Events:      in.Body.Events,
		Description: in.Body.Description,
		Enabled:     in.Body.Enabled == nil || *in.Body.Enabled,
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	secret, err := s.WebhookAdmin.CreateWebhook(ctx, w)
	if err != nil {
		return nil, err
	}
	return reply(webhookWithSecret{WebhookEndpoint: w, Secret: secret}, nil)
}

type webhookListInput struct {
	WorkspacePath
	ListParams
}

func (s *Server) listWebhooks(ctx context.Context, in *webhookListInput) (*body[hyponema.Page[*hyponema.WebhookEndpoint]], error) {
	return reply(s.Webhooks.ListWebhooks(ctx, in.WS, in.options()))
}

func (s *Server) getWebhook(ctx context.Context, in *WebhookPath) (*body[*hyponema.WebhookEndpoint], error) {
	return reply(s.Webhooks.FindWebhook(ctx, in.WS, in.WebhookID))
}

// webhookPatchBody is hyponema.WebhookPatch as the API spells it.
type webhookPatchBody struct {
	URL         *string   `json:"url,omitempty" maxLength:"2048" doc:"A new URL; checked as when the endpoint was created."`
	Events      *[]string `json:"events,omitempty" maxItems:"50" doc:"Replaces the whole filter; [] means all event types."`
	Enabled     *bool     `json:"enabled,omitempty" doc:"false switches it off (disabled_reason user); true switches it on again and forgets the reason and the failure streak."`
	Description *string   `json:"description,omitempty" maxLength:"2000"`
}

type webhookUpdateInput struct {
	WebhookPath
	Body webhookPatchBody
}

func (s *Server) updateWebhook(ctx context.Context, in *webhookUpdateInput) (*body[*hyponema.WebhookEndpoint], error) {
	p := hyponema.WebhookPatch{URL: in.Body.URL, Events: in.Body.Events, Enabled: in.Body.Enabled, Description: in.Body.Description}
	return reply(s.WebhookAdmin.UpdateWebhook(ctx, in.WS, in.WebhookID, p))
}

func (s *Server) deleteWebhook(ctx context.Context, in *WebhookPath) (*empty, error) {
	return &empty{}, s.Webhooks.DeleteWebhook(ctx, in.WS, in.WebhookID)
}

// webhookActionInput is an endpoint's path with an empty body, {} or none.
type webhookActionInput struct {
	WebhookPath
	Body *struct{} `required:"false"`
}

func (s *Server) rotateWebhookSecret(ctx context.Context, in *webhookActionInput) (*body[webhookWithSecret], error) {
	w, secret, err := s.WebhookAdmin.RotateWebhookSecret(ctx, in.WS, in.WebhookID)
	if err != nil {
		return nil, err
	}
	return reply(webhookWithSecret{WebhookEndpoint: w, Secret: secret}, nil)
}

func (s *Server) testWebhook(ctx context.Context, in *webhookActionInput) (*body[*hyponema.Event], error) {
	return reply(s.Webhooks.SendTestEvent(ctx, in.WS, in.WebhookID))
}

type deliveryListInput struct {
	WebhookPath
	ListParams
	EventID string `query:"event_id" doc:"Only the tries of this event (evt_…)."`
	Status  string `query:"status" enum:"succeeded,failed" doc:"Only the tries that ended so."`
}

func (s *Server) listDeliveries(ctx context.Context, in *deliveryListInput) (*body[hyponema.Page[*hyponema.WebhookDelivery]], error) {
	f := hyponema.DeliveryFilter{EventID: in.EventID, Status: in.Status}
	return reply(s.Webhooks.ListDeliveries(ctx, in.WS, in.WebhookID, f, in.options()))
}

func (s *Server) getDelivery(ctx context.Context, in *DeliveryPath) (*body[*hyponema.WebhookDelivery], error) {
	return reply(s.Webhooks.FindDelivery(ctx, in.WS, in.WebhookID, in.DeliveryID))
}

type redeliverInput struct {
	DeliveryPath
	Body *struct{} `required:"false"`
}

// redelivery says what a redelivery queued.
type redelivery struct {
	WebhookID  string `json:"webhook_id" doc:"The endpoint that receives the event again."`
	EventID    string `json:"event_id" doc:"The event sent again, with the same webhook-id header as before."`
	DeliveryID string `json:"delivery_id" doc:"The delivery that was redelivered. The new try is listed as a delivery of its own, with trigger manual, once it is made."`
}

// redeliver queues one more try of a delivery's event. The delivery is
// looked up first, so that an unknown delivery is 404 even on a server that
// does not deliver webhooks (where Redeliver itself is 503 unavailable).
func (s *Server) redeliver(ctx context.Context, in *redeliverInput) (*body[redelivery], error) {
	d, err := s.Webhooks.FindDelivery(ctx, in.WS, in.WebhookID, in.DeliveryID)
	if err != nil {
		return nil, err
	}
	if err := s.Webhooks.Redeliver(ctx, in.WS, in.WebhookID, in.DeliveryID); err != nil {
		return nil, err
	}
	return reply(redelivery{WebhookID: d.WebhookID, EventID: d.EventID, DeliveryID: d.ID}, nil)
}

type workspaceEventsInput struct {
	WorkspacePath
	ListParams
	Type  string    `query:"type" maxLength:"100" doc:"Only events of this type, e.g. session.ended."`
	Since time.Time `query:"since" doc:"Only events created at or after this time (RFC 3339)."`
}

func (s *Server) listWorkspaceEvents(ctx context.Context, in *workspaceEventsInput) (*body[hyponema.Page[*hyponema.Event]], error) {
	f := hyponema.EventFilter{Type: in.Type, Since: in.Since}
	return reply(s.Events.ListWorkspaceEvents(ctx, in.WS, f, in.options()))
}

func (s *Server) getWorkspaceEvent(ctx context.Context, in *EventPath) (*body[*hyponema.Event], error) {
	return reply(s.Events.FindEvent(ctx, in.WS, in.EventID))
}
