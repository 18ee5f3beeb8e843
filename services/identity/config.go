package identity

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/pythorix/pythorix/platform/mail"
	"github.com/pythorix/pythorix/platform/secret"
)

// Config is what identity reads beyond the common service configuration.
type Config struct {
	// JWTKeys signs access tokens: "kid:base64key,..." (32+ bytes each); the
	// first signs, all verify, so a rotation logs nobody out.
	JWTKeys  secret.String `env:"PYTHORIX_JWT_KEYS"`
	Issuer   string        `env:"PYTHORIX_JWT_ISSUER" envDefault:"pythorix"`
	Audience string        `env:"PYTHORIX_JWT_AUDIENCE" envDefault:"pythorix-api"`
	TokenTTL time.Duration `env:"PYTHORIX_ACCESS_TOKEN_TTL" envDefault:"24h"`
	// SessionIdleTimeout ends a session that has not been used for this long;
	// TokenTTL stays its absolute lifetime.
	SessionIdleTimeout time.Duration `env:"PYTHORIX_SESSION_IDLE_TIMEOUT" envDefault:"30m"`
	// MaxSessions caps a user's live sessions: a sign-in beyond it ends the
	// least recently used one.
	MaxSessions int `env:"PYTHORIX_MAX_SESSIONS_PER_USER" envDefault:"20"`
	// KEK wraps the data keys of secrets at rest (TOTP seeds): "kid:base64key,...".
	KEK secret.String `env:"PYTHORIX_KEK"`
	// Pepper keys the hashes of email codes, backup codes and API key secrets.
	Pepper secret.String `env:"PYTHORIX_IDENTITY_PEPPER"`
	Mail   mail.Config
	// PublicURL is where users reach the gateway (links in mail, OIDC redirects).
	PublicURL string `env:"PYTHORIX_PUBLIC_URL" envDefault:"https://localhost:8443"`
	OIDC      OIDCConfig
}

// LoadConfig reads identity's settings; environ nil means the process environment.
func LoadConfig(environ map[string]string) (Config, error) {
	var cfg Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return Config{}, fmt.Errorf("identity config: %w", err)
	}
	if cfg.Mail.Dir == "" && cfg.Mail.SMTPAddr == "" {
		cfg.Mail.Dir = ".data/mail"
	}
	lookup := os.Getenv
	if environ != nil {
		lookup = func(k string) string { return environ[k] }
	}
	var errs []error
	if err := cfg.OIDC.load(lookup); err != nil {
		errs = append(errs, err)
	}
	if cfg.JWTKeys.IsZero() {
		errs = append(errs, errors.New("PYTHORIX_JWT_KEYS is required"))
	}
	if cfg.KEK.IsZero() {
		errs = append(errs, errors.New("PYTHORIX_KEK is required"))
	}
	if len(cfg.Pepper.Reveal()) < 32 {
		errs = append(errs, errors.New("PYTHORIX_IDENTITY_PEPPER must be at least 32 characters"))
	}
	if cfg.TokenTTL < time.Minute || cfg.TokenTTL > 24*time.Hour {
		errs = append(errs, errors.New("PYTHORIX_ACCESS_TOKEN_TTL must be within 1m..24h"))
	}
	errs = append(errs, cfg.sessionErrors()...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("identity config: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// Session policy defaults and bounds. The idle limit must exceed what the
// recorded last use can lag behind the real one: the write throttle
// (touchEvery) plus the gateway's credential cache (PYTHORIX_AUTH_CACHE_TTL,
// at most 5m), or a busy session could be ended as idle.
const (
	DefaultSessionIdleTimeout = 30 * time.Minute
	DefaultMaxSessions        = 20
	minSessionIdleTimeout     = 10 * time.Minute
	maxMaxSessions            = 1000
)

// sessionErrors names the session settings out of bounds.
func (c Config) sessionErrors() []error {
	var errs []error
	if c.SessionIdleTimeout < minSessionIdleTimeout || c.SessionIdleTimeout > 24*time.Hour {
		errs = append(errs, errors.New("PYTHORIX_SESSION_IDLE_TIMEOUT must be within 10m..24h"))
	}
	if c.MaxSessions < 1 || c.MaxSessions > maxMaxSessions {
		errs = append(errs, errors.New("PYTHORIX_MAX_SESSIONS_PER_USER must be within 1..1000"))
	}
	return errs
}

// withSessionDefaults fills the session settings a configuration built in
// code left zero (LoadConfig always sets them).
func (c Config) withSessionDefaults() Config {
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = DefaultSessionIdleTimeout
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	return c
}
