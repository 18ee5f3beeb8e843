package gateway

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/pythorix/pythorix/platform/mtls"
	"github.com/pythorix/pythorix/platform/secret"
)

// Config is the gateway's configuration, read from the environment.
type Config struct {
	Addr    string `env:"PYTHORIX_GATEWAY_ADDR" envDefault:"127.0.0.1:8443"`
	DataDir string `env:"PYTHORIX_DATA_DIR" envDefault:".data"`
	// HTTPS certificate presented to REST clients (not a SPIFFE certificate).
	HTTPSCert string `env:"PYTHORIX_GATEWAY_TLS_CERT"`
	HTTPSKey  string `env:"PYTHORIX_GATEWAY_TLS_KEY"`
	// The gateway's own SPIFFE certificate for mTLS to the services.
	TLS                mtls.Files    `envPrefix:"PYTHORIX_TLS_"`
	TrustDomain        string        `env:"PYTHORIX_TRUST_DOMAIN" envDefault:"pythorix.local"`
	CertReloadInterval time.Duration `env:"PYTHORIX_CERT_RELOAD_INTERVAL" envDefault:"5s"`

	IdentityAddr     string `env:"PYTHORIX_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	TenancyAddr      string `env:"PYTHORIX_TENANCY_ADDR" envDefault:"127.0.0.1:9102"`
	ScanningAddr     string `env:"PYTHORIX_SCANNING_ADDR" envDefault:"127.0.0.1:9103"`
	AuditAddr        string `env:"PYTHORIX_AUDIT_ADDR" envDefault:"127.0.0.1:9104"`
	IntegrationsAddr string `env:"PYTHORIX_INTEGRATIONS_ADDR" envDefault:"127.0.0.1:9105"`

	RedisURL       secret.String `env:"REDIS_URL"`
	RedisNamespace string        `env:"PYTHORIX_REDIS_NAMESPACE" envDefault:"pythorix"`
	// AuthCacheTTL bounds how long a verified credential is trusted without
	// asking identity again; revocations evict entries at once regardless.
	AuthCacheTTL time.Duration `env:"PYTHORIX_AUTH_CACHE_TTL" envDefault:"30s"`

	MaxBodyBytes int64 `env:"PYTHORIX_MAX_BODY_BYTES" envDefault:"1048576"`
	// RateIP and RatePrincipal are requests per minute per client address
	// and per credential (GCRA in Redis, bursts of a sixth).
	RateIP        int `env:"PYTHORIX_RATE_LIMIT_IP" envDefault:"600"`
	RatePrincipal int `env:"PYTHORIX_RATE_LIMIT_PRINCIPAL" envDefault:"1200"`
	// CSRFKeyText keys the CSRF tokens of browser sessions (base64 of at
	// least 32 bytes; every replica needs the same one).
	CSRFKeyText secret.String `env:"PYTHORIX_CSRF_KEY"`
	CSRFKey     []byte        `env:"-"`
	// CORSSessionOrigins are the exact origins (the operator's web apps) that
	// may call with the session cookie, credentials included.
	CORSSessionOrigins string `env:"PYTHORIX_CORS_SESSION_ORIGINS"`
	// MetricsAddr serves Prometheus metrics at /metrics (empty: off).
	MetricsAddr string `env:"PYTHORIX_METRICS_ADDR"`
	// MaxHeaders bounds the header fields of a request.
	MaxHeaders      int           `env:"PYTHORIX_MAX_HEADERS" envDefault:"100"`
	RequestTimeout  time.Duration `env:"PYTHORIX_REQUEST_TIMEOUT" envDefault:"30s"`
	ShutdownTimeout time.Duration `env:"PYTHORIX_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	LogLevelName    string        `env:"PYTHORIX_LOG_LEVEL" envDefault:"info"`
}

// LoadConfig reads and validates the gateway configuration; environ nil
// means the process environment.
func LoadConfig(environ map[string]string) (Config, error) {
	var cfg Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return Config{}, fmt.Errorf("gateway config: %w", err)
	}
	pki := filepath.Join(cfg.DataDir, "pki")
	def := func(p *string, name string) {
		if *p == "" {
			*p = filepath.Join(pki, name)
		}
	}
	def(&cfg.HTTPSCert, "gateway-https.crt")
	def(&cfg.HTTPSKey, "gateway-https.key")
	def(&cfg.TLS.Cert, "gateway.crt")
	def(&cfg.TLS.Key, "gateway.key")
	def(&cfg.TLS.CA, "ca.crt")
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	if !cfg.CSRFKeyText.IsZero() {
		cfg.CSRFKey, _ = base64.StdEncoding.DecodeString(cfg.CSRFKeyText.Reveal())
	}
	return cfg, nil
}

// Validate names every setting that is wrong.
func (c Config) Validate() error {
	var errs []error
	for name, addr := range c.upstreams() {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("upstream %s address %q: %w", name, addr, err))
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("PYTHORIX_GATEWAY_ADDR %q: %w", c.Addr, err))
	}
	if c.RedisURL.IsZero() {
		errs = append(errs, errors.New("REDIS_URL is required"))
	}
	if c.AuthCacheTTL <= 0 || c.AuthCacheTTL > 5*time.Minute {
		errs = append(errs, errors.New("PYTHORIX_AUTH_CACHE_TTL must be within (0, 5m]"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxBodyBytes > 64<<20 {
		errs = append(errs, errors.New("PYTHORIX_MAX_BODY_BYTES must be within 1 KiB..64 MiB"))
	}
	if !c.CSRFKeyText.IsZero() {
		if k, err := base64.StdEncoding.DecodeString(c.CSRFKeyText.Reveal()); err != nil || len(k) < 32 {
			errs = append(errs, errors.New("PYTHORIX_CSRF_KEY must be base64 of at least 32 bytes"))
		}
	}
	for _, o := range splitOrigins(c.CORSSessionOrigins) {
		if !validOrigin(o) {
			errs = append(errs, fmt.Errorf("PYTHORIX_CORS_SESSION_ORIGINS: %q is not scheme://host[:port]", o))
		}
	}
	if c.RateIP < 1 || c.RatePrincipal < 1 || c.RateIP > 1e6 || c.RatePrincipal > 1e6 {
		errs = append(errs, errors.New("PYTHORIX_RATE_LIMIT_IP and PYTHORIX_RATE_LIMIT_PRINCIPAL must be within 1..1000000 per minute"))
	}
	if c.MaxHeaders < 16 || c.MaxHeaders > 1000 {
		errs = append(errs, errors.New("PYTHORIX_MAX_HEADERS must be within 16..1000"))
	}
	if c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0 || c.CertReloadInterval <= 0 {
		errs = append(errs, errors.New("PYTHORIX_REQUEST_TIMEOUT, PYTHORIX_SHUTDOWN_TIMEOUT and PYTHORIX_CERT_RELOAD_INTERVAL must be positive"))
	}
	if err := new(slog.Level).UnmarshalText([]byte(c.LogLevelName)); err != nil {
		errs = append(errs, fmt.Errorf("PYTHORIX_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevelName))
	}
	if len(errs) > 0 {
		return fmt.Errorf("gateway config: %w", errors.Join(errs...))
	}
	return nil
}

// LogLevel is the parsed PYTHORIX_LOG_LEVEL.
func (c Config) LogLevel() slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.LogLevelName))
	return l
}

func (c Config) upstreams() map[string]string {
	return map[string]string{
		"identity": c.IdentityAddr, "tenancy": c.TenancyAddr, "scanning": c.ScanningAddr,
		"audit": c.AuditAddr, "integrations": c.IntegrationsAddr,
	}
}
