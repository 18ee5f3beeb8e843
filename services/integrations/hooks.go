package integrations

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/services/integrations/signing"
)

// errUnverified is every inbound hook that fails verification, for
// whatever reason (unknown integration, no key, bad or stale signature):
// the sender learns nothing more.
var errUnverified = errors.New("the hook could not be verified")

// errReplayStore means the replay check could not run: the hook is
// refused (fail closed) and the sender retries later.
var errReplayStore = errors.New("inbound hooks are unavailable; try again later")

// Inbound providers: the signature scheme a hook is verified with.
const (
	ProviderStandard = "standard" // Standard Webhooks (webhook-id, -timestamp, -signature)
	ProviderSlack    = "slack"    // Slack request signing v0
	ProviderStripe   = "stripe"   // Stripe-Signature
)

// ReceiveHook implements the RPC: verify first, then record. Nothing of an
// unverified hook is kept or acted on.
func (s *Service) ReceiveHook(ctx context.Context, r *integrationsv1.ReceiveHookRequest) (*integrationsv1.ReceiveHookResponse, error) {
	orgID, replayKey, err := s.verify(ctx, r, time.Now())
	if err != nil {
		if !errors.Is(err, errUnverified) && !errors.Is(err, signing.ErrReplay) {
			return nil, s.toStatus(ctx, err)
		}
		s.log.InfoContext(ctx, "inbound hook refused", "provider", r.GetProvider(), "integration_id", r.GetIntegrationId(),
			"reason", err.Error())
		return nil, s.toStatus(ctx, errUnverified)
	}
	sum := sha256.Sum256(r.GetBody())
	err = postgres.InOrg(ctx, s.store.db, orgID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO inbound_hooks (id, org_id, integration_id, provider, body_sha256, body_size, source_ip)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, uuid.Must(uuid.NewV7()).String(), orgID, r.GetIntegrationId(), r.GetProvider(),
			hex.EncodeToString(sum[:]), len(r.GetBody()), r.GetSourceIp())
		return err
	})
	if err != nil {
		// Not kept: the sender's retry (same signature) must get through.
		if ferr := s.replay.Forget(context.WithoutCancel(ctx), replayKey); ferr != nil {
			s.log.ErrorContext(ctx, "inbound hook: forget a replay mark", "error", ferr.Error())
		}
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.ReceiveHookResponse{}, nil
}

// verify checks a hook's signature and freshness and that it was not seen
// before; it answers the integration's organisation and the hook's replay key.
func (s *Service) verify(ctx context.Context, r *integrationsv1.ReceiveHookRequest, now time.Time) (orgID, replayKey string, err error) {
	id, orgID, key, err := s.store.inbound(ctx, r.GetIntegrationId())
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoSecret) {
		return "", "", errUnverified
	}
	if err != nil {
		return "", "", err
	}
	h, body := r.GetHeaders(), r.GetBody()
	var v signing.Verified
	switch r.GetProvider() {
	case ProviderStandard:
		k, perr := signing.ParseSecret(key.Reveal())
		if perr != nil {
			return "", "", errUnverified
		}
		v, err = signing.VerifyStandard([][]byte{k}, h, body, now)
	case ProviderSlack:
		v, err = signing.VerifySlack([]byte(key.Reveal()), h, body, now)
	case ProviderStripe:
		v, err = signing.VerifyStripe([]byte(key.Reveal()), h, body, now)
	default:
		return "", "", errUnverified
	}
	if err != nil {
		return "", "", errors.Join(errUnverified, err)
	}
	// Only a verified hook reaches the replay check, so a forger cannot
	// fill Redis. Redis down: refused (fail closed).
	// The canonical id: the same hook under another spelling of the id is
	// the same hook.
	replayKey = id + ":" + v.ID
	if err := s.replay.Check(ctx, replayKey); err != nil {
		if errors.Is(err, signing.ErrReplay) {
			return "", "", err
		}
		s.log.ErrorContext(ctx, "inbound hook: replay store unavailable", "error", err.Error())
		return "", "", errReplayStore
	}
	return orgID, replayKey, nil
}
