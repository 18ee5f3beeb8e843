package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/pythorix/pythorix/platform/pgtest"
	"github.com/pythorix/pythorix/platform/pki"
	"github.com/pythorix/pythorix/platform/server/servertest"
	"github.com/pythorix/pythorix/services/audit"
	"github.com/pythorix/pythorix/services/identity"
	"github.com/pythorix/pythorix/services/integrations"
	"github.com/pythorix/pythorix/services/scanning"
	"github.com/pythorix/pythorix/services/tenancy"
)

// The binaries `make run` starts, by service name.
var binaries = map[string]string{
	"identity":     "github.com/pythorix/pythorix/services/identity/cmd/pythorix-identity",
	"tenancy":      "github.com/pythorix/pythorix/services/tenancy/cmd/pythorix-tenancy",
	"scanning":     "github.com/pythorix/pythorix/services/scanning/cmd/pythorix-scanning",
	"audit":        "github.com/pythorix/pythorix/services/audit/cmd/pythorix-audit",
	"integrations": "github.com/pythorix/pythorix/services/integrations/cmd/pythorix-integrations",
	"gateway":      "github.com/pythorix/pythorix/services/gateway/cmd/pythorix-gateway",
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildBinaries builds every service binary once per test process.
func buildBinaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "pythorix-bin-"); buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + "/"}
		for _, pkg := range binaries {
			args = append(args, pkg)
		}
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// process is one running binary of a process suite.
type process struct {
	name, bin, log string
	env            []string
	mu             sync.Mutex
	cmd            *exec.Cmd
	done           chan struct{}
}

func (p *process) start(t testing.TB) {
	t.Helper()
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p.bin)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("%s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
}

// signal sends sig and waits up to grace for the process to exit, then kills it.
func (p *process) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// kill ends the process at once (SIGKILL): no shutdown code runs.
func (p *process) kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// proc reads a file of the running process's /proc directory.
func (p *process) proc(name string) ([]byte, error) {
	p.mu.Lock()
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	return os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
}

// memory reads the process's resident set and its peak, in bytes.
func (p *process) memory() (rss, peak int64) {
	b, err := p.proc("status")
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	return rss, peak
}

