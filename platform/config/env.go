package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads a service's own settings from the environment, collecting
// every bad value (each error names its variable) instead of stopping at
// the first.
type Env struct {
	Errs []error
}

// Err is every bad value met, joined.
func (e *Env) Err() error { return errors.Join(e.Errs...) }

// Int reads a whole number from 1 to 10000.
func (e *Env) Int(name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		e.Errs = append(e.Errs, fmt.Errorf("%s: must be a whole number from 1 to 10000", name))
		return def
	}
	return n
}

// Duration reads a duration from 0s to max.
func (e *Env) Duration(name string, def, max time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > max {
		e.Errs = append(e.Errs, fmt.Errorf("%s: must be a duration from 0s to %s", name, max))
		return def
	}
	return d
}

// List reads a comma-separated list, blanks dropped.
func (e *Env) List(name string) []string {
	var out []string
	for _, s := range strings.Split(os.Getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// CertPool reads a PEM bundle named by the variable (nil when unset).
func (e *Env) CertPool(name string) *x509.CertPool {
	f := os.Getenv(name)
	if f == "" {
		return nil
	}
	pem, err := os.ReadFile(f)
	if err != nil {
		e.Errs = append(e.Errs, fmt.Errorf("%s: %w", name, err))
		return nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		e.Errs = append(e.Errs, fmt.Errorf("%s holds no PEM certificate", name))
		return nil
	}
	return pool
}
