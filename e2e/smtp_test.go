package e2e_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/pythorix/pythorix/platform/pki"
)

// Mailbox is a real SMTP server (STARTTLS offered and used) that keeps every
// message it receives, by recipient.
type Mailbox struct {
	Addr string
	mu   sync.Mutex
	msgs map[string][]string
	cond *sync.Cond
}

func startMailbox(t testing.TB, pkiDir string) *Mailbox {
	t.Helper()
	p := pki.GatewayHTTPSPaths(pkiDir) // a localhost certificate from the test CA
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	mb := &Mailbox{msgs: map[string][]string{}}
	mb.cond = sync.NewCond(&mb.mu)
	srv := smtp.NewServer(backend{mb})
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.MaxMessageBytes = 1 << 20
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.Addr = lis.Addr().String()
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

// Wait returns the n-th message (1-based) to a recipient, waiting up to 10 s.
func (m *Mailbox) Wait(t testing.TB, to string, n int) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	go func() {
		time.Sleep(10 * time.Second)
		m.cond.Broadcast()
	}()
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.msgs[to]) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no message %d for %s (have %d)", n, to, len(m.msgs[to]))
		}
		m.cond.Wait()
	}
	return m.msgs[to][n-1]
}

// Count is how many messages a recipient has received.
func (m *Mailbox) Count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs[to])
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// Code extracts the 6-digit code of a message.
func Code(t testing.TB, msg string) string {
	t.Helper()
	body := msg[strings.Index(msg, "\r\n\r\n"):]
	m := sixDigits.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no code in %q", msg)
	}
	return m[1]
}

type backend struct{ mb *Mailbox }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{mb: b.mb, conn: c}, nil
}

type session struct {
	mb   *Mailbox
	conn *smtp.Conn
	to   []string
}

func (s *session) Mail(string, *smtp.MailOptions) error      { return nil }
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error { s.to = append(s.to, to); return nil }
func (s *session) Reset()                                    { s.to = nil }
func (s *session) Logout() error                             { return nil }

func (s *session) Data(r io.Reader) error {
	if _, ok := s.conn.TLSConnectionState(); !ok {
		return &smtp.SMTPError{Code: 530, Message: "STARTTLS required"}
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	s.mb.mu.Lock()
	for _, to := range s.to {
		s.mb.msgs[to] = append(s.mb.msgs[to], buf.String())
	}
	s.mb.mu.Unlock()
	s.mb.cond.Broadcast()
	return nil
}
