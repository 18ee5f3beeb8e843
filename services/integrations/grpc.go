package integrations

import (
	"context"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	integrationsv1 "github.com/pythorix/pythorix/gen/go/pythorix/integrations/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/invalid"
)

func caller(ctx context.Context) string { return authn.PrincipalFrom(ctx).GetUserId() }

func kindName(k integrationsv1.IntegrationKind) string {
	return strings.TrimPrefix(k.String(), "INTEGRATION_KIND_")
}

func integrationProto(x *Integration) *integrationsv1.Integration {
	out := &integrationsv1.Integration{Id: x.ID, OrgId: x.OrgID, Name: x.Name,
		Kind:    integrationsv1.IntegrationKind(integrationsv1.IntegrationKind_value["INTEGRATION_KIND_"+x.Kind]),
		Enabled: x.Enabled, SecretSet: x.SecretSet, SecretLast4: x.SecretLast4, InboundSecretSet: x.InboundSet,
		CreateTime: timestamppb.New(x.CreatedAt), UpdateTime: timestamppb.New(x.UpdatedAt), DisabledReason: x.DisabledReason}
	c := x.Config
	switch x.Kind {
	case KindWebhook:
		out.Config = &integrationsv1.Integration_Webhook{Webhook: &integrationsv1.WebhookConfig{Url: c.URL, Events: c.Events}}
	case KindSlack:
		out.Config = &integrationsv1.Integration_Slack{Slack: &integrationsv1.SlackConfig{Channel: c.Channel}}
	case KindJira:
		out.Config = &integrationsv1.Integration_Jira{Jira: &integrationsv1.JiraConfig{BaseUrl: c.BaseURL, ProjectKey: c.ProjectKey, Email: c.Email}}
	case KindPagerDuty:
		out.Config = &integrationsv1.Integration_Pagerduty{Pagerduty: &integrationsv1.PagerDutyConfig{}}
	}
	return out
}

// configOf reads the configuration a request sets and the kind it is for
// ("" when none is set).
func configOf(webhook *integrationsv1.WebhookConfig, slack *integrationsv1.SlackConfig, jira *integrationsv1.JiraConfig,
	pd *integrationsv1.PagerDutyConfig) (string, Config) {
	switch {
	case webhook != nil:
		return KindWebhook, Config{URL: webhook.GetUrl(), Events: webhook.GetEvents()}
	case slack != nil:
		return KindSlack, Config{Channel: slack.GetChannel()}
	case jira != nil:
		return KindJira, Config{BaseURL: jira.GetBaseUrl(), ProjectKey: jira.GetProjectKey(), Email: jira.GetEmail()}
	case pd != nil:
		return KindPagerDuty, Config{}
	}
	return "", Config{}
}

