// Package scanner runs one read-only posture scan of a web target: a few
// TLS handshakes (package tlsprobe), the HTTPS and plain-HTTP redirect
// chains, and a handful of GETs for exposed files and security.txt. The
// Observatory's tests (package observatory) grade the headers; the TLS
// probe caps the grade.
//
// Every connection goes through the egress guard, and the HTTP client is
// read-only by construction (egress.ClientOptions.ReadOnly): only GET
// leaves this package, with the scanner's User-Agent, one request at a time
// and a politeness delay between two requests to the target.
package scanner

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/pythorix/pythorix/platform/egress"
	"github.com/pythorix/pythorix/platform/redact"
	"github.com/pythorix/pythorix/services/scanning/finding"
	"github.com/pythorix/pythorix/services/scanning/observatory"
	"github.com/pythorix/pythorix/services/scanning/tlsprobe"
)

// Target is what one scan looks at: a host name or IP literal with an
// optional :port (443 by default) and a path.
type Target struct {
	Host string
	Path string
}

// Options configure a Scanner.
type Options struct {
	// Guard decides which addresses the scanner may reach (required).
	Guard *egress.Guard
	// RootCAs replaces the system roots (private deployments, tests).
	RootCAs *x509.CertPool
	// Delay is the politeness delay between two requests to the target.
	Delay time.Duration
	// Timeout bounds a whole scan (default 2 minutes).
	Timeout time.Duration
	// BodyLimit bounds the page body read for the HTML checks (default 1 MiB).
	BodyLimit int64
	// Now is the clock certificates are checked against (default time.Now).
	Now func() time.Time
	// Preloaded reports a host on the HSTS preload list (default: none).
	Preloaded func(host string) bool
	// HTTPPort is where the plain-HTTP side of a target listens (default 80).
	HTTPPort string
}

// Progress receives the share of a scan done, 0 to 100.
type Progress func(percent int)

// Finding is a finding with its fingerprint, ready to store.
type Finding struct {
	finding.Finding
	Fingerprint string
}

// Result is the outcome of one scan.
type Result struct {
	// Grade is the header grade capped by the TLS probe; Score is the
	// header score (not capped).
	Score int
	Grade string
	// Graded is false when the target gave no response to grade.
	Graded      bool
	HeaderScore int
	HeaderGrade string
	// Cap is the grade the TLS probe caps at ("" for none).
	Cap      string
	Tests    []observatory.Test
	Findings []Finding
	// Requests counts the HTTP requests and TLS handshakes sent to the target.
	Requests int
	TLS      *tlsprobe.Report
}

// ErrUnreachable means nothing answered on the target, over HTTPS or HTTP:
// worth a retry later.
var ErrUnreachable = errors.New("scanner: the target did not answer")

// Scanner scans targets; it is safe for concurrent use.
type Scanner struct {
	o        Options
	verified *http.Client
	any      *http.Client
}

const (
	requestTimeout = 10 * time.Second
	maxHops        = 5
	probeBody      = 64 << 10
	// sentOrigin is the Origin the scanner sends with the page request, to
	// see whether the site reflects an arbitrary origin with credentials.
	sentOrigin = "https://pythorix-origin-check.invalid"
)

