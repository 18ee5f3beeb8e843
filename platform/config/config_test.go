package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pythorix/pythorix/platform/config"
)

func TestLoadService(t *testing.T) {
	t.Parallel()
	base := map[string]string{
		"DATABASE_URL": "postgres://u:topsecret@db/identity",
		"REDIS_URL":    "redis://:alsosecret@cache:6379/0",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "defaults", env: base},
		{name: "missing database", env: map[string]string{"REDIS_URL": "redis://x"}, wantErr: "DATABASE_URL is required"},
		{name: "missing redis", env: map[string]string{"DATABASE_URL": "postgres://x"}, wantErr: "REDIS_URL is required"},
		{name: "bad address", env: with("PYTHORIX_GRPC_ADDR", "nonsense"), wantErr: "PYTHORIX_GRPC_ADDR"},
		{name: "bad duration", env: with("PYTHORIX_CERT_RELOAD_INTERVAL", "soon"), wantErr: "PYTHORIX_CERT_RELOAD_INTERVAL"},
		{name: "bad level", env: with("PYTHORIX_LOG_LEVEL", "chatty"), wantErr: "PYTHORIX_LOG_LEVEL"},
		{name: "pool bounds", env: with("PYTHORIX_DB_MAX_CONNS", "0"), wantErr: "PYTHORIX_DB_MAX_CONNS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.LoadServiceFrom("identity", tc.env)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.GRPCAddr != "127.0.0.1:9101" || cfg.TLS.Cert != ".data/pki/identity.crt" || cfg.TLS.CA != ".data/pki/ca.crt" {
				t.Fatalf("defaults not applied: %+v", cfg)
			}
			if printed := fmt.Sprintf("%+v", cfg); strings.Contains(printed, "topsecret") || strings.Contains(printed, "alsosecret") {
				t.Fatalf("printing the config leaks a secret: %s", printed)
			}
		})
	}
}
