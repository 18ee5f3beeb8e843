package integrations

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/envelope"
	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
	"github.com/pythorix/pythorix/platform/page"
	"github.com/pythorix/pythorix/platform/postgres"
	"github.com/pythorix/pythorix/platform/secret"
	"github.com/pythorix/pythorix/services/integrations/signing"
)

// Kinds of integration.
const (
	KindWebhook   = "WEBHOOK"
	KindSlack     = "SLACK"
	KindJira      = "JIRA"
	KindPagerDuty = "PAGERDUTY"
)

// Domain errors.
var (
	ErrNotFound  = errors.New("not found")
	ErrTooMany   = errors.New("too many integrations in this organisation")
	ErrNoSecret  = errors.New("the integration has no secret")
	ErrDisabled  = errors.New("the integration is disabled")
	ErrKindFixed = errors.New("an integration's kind cannot change")
)

// MaxPerOrg bounds the integrations of one organisation.
const MaxPerOrg = 25

// Config is an integration's non-secret configuration, stored as JSON.
type Config struct {
	URL        string   `json:"url,omitempty"`        // webhook endpoint
	Events     []string `json:"events,omitempty"`     // webhook subscription; empty: all
	Channel    string   `json:"channel,omitempty"`    // slack
	BaseURL    string   `json:"baseUrl,omitempty"`    // jira
	ProjectKey string   `json:"projectKey,omitempty"` // jira
	Email      string   `json:"email,omitempty"`      // jira
}

// Integration is an outbound integration; its secret never leaves the
// service except to the provider.
type Integration struct {
	ID, OrgID, Name, Kind string
	Enabled               bool
	DisabledReason        string
	Config                Config
	SecretSet             bool
	SecretLast4           string
	InboundSet            bool
	CreatedAt, UpdatedAt  time.Time
}

// Store keeps integrations and their sealed secrets.
type Store struct {
	db    *pgxpool.Pool
	kek   *envelope.Keyring
	guard *egress.Guard
	// slackHosts are the hosts a Slack incoming-webhook URL may point at.
	slackHosts []string
	// rootCAs replaces the system roots for outbound HTTPS (private
	// deployments, tests).
	rootCAs *x509.CertPool
	now     func() time.Time
}

const integrationCols = `id::text, org_id::text, name, kind, enabled, disabled_reason, config, secret IS NOT NULL, secret_last4,
	inbound_secret IS NOT NULL, created_at, updated_at`

func scanIntegration(r pgx.Row) (*Integration, error) {
	var x Integration
	var cfg []byte
	if err := r.Scan(&x.ID, &x.OrgID, &x.Name, &x.Kind, &x.Enabled, &x.DisabledReason, &cfg, &x.SecretSet, &x.SecretLast4,
		&x.InboundSet, &x.CreatedAt, &x.UpdatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &x.Config); err != nil {
		return nil, fmt.Errorf("integration %s: config: %w", x.ID, err)
	}
	return &x, nil
}

// secretAAD binds a sealed secret to its organisation, integration and
// field: a ciphertext moved to another row does not open.
func secretAAD(orgID, id, field string) []byte {
	return []byte("integrations/" + orgID + "/" + id + "/" + field)
}

func last4(s string) string {
	if len(s) <= 8 {
		return "" // too short to show any of it
	}
	return s[len(s)-4:]
}

var (
	slackBotToken  = regexp.MustCompile(`^xoxb-[A-Za-z0-9-]{10,250}$`)
	pagerDutyKey   = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)
	jiraTokenShape = regexp.MustCompile(`^[\x21-\x7e]{8,512}$`)
)

// checkURL refuses a destination the egress guard would refuse anyway, so
// that the user hears it now: not https, credentials in the URL, or an IP
// literal outside the ranges allowed.
func (s *Store) checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return &invalid.Field{Name: field, Reason: "must be an https:// URL"}
	}
	if u.User != nil {
		return &invalid.Field{Name: field, Reason: "must not carry credentials"}
	}
	if ip, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !s.guard.Allowed(ip) {
		return &invalid.Field{Name: field, Reason: "points at an address that is not public"}
	}
	if h := u.Hostname(); strings.EqualFold(h, "localhost") || strings.HasSuffix(strings.ToLower(h), ".localhost") {
		if !s.guard.Allowed(netip.MustParseAddr("127.0.0.1")) {
			return &invalid.Field{Name: field, Reason: "points at an address that is not public"}
		}
	}
	return nil
}