// New returns a scanner.
func New(o Options) (*Scanner, error) {
	if o.Guard == nil {
		return nil, errors.New("scanner: an egress guard is required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = 1 << 20
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPPort == "" {
		o.HTTPPort = "80"
	}
	if p, err := strconv.Atoi(o.HTTPPort); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("scanner: HTTP port %q is not a port", o.HTTPPort)
	}
	c := egress.ClientOptions{ReadOnly: true, Timeout: requestTimeout, RootCAs: o.RootCAs}
	s := &Scanner{o: o, verified: o.Guard.Client(c)}
	c.SkipVerify = true
	s.any = o.Guard.Client(c)
	return s, nil
}

// run is the state of one scan.
type run struct {
	s        *Scanner
	host     string // host name or IP, lower case, no brackets
	port     int
	requests int
	paced    bool
	client   *http.Client
}

// Scan scans one target. It returns an error only when the scan could not
// be made (canceled, timed out, nothing answered); a site that answers
// badly is a result with findings.
func (s *Scanner) Scan(ctx context.Context, t Target, progress Progress) (*Result, error) {
	if progress == nil {
		progress = func(int) {}
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	host, port, err := splitHost(t.Host)
	if err != nil {
		return nil, err
	}
	path := t.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	// The first handshake goes out unpaced; every later request waits.
	r := &run{s: s, host: host, port: port, paced: true}

	tr, err := tlsprobe.Probe(ctx, host, port, tlsprobe.Options{Dial: s.o.Guard.DialContext, RootCAs: s.o.RootCAs,
		Now: s.o.Now, Timeout: requestTimeout, Pace: r.pace})
	if err != nil {
		return nil, err
	}
	progress(30)

	certValid := tr.Reachable && tr.Trusted && !tr.Expired && !tr.NameMismatch
	r.client = s.any
	if certValid {
		r.client = s.verified
	}
	var httpsChain []observatory.Response
	if tr.Reachable {
		httpsChain = r.chain(ctx, r.httpsURL(path), sentOrigin, s.o.BodyLimit)
	}
	progress(45)
	httpChain := r.chain(ctx, r.httpURL(path), "", probeBody)
	progress(55)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(httpsChain) == 0 && len(httpChain) == 0 {
		return nil, ErrUnreachable
	}

	in := observatory.Input{HTTPSChain: httpsChain, HTTPChain: httpChain, CertValid: certValid,
		SentOrigin: sentOrigin, Preloaded: s.o.Preloaded, Host: host}
	if n := len(httpsChain); n > 0 {
		in.Final = &httpsChain[n-1]
	}
	out := observatory.Evaluate(in)

	var found []finding.Finding
	found = append(found, tr.Findings...)
	found = append(found, out.Findings...)
	base := r.httpURL("")
	if len(httpsChain) > 0 {
		base = r.httpsURL("")
	}
	extra, err := r.probe(ctx, base, in, progress)
	if err != nil {
		return nil, err
	}
	found = append(found, extra...)

	res := &Result{HeaderScore: out.Score, HeaderGrade: out.Grade, Cap: tr.Cap, Tests: out.Tests,
		Requests: r.requests + tr.Handshakes, TLS: tr}
	res.Score, res.Grade, res.Graded = out.Score, Worse(out.Grade, tr.Cap), out.Grade != ""
	if !res.Graded && tr.Cap == "F" {
		// Nothing to grade on HTTPS because there is no HTTPS: that is the grade.
		res.Score, res.Grade, res.Graded = 0, "F", true
	}
	if !res.Graded {
		res.Grade = ""
	}
	res.Findings = prepare(found)
	progress(100)
	return res, nil
}

// prepare redacts, bounds and fingerprints findings, dropping repeats.
// Every field may carry the target's bytes (a resource URL, a security.txt
// value), so every field is made valid UTF-8 without NULs and redacted.
func prepare(list []finding.Finding) []Finding {
	out := make([]Finding, 0, len(list))
	seen := map[string]bool{}
	for _, f := range list {
		f.Location = redact.Text(f.Location, 2048)
		f.Subject = redact.Text(f.Subject, 512)
		f.Detail = redact.Text(f.Detail, 2048)
		f.Evidence = finding.Clean(f.Evidence)
		fp := finding.Fingerprint(f.CheckID, f.Location, f.Subject)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		out = append(out, Finding{Finding: f, Fingerprint: fp})
	}
	return out
}

// Grades lists the grades from best to worst.
var Grades = []string{"A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "D-", "F"}

// Worse returns the worse of two grades; "" stands for no grade or no cap.
func Worse(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	if slices.Index(Grades, a) >= slices.Index(Grades, b) {
		return a
	}
	return b
}

// GradeAtLeast reports whether grade is want or better.
func GradeAtLeast(grade, want string) bool {
	g, w := slices.Index(Grades, grade), slices.Index(Grades, want)
	return g >= 0 && w >= 0 && g <= w
}

func splitHost(h string) (string, int, error) {
	host, port := h, "443"
	if strings.HasPrefix(h, "[") || strings.Count(h, ":") == 1 {
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			return "", 0, fmt.Errorf("scanner: target %q: %w", h, err)
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 || host == "" {
		return "", 0, fmt.Errorf("scanner: target %q is not host[:port]", h)
	}
	return strings.ToLower(strings.Trim(host, "[]")), p, nil
}

func hostPort(host, port, def string) string {
	if port == def {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, port)
}

func (r *run) httpsURL(path string) string {
	return "https://" + hostPort(r.host, strconv.Itoa(r.port), "443") + path
}

func (r *run) httpURL(path string) string {
	return "http://" + hostPort(r.host, r.s.o.HTTPPort, "80") + path
}

// pace waits the politeness delay before every request but the first.
func (r *run) pace(ctx context.Context) error {
	if !r.paced || r.s.o.Delay <= 0 {
		r.paced = true
		return ctx.Err()
	}
	t := time.NewTimer(r.s.o.Delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// get sends one GET and reads at most limit bytes of the body.
func (r *run) get(ctx context.Context, client *http.Client, u, origin string, limit int64) (*observatory.Response, error) {
	if err := r.pace(ctx); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	r.requests++
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _, err := egress.ReadBody(resp.Body, limit)
	if err != nil && len(body) == 0 && !errors.Is(err, context.Canceled) {
		body = nil // a broken body still leaves the headers to grade
	}
	return &observatory.Response{URL: u, Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// chain follows redirects from start, at most maxHops of them, and only
// within the target's registrable domain: a grant covers the target, not
// wherever it points. Every hop is dialled through the guard again.
func (r *run) chain(ctx context.Context, start, origin string, limit int64) []observatory.Response {
	var out []observatory.Response
	u := start
	for range maxHops + 1 {
		client := r.client
		if strings.HasPrefix(u, "http://") {
			client = r.s.verified // no certificate on plain HTTP
		}
		resp, err := r.get(ctx, client, u, origin, limit)
		if err != nil {
			return out
		}
		out = append(out, *resp)
		next := r.redirect(resp)
		if next == "" {
			return out
		}
		u = next
	}
	return out
}

// redirect returns where a response redirects to, when the scan may follow.
func (r *run) redirect(resp *observatory.Response) string {
	if resp.Status < 300 || resp.Status > 399 {
		return ""
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return ""
	}
	base, err := url.Parse(resp.URL)
	if err != nil {
		return ""
	}
	next, err := base.Parse(loc)
	if err != nil || (next.Scheme != "http" && next.Scheme != "https") || !r.sameSite(next.Hostname()) {
		return ""
	}
	next.Fragment = ""
	return next.String()
}

func (r *run) sameSite(host string) bool {
	host = strings.ToLower(host)
	if host == r.host {
		return true
	}
	if net.ParseIP(host) != nil || net.ParseIP(r.host) != nil {
		return false
	}
	a, err1 := publicsuffix.EffectiveTLDPlusOne(host)
	b, err2 := publicsuffix.EffectiveTLDPlusOne(r.host)
	return err1 == nil && err2 == nil && a == b
}

func randomName() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
