// Package webhook delivers a workspace's events to its webhook endpoints:
// at least once, signed per the Standard Webhooks specification, retried on
// a fixed schedule from the durable job queue, through the egress guard.
//
// The store records each event in the transaction of the change that
// causes it and, in the same transaction, queues one DeliverArgs job per
// endpoint that wants it (Enqueuer). Sender works those jobs: one try per
// run, logged as a delivery, retried on Schedule.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hyponema/hyponema"
	"github.com/hyponema/hyponema/egress"
	"github.com/hyponema/hyponema/seal"
)

// SealPurpose is the purpose of the seal.Box that keeps signing secrets.
const SealPurpose = "webhook signing secrets"

// Admin creates, changes and rotates endpoints: the operations that make a
// signing secret or take a URL. It seals secrets before the store sees
// them and checks URLs with the egress guard when they are saved.
type Admin struct {
	Store  hyponema.WebhookService
	Box    *seal.Box
	Egress egress.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ hyponema.WebhookAdmin = (*Admin)(nil)

func (a *Admin) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// checkURL refuses a URL that the egress guard would refuse to call. A host
// that does not resolve yet is accepted: its DNS may be set up later, and
// every delivery is checked again.
func (a *Admin) checkURL(ctx context.Context, u string) error {
	err := a.Egress.CheckURL(ctx, u)
	if err == nil || egress.ReasonOf(err) == egress.ReasonUnresolvable {
		return nil
	}
	var ge *egress.Error
	if errors.As(err, &ge) {
		var v hyponema.Validation
		v.Add(ge.Reason, ge.Msg, "url")
		return v.Err()
	}
	return err
}

// CreateWebhook implements hyponema.WebhookAdmin.
func (a *Admin) CreateWebhook(ctx context.Context, w *hyponema.WebhookEndpoint) (string, error) {
	if err := w.Validate(); err != nil {
		return "", err
	}
	if err := a.checkURL(ctx, w.URL); err != nil {
		return "", err
	}
	w.ID = hyponema.NewID(hyponema.PrefixWebhook)
	secret := hyponema.NewWebhookSecret()
	if err := a.Store.CreateWebhook(ctx, w, a.Box.Seal(secret, w.ID)); err != nil {
		return "", err
	}
	return secret, nil
}

// UpdateWebhook implements hyponema.WebhookAdmin.
func (a *Admin) UpdateWebhook(ctx context.Context, workspaceID, id string, p hyponema.WebhookPatch) (*hyponema.WebhookEndpoint, error) {
	if _, err := a.Store.FindWebhook(ctx, workspaceID, id); err != nil {
		return nil, err // 404 before any complaint about the body
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.URL != nil {
		if err := a.checkURL(ctx, *p.URL); err != nil {
			return nil, err
		}
	}
	return a.Store.UpdateWebhook(ctx, workspaceID, id, p)
}

// RotateWebhookSecret implements hyponema.WebhookAdmin: a new secret, with
// the old one signing beside it for hyponema.WebhookSecretOverlap.
func (a *Admin) RotateWebhookSecret(ctx context.Context, workspaceID, id string) (*hyponema.WebhookEndpoint, string, error) {
	if _, err := a.Store.FindWebhook(ctx, workspaceID, id); err != nil {
		return nil, "", err
	}
	secret := hyponema.NewWebhookSecret()
	w, err := a.Store.RotateWebhookSecret(ctx, workspaceID, id, a.Box.Seal(secret, id), a.now().Add(hyponema.WebhookSecretOverlap))
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// signingSecrets returns the secrets that sign the endpoint's deliveries
// now: the current one first, then the previous one during its overlap.
func (a *Admin) signingSecrets(ctx context.Context, id string) ([]string, error) {
	sec, err := a.Store.WebhookSecrets(ctx, id)
	if err != nil {
		return nil, err
	}
	cur, err := a.Box.Open(sec.Current, id)
	if err != nil {
		return nil, fmt.Errorf("webhook: open the signing secret of %s: %w", id, err)
	}
	out := []string{cur}
	if sec.Previous != "" && sec.PreviousUntil.After(a.now()) {
		prev, err := a.Box.Open(sec.Previous, id)
		if err != nil {
			return nil, fmt.Errorf("webhook: open the previous signing secret of %s: %w", id, err)
		}
		out = append(out, prev)
	}
	return out, nil
}
