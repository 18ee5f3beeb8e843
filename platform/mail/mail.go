package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pythorix/pythorix/platform/secret"
)

// Message is a plain-text email.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Sender delivers a message or returns an error; callers retry.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Config selects and configures the sender. With no SMTPAddr, mail is
// written to Dir (local mode).
type Config struct {
	SMTPAddr   string        `env:"PYTHORIX_SMTP_ADDR"`
	From       string        `env:"PYTHORIX_MAIL_FROM" envDefault:"Pythorix <no-reply@pythorix.local>"`
	Username   string        `env:"PYTHORIX_SMTP_USERNAME"`
	Password   secret.String `env:"PYTHORIX_SMTP_PASSWORD"`
	RequireTLS bool          `env:"PYTHORIX_SMTP_REQUIRE_TLS" envDefault:"true"`
	Dir        string        `env:"PYTHORIX_MAIL_DIR"`
	// CAFile, when set, is the only CA trusted for the SMTP server's certificate.
	CAFile string `env:"PYTHORIX_SMTP_CA_FILE"`
}

// New returns the sender the configuration asks for.
func New(cfg Config, tlsConfig *tls.Config) (Sender, error) {
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: PYTHORIX_MAIL_FROM %q: %w", cfg.From, err)
	}
	if cfg.SMTPAddr == "" {
		if cfg.Dir == "" {
			return nil, errors.New("mail: set PYTHORIX_SMTP_ADDR, or PYTHORIX_MAIL_DIR for local mode")
		}
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("mail: %w", err)
		}
		return &Dir{Path: cfg.Dir, From: from}, nil
	}
	host, _, err := net.SplitHostPort(cfg.SMTPAddr)
	if err != nil {
		return nil, fmt.Errorf("mail: PYTHORIX_SMTP_ADDR %q: %w", cfg.SMTPAddr, err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mail: PYTHORIX_SMTP_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("mail: PYTHORIX_SMTP_CA_FILE holds no PEM certificate")
		}
		tlsConfig = tlsConfig.Clone()
		tlsConfig.RootCAs = pool
	}
	tlsConfig = tlsConfig.Clone()
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	return &SMTP{Addr: cfg.SMTPAddr, From: from, Username: cfg.Username, Password: cfg.Password,
		RequireTLS: cfg.RequireTLS, TLS: tlsConfig, Timeout: 15 * time.Second}, nil
}

// SMTP delivers through an SMTP relay.
type SMTP struct {
	Addr       string
	From       *mail.Address
	Username   string
	Password   secret.String
	RequireTLS bool
	TLS        *tls.Config
	Timeout    time.Duration
}

// Send implements Sender. The whole exchange is bounded by Timeout.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mail: dial: %w", err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("mail: greeting: %w", err)
	}
	defer c.Close()
	if err := c.Hello("pythorix"); err != nil {
		return fmt.Errorf("mail: hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(s.TLS); err != nil {
			return fmt.Errorf("mail: starttls: %w", err)
		}
	} else if s.RequireTLS {
		return errors.New("mail: server does not offer STARTTLS and PYTHORIX_SMTP_REQUIRE_TLS is set")
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password.Reveal(), host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	if err := c.Mail(s.From.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to.Address); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(Render(s.From, to, m)); err != nil {
		return fmt.Errorf("mail: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of data: %w", err)
	}
	return c.Quit()
}

// Dir writes each message as an .eml file (local mode).
type Dir struct {
	Path string
	From *mail.Address
}

// Send implements Sender.
func (d *Dir) Send(_ context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := fmt.Sprintf("%s-%s.eml", time.Now().UTC().Format("20060102T150405.000000000"), hex.EncodeToString(rnd[:]))
	return os.WriteFile(filepath.Join(d.Path, name), Render(d.From, to, m), 0o600)
}

// Render builds the RFC 5322 message. Header values are encoded so that no
// input can inject headers. (SMTP dot-stuffing is done by the DATA writer.)
func Render(from, to *mail.Address, m Message) []byte {
	var b bytes.Buffer
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", stripNewlines(m.Subject)))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(rnd[:])+"@pythorix>")
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)
	header("Content-Transfer-Encoding", "8bit")
	b.WriteString("\r\n")
	for _, line := range strings.Split(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

func stripNewlines(s string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}
