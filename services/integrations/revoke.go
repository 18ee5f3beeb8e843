package integrations

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/secret"
)

// revoker tells a provider a credential is no longer wanted, where the
// provider has a way to hear it.
type revoker struct {
	client    *http.Client
	providers Providers
	timeout   time.Duration
}

// Revoke answers what happened, for the audit log: "revoked",
// "not supported" (no provider endpoint, e.g. a Slack incoming-webhook URL
// or a Jira API token, which only its owner can revoke) or "failed: ...".
// A failure does not stop the deletion: the secret is erased regardless.
func (r *revoker) Revoke(ctx context.Context, kind string, cur secret.String) string {
	if kind != KindSlack || !strings.HasPrefix(cur.Reveal(), "xoxb-") {
		return "not supported"
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(r.providers.SlackAPI, "/")+"/auth.revoke", nil)
	if err != nil {
		return "failed: bad provider URL"
	}
	req.Header.Set("Authorization", "Bearer "+cur.Reveal())
	resp, err := r.client.Do(req)
	if err != nil {
		return "failed: the provider did not answer"
	}
	defer resp.Body.Close()
	body, _, _ := egress.ReadBody(resp.Body, 4<<10)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"revoked":true`) && !strings.Contains(string(body), `"ok":true`) {
		return "failed: the provider refused"
	}
	return "revoked"
}
