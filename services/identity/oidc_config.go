package identity

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/pythorix/pythorix/platform/secret"
)

// OIDCConfig lists the OIDC providers users may sign in with. Each provider
// NAME in PYTHORIX_OIDC_PROVIDERS (e.g. "google,apple,acme") is configured by
// PYTHORIX_OIDC_<NAME>_ISSUER, _CLIENT_ID and _CLIENT_SECRET, and optionally
// _SCOPES (space-separated, default "openid email profile").
type OIDCConfig struct {
	Names     []string `env:"PYTHORIX_OIDC_PROVIDERS" envSeparator:","`
	Providers []OIDCProviderConfig
	// CAFile, when set, is the CA bundle trusted for providers' TLS (a
	// private IdP); otherwise the system roots.
	CAFile string `env:"PYTHORIX_OIDC_CA_FILE"`
	// ReturnOrigins are the origins a sign-in may return the browser to.
	ReturnOrigins []string `env:"PYTHORIX_OIDC_RETURN_ORIGINS" envSeparator:","`
}

// OIDCProviderConfig is one provider.
type OIDCProviderConfig struct {
	Name, Issuer, ClientID string
	ClientSecret           secret.String
	Scopes                 []string
}

var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

func (c *OIDCConfig) load(lookup func(string) string) error {
	for _, raw := range c.Names {
		name := strings.TrimSpace(strings.ToLower(raw))
		if name == "" {
			continue
		}
		if !providerName.MatchString(name) {
			return fmt.Errorf("PYTHORIX_OIDC_PROVIDERS: invalid provider name %q", raw)
		}
		envName := "PYTHORIX_OIDC_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		p := OIDCProviderConfig{Name: name, Issuer: lookup(envName + "_ISSUER"), ClientID: lookup(envName + "_CLIENT_ID"),
			ClientSecret: secret.New(lookup(envName + "_CLIENT_SECRET")), Scopes: []string{"openid", "email", "profile"}}
		if s := lookup(envName + "_SCOPES"); s != "" {
			p.Scopes = strings.Fields(s)
		}
		if u, err := url.Parse(p.Issuer); err != nil || u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			return fmt.Errorf("%s_ISSUER must be an https URL", envName)
		}
		if p.ClientID == "" {
			return fmt.Errorf("%s_CLIENT_ID is required", envName)
		}
		c.Providers = append(c.Providers, p)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}