// tail is the end of the process's log, after its first unexpected errors.
// cpu reads the CPU time the process has used so far (user and system).
func (p *process) cpu() time.Duration {
	b, err := p.proc("stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses: utime and
	// stime are the 12th and 13th, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var failed []string
	for _, l := range lines {
		if strings.Contains(l, `"operation failed"`) && len(failed) < 10 {
			failed = append(failed, l)
		}
	}
	return strings.Join(append(failed, lines[max(0, len(lines)-10):]...), "\n")
}

// ProcessOptions adjust a process suite.
type ProcessOptions struct {
	// Env is added to every process's environment.
	Env map[string]string
	// AdminURL is the PostgreSQL server the services' databases live on
	// (default: the test server).
	AdminURL string
	// Database rewrites the database URL each service is given (through a proxy).
	Database func(url string) string
}

// StartProcesses runs the suite as `make run` does: each service and the
// gateway is its own process, built from its cmd/ package and configured
// through its environment only, with its own database, the test Redis, a
// real SMTP server and mTLS between them. The Suite it returns drives the
// gateway; the processes are returned by name for faults and measurements.
func StartProcesses(t testing.TB, po ...ProcessOptions) (*Suite, map[string]*process) {
	t.Helper()
	bin := buildBinaries(t)
	dir := servertest.PKI(t)
	s := &Suite{PKI: dir, Mail: startMailbox(t, dir), databases: map[string]string{}}
	free := func() string {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer lis.Close()
		return lis.Addr().String()
	}
	auditKey, _, err := note.GenerateKey(rand.Reader, "pythorix-audit-test")
	if err != nil {
		t.Fatal(err)
	}
	gw := free()
	_, port, _ := net.SplitHostPort(gw)
	s.URL = "https://localhost:" + port
	common := map[string]string{
		"PATH": os.Getenv("PATH"), "REDIS_URL": pgtest.RedisURL(t), "PYTHORIX_REDIS_NAMESPACE": servertest.Namespace(t),
		"PYTHORIX_TLS_CA": pki.CAPath(dir), "PYTHORIX_LOG_LEVEL": "warn", "PYTHORIX_CERT_RELOAD_INTERVAL": "100ms",
		"PYTHORIX_JWT_KEYS": "k1:" + randomKey(), "PYTHORIX_KEK": "kek1:" + randomKey(),
		"PYTHORIX_IDENTITY_PEPPER": randomKey(), "PYTHORIX_CSRF_KEY": randomKey(), "PYTHORIX_AUDIT_SIGNING_KEY": auditKey,
		"PYTHORIX_SMTP_ADDR": s.Mail.Addr, "PYTHORIX_SMTP_CA_FILE": pki.CAPath(dir), "PYTHORIX_MAIL_FROM": "Pythorix <no-reply@pythorix.test>",
		"PYTHORIX_PUBLIC_URL": s.URL, "PYTHORIX_EGRESS_ALLOW_CIDRS": "127.0.0.0/8", "PYTHORIX_EGRESS_CA_FILE": pki.CAPath(dir),
		"PYTHORIX_GATEWAY_ADDR": gw, "PYTHORIX_GATEWAY_TLS_CERT": pki.GatewayHTTPSPaths(dir).Cert,
		"PYTHORIX_GATEWAY_TLS_KEY": pki.GatewayHTTPSPaths(dir).Key,
		"PYTHORIX_RATE_LIMIT_IP":   "1000000", "PYTHORIX_RATE_LIMIT_PRINCIPAL": "1000000",
	}
	migrations := map[string]fs.FS{"identity": identity.Migrations(), "tenancy": tenancy.Migrations(),
		"scanning": scanning.Migrations(), "audit": audit.Migrations(), "integrations": integrations.Migrations()}
	for name := range migrations {
		common["PYTHORIX_"+strings.ToUpper(name)+"_ADDR"] = free()
	}
	var opts ProcessOptions
	for _, o := range po {
		for k, v := range o.Env {
			common[k] = v
		}
		if o.AdminURL != "" {
			opts.AdminURL = o.AdminURL
		}
		if o.Database != nil {
			opts.Database = o.Database
		}
	}
	logs := t.TempDir()
	procs := map[string]*process{}
	for name, pkg := range binaries {
		env := map[string]string{"PYTHORIX_DATA_DIR": t.TempDir(),
			"PYTHORIX_TLS_CERT": pki.ServicePaths(dir, name).Cert, "PYTHORIX_TLS_KEY": pki.ServicePaths(dir, name).Key}
		for k, v := range common {
			env[k] = v
		}
		if m, ok := migrations[name]; ok {
			if opts.AdminURL != "" {
				env["DATABASE_URL"] = pgtest.ServiceDatabaseOn(t, opts.AdminURL, m)
			} else {
				env["DATABASE_URL"] = pgtest.ServiceDatabase(t, m)
			}
			env["PYTHORIX_GRPC_ADDR"] = env["PYTHORIX_"+strings.ToUpper(name)+"_ADDR"]
			s.databases[name] = env["DATABASE_URL"]
			if opts.Database != nil {
				env["DATABASE_URL"] = opts.Database(env["DATABASE_URL"])
			}
		}
		p := &process{name: name, bin: filepath.Join(bin, filepath.Base(pkg)), log: filepath.Join(logs, name+".log")}
		for k, v := range env {
			p.env = append(p.env, k+"="+v)
		}
		procs[name] = p
		p.start(t)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, p := range procs {
			wg.Add(1)
			go func() { defer wg.Done(); p.signal(syscall.SIGTERM, 10*time.Second) }()
		}
		wg.Wait()
		if t.Failed() {
			for _, p := range procs {
				t.Logf("%s log:\n%s", p.name, p.tail())
			}
		}
	})
	pem, err := os.ReadFile(pki.CAPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	s.roots = x509.NewCertPool()
	s.roots.AppendCertsFromPEM(pem)
	s.Client = s.client()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		resp, err := s.Client.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, procs
			}
		}
		for _, p := range procs {
			if p.exited() {
				t.Fatalf("%s exited at start:\n%s", p.name, p.tail())
			}
		}
		select {
		case <-ctx.Done():
			for _, p := range procs {
				t.Logf("%s log:\n%s", p.name, p.tail())
			}
			t.Fatalf("the processes never became ready: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestBinaries runs each service and the gateway as its own process, wired
// only through the environment as `make run` and the Helm chart wire them,
// and takes a user from signup to an audited organisation through them.
func TestBinaries(t *testing.T) {
	t.Parallel()
	s, procs := StartProcesses(t)
	s.signup(t, "binaries@example.com", goodPassword)
	tok, _ := s.login(t, "binaries@example.com", goodPassword)
	code, out := s.req(t, "POST", "/v1/orgs", map[string]any{"name": "Binaries"}, tok, "")
	if code != 200 {
		t.Fatalf("create org: %d %v", code, out)
	}
	org := out["org"].(map[string]any)["id"].(string)
	if code, out := s.req(t, "POST", "/v1/assets", map[string]any{"host": "binaries.example.com", "kind": "ASSET_KIND_WEB_APP",
		"environment": "ENVIRONMENT_PRODUCTION"}, tok, org); code != 200 {
		t.Fatalf("create asset: %d %v", code, out)
	}
	if code, out := s.req(t, "POST", "/v1/integrations", map[string]any{"name": "hook", "kind": "INTEGRATION_KIND_WEBHOOK",
		"webhook": map[string]any{"url": "https://example.com/hook"}}, tok, org); code != 200 {
		t.Fatalf("create integration: %d %v", code, out)
	}
	waitFor(t, "the org's audit events", 30*time.Second, func() bool {
		_, out := s.req(t, "GET", "/v1/audit/events?pageSize=10", nil, tok, org)
		return len(asList(out["events"])) >= 3
	})
	if code, v := s.req(t, "GET", "/v1/audit/verify", nil, tok, org); code != 200 || v["ok"] != true {
		t.Fatalf("verify: %d %v", code, v)
	}
	// A service killed outright comes back on its address, and the gateway with it.
	procs["tenancy"].kill()
	procs["tenancy"].start(t)
	waitFor(t, "tenancy back", 30*time.Second, func() bool {
		code, _ := s.req(t, "GET", "/v1/orgs/"+org, nil, tok, org)
		return code == 200
	})
}