// checkSecret validates a secret for a kind and returns what to store.
func (s *Store) checkSecret(kind, sec string) (string, error) {
	bad := func(reason string) error { return &invalid.Field{Name: "secret", Reason: reason} }
	switch kind {
	case KindWebhook:
		if sec == "" {
			return signing.NewSecret()
		}
		if _, err := signing.ParseSecret(sec); err != nil {
			return "", bad("must be a whsec_ secret of 24 to 64 bytes in base64")
		}
	case KindSlack:
		if slackBotToken.MatchString(sec) {
			return sec, nil
		}
		u, err := url.Parse(sec)
		if err != nil || u.Scheme != "https" || !strings.HasPrefix(u.Path, "/services/") || !s.slackHost(u.Host) {
			return "", bad("must be a Slack incoming-webhook URL (https://hooks.slack.com/services/...) or a bot token (xoxb-...)")
		}
	case KindJira:
		if !jiraTokenShape.MatchString(sec) {
			return "", bad("must be a Jira API token")
		}
	case KindPagerDuty:
		if !pagerDutyKey.MatchString(sec) {
			return "", bad("must be a 32-character PagerDuty integration key")
		}
	}
	return sec, nil
}

func (s *Store) slackHost(host string) bool {
	for _, h := range s.slackHosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// checkConfig validates what protovalidate cannot: destinations.
func (s *Store) checkConfig(kind string, c Config) error {
	switch kind {
	case KindWebhook:
		return s.checkURL("webhook.url", c.URL)
	case KindJira:
		return s.checkURL("jira.baseUrl", c.BaseURL)
	}
	return nil
}

func (s *Store) seal(orgID, id, field, plaintext string) ([]byte, error) {
	return s.kek.Seal([]byte(plaintext), secretAAD(orgID, id, field))
}

// Create stores a new integration with its secret sealed.
// A webhook created without a secret gets a generated one, answered as
// generated (to be shown once).
func (s *Store) Create(ctx context.Context, actor string, x *Integration, sec, inbound string) (_ *Integration, generated string, _ error) {
	if err := s.checkConfig(x.Kind, x.Config); err != nil {
		return nil, "", err
	}
	if sec == "" && x.Kind != KindWebhook {
		return nil, "", &invalid.Field{Name: "secret", Reason: "is required for this kind"}
	}
	given := sec
	sec, err := s.checkSecret(x.Kind, sec)
	if err != nil {
		return nil, "", err
	}
	if given == "" {
		generated = sec
	}
	id := uuid.Must(uuid.NewV7()).String()
	sealed, err := s.seal(x.OrgID, id, "secret", sec)
	if err != nil {
		return nil, "", err
	}
	var sealedInbound []byte
	if inbound != "" {
		if sealedInbound, err = s.seal(x.OrgID, id, "inbound", inbound); err != nil {
			return nil, "", err
		}
	}
	cfg, err := json.Marshal(x.Config)
	if err != nil {
		return nil, "", err
	}
	var out *Integration
	err = postgres.InOrg(ctx, s.db, x.OrgID, func(tx pgx.Tx) error {
		// Serialise creations in an organisation so the cap holds.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pythorix.integrations'), hashtext($1))`, x.OrgID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM integrations WHERE org_id = $1`, x.OrgID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxPerOrg {
			return ErrTooMany
		}
		out, err = scanIntegration(tx.QueryRow(ctx, `INSERT INTO integrations (id, org_id, name, kind, enabled, config, secret,
			secret_last4, inbound_secret, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+integrationCols,
			id, x.OrgID, x.Name, x.Kind, x.Enabled, cfg, sealed, last4(sec), sealedInbound, postgres.NullIfEmpty(actor)))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(x.OrgID, actor, "integrations.integration.create", id,
			map[string]any{"kind": x.Kind, "name": x.Name}))
	})
	if err != nil {
		return nil, "", mapErr(err)
	}
	return out, generated, nil
}

// Get returns one integration of the organisation.
func (s *Store) Get(ctx context.Context, orgID, id string) (*Integration, error) {
	var out *Integration
	err := postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		var err error
		out, err = scanIntegration(tx.QueryRow(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = $1 AND org_id = $2`, id, orgID))
		return err
	})
	return out, mapErr(err)
}

// List pages through the organisation's integrations, newest first.
func (s *Store) List(ctx context.Context, orgID, kind, token string, size int) ([]*Integration, string, error) {
	after, err := page.After(token)
	if err != nil {
		return nil, "", err
	}
	size = page.Size(size)
	var list []*Integration
	err = postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+integrationCols+` FROM integrations WHERE org_id = $1 AND ($2 = '' OR kind = $2)
			AND id < $3::uuid ORDER BY id DESC LIMIT $4`, orgID, kind, after, size+1)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Integration, error) { return scanIntegration(r) })
		return err
	})
	if err != nil {
		return nil, "", mapErr(err)
	}
	list, next := page.Trim(list, size, func(x *Integration) string { return x.ID })
	return list, next, nil
}

