package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/pythorix/pythorix/platform/mtls"
	"github.com/pythorix/pythorix/platform/secret"
)

// DefaultGRPCPorts are the local ports of the suite's gRPC services.
var DefaultGRPCPorts = map[string]int{
	"identity": 9101, "tenancy": 9102, "scanning": 9103, "audit": 9104, "integrations": 9105,
}

// Service is what every gRPC service of the suite reads from its environment.
type Service struct {
	// Name is the service's name (identity, tenancy, ...); set by its main, not the environment.
	Name string `env:"-"`

	GRPCAddr    string        `env:"PYTHORIX_GRPC_ADDR"`
	DatabaseURL secret.String `env:"DATABASE_URL"`
	RedisURL    secret.String `env:"REDIS_URL"`
	// RedisNamespace prefixes every Redis key and channel, so several
	// deployments (or test suites) can share one Redis.
	RedisNamespace string `env:"PYTHORIX_REDIS_NAMESPACE" envDefault:"pythorix"`
	DataDir        string `env:"PYTHORIX_DATA_DIR" envDefault:".data"`

	TrustDomain        string        `env:"PYTHORIX_TRUST_DOMAIN" envDefault:"pythorix.local"`
	TLS                mtls.Files    `envPrefix:"PYTHORIX_TLS_"`
	CertReloadInterval time.Duration `env:"PYTHORIX_CERT_RELOAD_INTERVAL" envDefault:"5s"`
	// PrincipalAssertors are the services whose calls may carry an end user's
	// principal; only they may call non-internal RPCs.
	PrincipalAssertors []string `env:"PYTHORIX_PRINCIPAL_ASSERTORS" envDefault:"gateway" envSeparator:","`

	// Peer services this one calls (membership checks go to tenancy).
	TenancyAddr  string `env:"PYTHORIX_TENANCY_ADDR" envDefault:"127.0.0.1:9102"`
	IdentityAddr string `env:"PYTHORIX_IDENTITY_ADDR" envDefault:"127.0.0.1:9101"`
	// IntegrationsAddr receives the events a service publishes (scanning).
	IntegrationsAddr string `env:"PYTHORIX_INTEGRATIONS_ADDR" envDefault:"127.0.0.1:9105"`
	// AuditAddr receives the service's audit outbox.
	AuditAddr string `env:"PYTHORIX_AUDIT_ADDR" envDefault:"127.0.0.1:9104"`
	// MembershipCacheTTL bounds how long a resolved role is reused; changes
	// evict it at once through Redis.
	MembershipCacheTTL time.Duration `env:"PYTHORIX_MEMBERSHIP_CACHE_TTL" envDefault:"30s"`

	// HealthAddr serves the gRPC health service alone, in plaintext, for
	// probes that cannot present a client certificate (the kubelet's gRPC
	// probe); empty: off. It reports the same status as the main listener.
	HealthAddr string `env:"PYTHORIX_HEALTH_ADDR"`
	// MetricsAddr serves Prometheus metrics at /metrics (empty: off).
	MetricsAddr string `env:"PYTHORIX_METRICS_ADDR"`

	LogLevelName string     `env:"PYTHORIX_LOG_LEVEL" envDefault:"info"`
	LogLevel     slog.Level `env:"-"`
	// ShutdownDelay is how long health reports NOT_SERVING before draining, so
	// load balancers stop sending new calls first.
	ShutdownDelay time.Duration `env:"PYTHORIX_SHUTDOWN_DELAY" envDefault:"2s"`
	// ShutdownTimeout bounds the graceful drain; then connections are closed.
	ShutdownTimeout time.Duration `env:"PYTHORIX_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	DBMaxConns      int32         `env:"PYTHORIX_DB_MAX_CONNS" envDefault:"20"`
	// DatabaseMigrationURL is the owner's connection for migrations; empty
	// means DATABASE_URL.
	DatabaseMigrationURL secret.String `env:"DATABASE_MIGRATION_URL"`
	// DBRole is the role every pooled connection switches to (SET ROLE); it
	// must not own the tables. Empty when the login role already is that role.
	DBRole string `env:"PYTHORIX_DB_ROLE" envDefault:"pythorix_app"`
}

// LoadService reads a service's configuration from the environment, fills in
// the defaults that depend on its name, and validates it.
func LoadService(name string) (Service, error) {
	return LoadServiceFrom(name, nil)
}

// LoadServiceFrom is LoadService over an explicit environment (nil means the
// process environment); tests use it.
func LoadServiceFrom(name string, environ map[string]string) (Service, error) {
	cfg := Service{Name: name}
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&cfg, opts); err != nil {
		return Service{}, fmt.Errorf("config: %w", namedParseErrors(err))
	}
	cfg.applyDefaults()
	if err := cfg.Validate(); err != nil {
		return Service{}, err
	}
	_ = cfg.LogLevel.UnmarshalText([]byte(cfg.LogLevelName))
	return cfg, nil
}

func (c *Service) applyDefaults() {
	if c.GRPCAddr == "" {
		if port, ok := DefaultGRPCPorts[c.Name]; ok {
			c.GRPCAddr = fmt.Sprintf("127.0.0.1:%d", port)
		}
	}
	pki := filepath.Join(c.DataDir, "pki")
	if c.TLS.Cert == "" {
		c.TLS.Cert = filepath.Join(pki, c.Name+".crt")
	}
	if c.TLS.Key == "" {
		c.TLS.Key = filepath.Join(pki, c.Name+".key")
	}
	if c.TLS.CA == "" {
		c.TLS.CA = filepath.Join(pki, "ca.crt")
	}
}

// Validate names every variable that is missing or malformed.
func (c Service) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("service name is empty"))
	}
	if _, _, err := net.SplitHostPort(c.GRPCAddr); err != nil {
		errs = append(errs, fmt.Errorf("PYTHORIX_GRPC_ADDR %q: %w", c.GRPCAddr, err))
	}
	if c.DatabaseURL.IsZero() {
		errs = append(errs, errors.New("DATABASE_URL is required"))
	}
	if c.RedisURL.IsZero() {
		errs = append(errs, errors.New("REDIS_URL is required"))
	}
	if err := new(slog.Level).UnmarshalText([]byte(c.LogLevelName)); err != nil {
		errs = append(errs, fmt.Errorf("PYTHORIX_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevelName))
	}
	if !redisNamespace.MatchString(c.RedisNamespace) {
		errs = append(errs, errors.New("PYTHORIX_REDIS_NAMESPACE must match [a-z0-9_-]{1,32}"))
	}
	if c.TrustDomain == "" {
		errs = append(errs, errors.New("PYTHORIX_TRUST_DOMAIN is empty"))
	}
	if c.CertReloadInterval <= 0 {
		errs = append(errs, errors.New("PYTHORIX_CERT_RELOAD_INTERVAL must be positive"))
	}
	if c.ShutdownTimeout <= 0 || c.ShutdownDelay < 0 {
		errs = append(errs, errors.New("PYTHORIX_SHUTDOWN_TIMEOUT must be positive and PYTHORIX_SHUTDOWN_DELAY not negative"))
	}
	if c.DBMaxConns < 1 || c.DBMaxConns > 1000 {
		errs = append(errs, errors.New("PYTHORIX_DB_MAX_CONNS must be within 1..1000"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

var redisNamespace = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// namedParseErrors rewrites the library's parse errors, which name Go fields,
// so that they name the environment variable an operator has to fix.
func namedParseErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeFor[Service]()
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				out = append(out, fmt.Errorf("%s: %w", name, pe.Err))
				continue
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
