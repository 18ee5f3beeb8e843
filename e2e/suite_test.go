package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pythorix/pythorix/platform/config"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/platform/server"
	"github.com/pythorix/pythorix/platform/server/servertest"
	"github.com/pythorix/pythorix/services/audit"
	"github.com/pythorix/pythorix/services/gateway"
	"github.com/pythorix/pythorix/services/identity"
	"github.com/pythorix/pythorix/services/integrations"
	"github.com/pythorix/pythorix/services/scanning"
	"github.com/pythorix/pythorix/services/tenancy"
)

// Suite is a running Pythorix: five services and the gateway.
type Suite struct {
	URL    string
	PKI    string
	Client *http.Client
}

var serviceOptions = map[string]func(config.Service) server.Options{
	"identity": identity.Options, "tenancy": tenancy.Options, "scanning": scanning.Options,
	"audit": audit.Options, "integrations": integrations.Options,
}

// StartSuite starts every service in-process on loopback, each with its own
// database, and the gateway in front of them.
func StartSuite(t *testing.T) *Suite {
	t.Helper()
	dir := servertest.PKI(t)
	env := map[string]string{"PYTHORIX_DATA_DIR": t.TempDir(), "PYTHORIX_CERT_RELOAD_INTERVAL": "100ms",
		"PYTHORIX_TLS_CERT": pki.ServicePaths(dir, "gateway").Cert, "PYTHORIX_TLS_KEY": pki.ServicePaths(dir, "gateway").Key,
		"PYTHORIX_TLS_CA": pki.CAPath(dir), "PYTHORIX_GATEWAY_TLS_CERT": pki.GatewayHTTPSPaths(dir).Cert,
		"PYTHORIX_GATEWAY_TLS_KEY": pki.GatewayHTTPSPaths(dir).Key, "PYTHORIX_MAX_BODY_BYTES": "65536"}
	for name, options := range serviceOptions {
		migrations := options(config.Service{Name: name}).Migrations
		cfg := servertest.Config(t, name, dir, migrations)
		srv := servertest.Start(t, cfg, options(cfg))
		env["PYTHORIX_"+strings.ToUpper(name)+"_ADDR"] = srv.Addr().String()
	}
	cfg, err := gateway.LoadConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw, err := gateway.New(ctx, cfg, gateway.Options{Listener: lis, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("gateway: %v", err)
		}
	})
	pem, err := os.ReadFile(pki.CAPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	s := &Suite{
		URL: "https://localhost:" + port,
		PKI: dir,
		Client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		}},
	}
	s.waitReady(t)
	return s
}

func (s *Suite) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := s.Client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("suite never became ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