// Update is a partial change of an integration.
type Update struct {
	Name    *string
	Enabled *bool
	Config  *Config
	Secret  *string
	Inbound *string
}

// Update applies a partial change. A new webhook secret leaves the old one
// signing beside it for a day, so receivers can switch without losing
// deliveries (the Standard Webhooks rotation).
func (s *Store) Update(ctx context.Context, actor, orgID, id string, u Update) (*Integration, error) {
	cur, err := s.Get(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	if u.Config != nil {
		if err := s.checkConfig(cur.Kind, *u.Config); err != nil {
			return nil, err
		}
	}
	var sealed []byte
	var l4 string
	if u.Secret != nil {
		sec, err := s.checkSecret(cur.Kind, *u.Secret)
		if err != nil {
			return nil, err
		}
		if sealed, err = s.seal(orgID, id, "secret", sec); err != nil {
			return nil, err
		}
		l4 = last4(sec)
	}
	var sealedInbound []byte
	if u.Inbound != nil {
		if sealedInbound, err = s.seal(orgID, id, "inbound", *u.Inbound); err != nil {
			return nil, err
		}
	}
	var out *Integration
	changed := []string{}
	err = postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		if u.Name != nil {
			changed = append(changed, "name")
			if _, err := tx.Exec(ctx, `UPDATE integrations SET name = $2 WHERE id = $1`, id, *u.Name); err != nil {
				return err
			}
		}
		if u.Enabled != nil {
			changed = append(changed, "enabled")
			if _, err := tx.Exec(ctx, `UPDATE integrations SET enabled = $2,
				disabled_reason = CASE WHEN $2 THEN '' ELSE disabled_reason END,
				failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END WHERE id = $1`, id, *u.Enabled); err != nil {
				return err
			}
		}
		if u.Config != nil {
			changed = append(changed, "config")
			cfg, err := json.Marshal(u.Config)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE integrations SET config = $2 WHERE id = $1`, id, cfg); err != nil {
				return err
			}
		}
		if sealed != nil {
			changed = append(changed, "secret")
			// A webhook's old ciphertext moves aside as it is: both are this
			// row's secret, so the same associated data opens them.
			if _, err := tx.Exec(ctx, `UPDATE integrations SET previous_secret = CASE WHEN kind = 'WEBHOOK' THEN secret END,
				previous_until = CASE WHEN kind = 'WEBHOOK' THEN $4::timestamptz END, secret = $2, secret_last4 = $3 WHERE id = $1`,
				id, sealed, l4, s.now().Add(24*time.Hour)); err != nil {
				return err
			}
		}
		if sealedInbound != nil {
			changed = append(changed, "inbound_secret")
			if _, err := tx.Exec(ctx, `UPDATE integrations SET inbound_secret = $2 WHERE id = $1`, id, sealedInbound); err != nil {
				return err
			}
		}
		var err error
		out, err = scanIntegration(tx.QueryRow(ctx, `UPDATE integrations SET updated_at = now() WHERE id = $1 AND org_id = $2
			RETURNING `+integrationCols, id, orgID))
		if err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "integrations.integration.update", id, map[string]any{"changed": toAny(changed)}))
	})
	return out, mapErr(err)
}

// secrets opens an integration's current secret and, while a rotation is
// under way, the previous one (which was sealed as "secret" of the same
// row, so it opens with the same associated data).
func (s *Store) secrets(ctx context.Context, orgID, id string) (cur secret.String, prev *secret.String, err error) {
	var sealed, old []byte
	var until *time.Time
	err = postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT secret, previous_secret, previous_until FROM integrations WHERE id = $1 AND org_id = $2`,
			id, orgID).Scan(&sealed, &old, &until)
	})
	if err != nil {
		return secret.String{}, nil, mapErr(err)
	}
	if sealed == nil {
		return secret.String{}, nil, ErrNoSecret
	}
	pt, err := s.kek.Open(sealed, secretAAD(orgID, id, "secret"))
	if err != nil {
		return secret.String{}, nil, err
	}
	cur = secret.New(string(pt))
	clear(pt)
	if old != nil && until != nil && s.now().Before(*until) {
		if pt, err := s.kek.Open(old, secretAAD(orgID, id, "secret")); err == nil {
			p := secret.New(string(pt))
			clear(pt)
			prev = &p
		}
	}
	return cur, prev, nil
}