func ts(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func deliveryProto(d *Delivery) *integrationsv1.Delivery {
	return &integrationsv1.Delivery{Id: d.ID, IntegrationId: d.IntegrationID, EventId: d.EventID, EventType: d.EventType,
		Status:   integrationsv1.DeliveryStatus(integrationsv1.DeliveryStatus_value["DELIVERY_STATUS_"+d.Status]),
		Attempts: int32(d.Attempts), ResponseStatus: int32(d.ResponseStatus), LatencyMs: d.LatencyMS,
		ResponseSnippet: d.Snippet, CreateTime: timestamppb.New(d.CreatedAt), LastAttemptTime: ts(d.LastAttemptAt),
		NextAttemptTime: ts(d.NextAttemptAt), ReplayOf: d.ReplayOf}
}

// CreateIntegration implements the RPC.
func (s *Service) CreateIntegration(ctx context.Context, r *integrationsv1.CreateIntegrationRequest) (*integrationsv1.CreateIntegrationResponse, error) {
	_, cfg := configOf(r.GetWebhook(), r.GetSlack(), r.GetJira(), r.GetPagerduty())
	enabled := true
	if r.Enabled != nil {
		enabled = r.GetEnabled()
	}
	x, generated, err := s.store.Create(ctx, caller(ctx), &Integration{OrgID: authn.OrgFrom(ctx), Name: r.GetName(), Kind: kindName(r.GetKind()),
		Enabled: enabled, Config: cfg}, r.GetSecret(), r.GetInboundSecret())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.CreateIntegrationResponse{Integration: integrationProto(x), GeneratedSecret: generated}, nil
}

// GetIntegration implements the RPC.
func (s *Service) GetIntegration(ctx context.Context, r *integrationsv1.GetIntegrationRequest) (*integrationsv1.GetIntegrationResponse, error) {
	x, err := s.store.Get(ctx, authn.OrgFrom(ctx), r.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.GetIntegrationResponse{Integration: integrationProto(x)}, nil
}

// ListIntegrations implements the RPC.
func (s *Service) ListIntegrations(ctx context.Context, r *integrationsv1.ListIntegrationsRequest) (*integrationsv1.ListIntegrationsResponse, error) {
	kind := ""
	if r.GetKind() != integrationsv1.IntegrationKind_INTEGRATION_KIND_UNSPECIFIED {
		kind = kindName(r.GetKind())
	}
	list, next, err := s.store.List(ctx, authn.OrgFrom(ctx), kind, r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &integrationsv1.ListIntegrationsResponse{NextPageToken: next}
	for _, x := range list {
		out.Integrations = append(out.Integrations, integrationProto(x))
	}
	return out, nil
}

// UpdateIntegration implements the RPC.
func (s *Service) UpdateIntegration(ctx context.Context, r *integrationsv1.UpdateIntegrationRequest) (*integrationsv1.UpdateIntegrationResponse, error) {
	orgID := authn.OrgFrom(ctx)
	u := Update{Name: r.Name, Enabled: r.Enabled, Secret: r.Secret, Inbound: r.InboundSecret}
	if kind, cfg := configOf(r.GetWebhook(), r.GetSlack(), r.GetJira(), r.GetPagerduty()); kind != "" {
		cur, err := s.store.Get(ctx, orgID, r.GetId())
		if err != nil {
			return nil, s.toStatus(ctx, err)
		}
		if kind != cur.Kind {
			return nil, s.toStatus(ctx, &invalid.Field{Name: strings.ToLower(kind), Reason: "does not match the integration's kind " + cur.Kind})
		}
		u.Config = &cfg
	}
	x, err := s.store.Update(ctx, caller(ctx), orgID, r.GetId(), u)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.UpdateIntegrationResponse{Integration: integrationProto(x)}, nil
}

// DeleteIntegration implements the RPC: the row and its secrets are erased
// first (whatever happens next), then the provider is asked to revoke the
// credential where it can be, and the audit log records its answer.
func (s *Service) DeleteIntegration(ctx context.Context, r *integrationsv1.DeleteIntegrationRequest) (*integrationsv1.DeleteIntegrationResponse, error) {
	orgID, actor := authn.OrgFrom(ctx), caller(ctx)
	x, err := s.store.Get(ctx, orgID, r.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	cur, _, serr := s.store.secrets(ctx, orgID, x.ID)
	bg := context.WithoutCancel(ctx)
	if err := s.store.Delete(bg, actor, orgID, x.ID); err != nil {
		return nil, s.toStatus(ctx, err)
	}
	revoked := "failed: the secret could not be read"
	if serr == nil {
		revoked = s.revoker.Revoke(bg, x.Kind, cur)
	}
	if err := s.store.audit(bg, orgID, actor, "integrations.integration.revoke", x.ID,
		map[string]any{"kind": x.Kind, "provider_revocation": revoked}); err != nil {
		s.log.ErrorContext(ctx, "audit of a revocation", "error", err.Error())
	}
	return &integrationsv1.DeleteIntegrationResponse{}, nil
}

// TestIntegration implements the RPC.
func (s *Service) TestIntegration(ctx context.Context, r *integrationsv1.TestIntegrationRequest) (*integrationsv1.TestIntegrationResponse, error) {
	d, err := s.deliveries.Test(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.TestIntegrationResponse{Delivery: deliveryProto(d)}, nil
}

// ListDeliveries implements the RPC.
func (s *Service) ListDeliveries(ctx context.Context, r *integrationsv1.ListDeliveriesRequest) (*integrationsv1.ListDeliveriesResponse, error) {
	status := ""
	if r.GetStatus() != integrationsv1.DeliveryStatus_DELIVERY_STATUS_UNSPECIFIED {
		status = strings.TrimPrefix(r.GetStatus().String(), "DELIVERY_STATUS_")
	}
	list, next, err := s.deliveries.List(ctx, authn.OrgFrom(ctx), r.GetId(), status, r.GetPageToken(), int(r.GetPageSize()))
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	out := &integrationsv1.ListDeliveriesResponse{NextPageToken: next}
	for _, d := range list {
		out.Deliveries = append(out.Deliveries, deliveryProto(d))
	}
	return out, nil
}

// ReplayDelivery implements the RPC.
func (s *Service) ReplayDelivery(ctx context.Context, r *integrationsv1.ReplayDeliveryRequest) (*integrationsv1.ReplayDeliveryResponse, error) {
	d, err := s.deliveries.Replay(ctx, caller(ctx), authn.OrgFrom(ctx), r.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.ReplayDeliveryResponse{Delivery: deliveryProto(d)}, nil
}

// PublishEvent implements the RPC (internal callers only).
func (s *Service) PublishEvent(ctx context.Context, r *integrationsv1.PublishEventRequest) (*integrationsv1.PublishEventResponse, error) {
	payload := r.GetPayload().AsMap()
	if payload == nil {
		payload = (&structpb.Struct{}).AsMap()
	}
	n, err := s.deliveries.Publish(ctx, r.GetOrgId(), r.GetEventId(), r.GetEventType(), payload)
	if err != nil {
		return nil, s.toStatus(ctx, err)
	}
	return &integrationsv1.PublishEventResponse{QueuedCount: int32(n)}, nil
}