// inbound opens the key inbound hooks are verified with (only the inbound
// secret: the outbound signing secret never verifies a hook, or a delivery
// could be sent back in). It answers the integration's canonical id and
// organisation too (inbound hooks carry no organisation).
func (s *Store) inbound(ctx context.Context, id string) (canonicalID, orgID string, key secret.String, err error) {
	var blob []byte
	err = postgres.InOrg(ctx, s.db, postgres.AllOrgs, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT id::text, org_id::text, inbound_secret FROM integrations WHERE id = $1 AND enabled`, id).
			Scan(&canonicalID, &orgID, &blob)
	})
	if err != nil {
		return "", "", secret.String{}, mapErr(err)
	}
	if blob == nil {
		return "", "", secret.String{}, ErrNoSecret
	}
	pt, err := s.kek.Open(blob, secretAAD(orgID, canonicalID, "inbound"))
	if err != nil {
		return "", "", secret.String{}, err
	}
	defer clear(pt)
	return canonicalID, orgID, secret.New(string(pt)), nil
}

// Delete erases the integration and its secret at once (the row goes, and
// with it the ciphertexts and the delivery log).
func (s *Store) Delete(ctx context.Context, actor, orgID, id string) error {
	return mapErr(postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		var kind string
		if err := tx.QueryRow(ctx, `DELETE FROM integrations WHERE id = $1 AND org_id = $2 RETURNING kind`, id, orgID).Scan(&kind); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(orgID, actor, "integrations.integration.delete", id, map[string]any{"kind": kind}))
	}))
}

// audit appends one audit event in its own transaction.
func (s *Store) audit(ctx context.Context, orgID, actor, action, id string, details map[string]any) error {
	return postgres.InOrg(ctx, s.db, orgID, func(tx pgx.Tx) error {
		return outbox.Append(ctx, tx, event(orgID, actor, action, id, details))
	})
}

// RotateKEK re-wraps every sealed secret's data key under the keyring's
// current key; the secrets themselves are never decrypted.
func RotateKEK(ctx context.Context, db *pgxpool.Pool, kek *envelope.Keyring) (int, error) {
	n := 0
	err := postgres.InOrg(ctx, db, postgres.AllOrgs, func(tx pgx.Tx) error {
		// A previous secret past its overlap is dropped, not re-wrapped.
		if _, err := tx.Exec(ctx, `UPDATE integrations SET previous_secret = NULL, previous_until = NULL
			WHERE previous_until IS NOT NULL AND previous_until <= now()`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id::text, org_id::text, secret, previous_secret, inbound_secret FROM integrations FOR UPDATE`)
		if err != nil {
			return err
		}
		type row struct {
			id, org            string
			cur, prev, inbound []byte
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.org, &x.cur, &x.prev, &x.inbound)
		})
		if err != nil {
			return err
		}
		for _, x := range list {
			for _, f := range []struct {
				blob  *[]byte
				field string
			}{{&x.cur, "secret"}, {&x.prev, "secret"}, {&x.inbound, "inbound"}} {
				if *f.blob == nil {
					continue
				}
				if *f.blob, err = kek.Rewrap(*f.blob, secretAAD(x.org, x.id, f.field)); err != nil {
					return fmt.Errorf("integration %s: %w", x.id, err)
				}
				if kid, err := envelope.KeyID(*f.blob); err != nil || kid != kek.Current() {
					return fmt.Errorf("integration %s: %s is not under key %q after re-wrapping", x.id, f.field, kek.Current())
				}
			}
			if err := outbox.Append(ctx, tx, event(x.org, "", "integrations.kek.rewrap", x.id,
				map[string]any{"key_id": kek.Current()})); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE integrations SET secret = $2, previous_secret = $3, inbound_secret = $4 WHERE id = $1`,
				x.id, x.cur, x.prev, x.inbound); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func event(orgID, actor, action, id string, details map[string]any) *auditv1.EventInput {
	ev := &auditv1.EventInput{OrgId: orgID, Action: action, ResourceType: "integration", ResourceId: id,
		Actor: &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_USER, Id: actor}}
	if actor == "" {
		ev.Actor = &auditv1.Actor{Type: auditv1.ActorType_ACTOR_TYPE_SYSTEM}
	}
	if details != nil {
		ev.Details, _ = structpb.NewStruct(details)
	}
	return ev
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func mapErr(err error) error {
	if postgres.NotFound(err) {
		return ErrNotFound
	}
	return err
}

// hostOf is the host of a URL, for logs and errors that must not carry the
// URL itself (a Slack webhook URL is a credential).
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	h, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		return u.Host
	}
	return h
}
