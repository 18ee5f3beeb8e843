package e2e_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

const goodPassword = "correct horse battery staple"

func TestIdentityOverREST(t *testing.T) {
	t.Parallel()
	s := StartSuite(t)

	t.Run("signup, verify by emailed code, sign in, read profile", func(t *testing.T) {
		s.signup(t, "alice@example.com", goodPassword)
		tok, _ := s.login(t, "alice@example.com", goodPassword)
		code, me := s.get(t, "/v1/me", tok)
		user, _ := me["user"].(map[string]any)
		if code != 200 || user["email"] != "alice@example.com" || user["emailVerified"] != true {
			t.Fatalf("me: %d %v", code, me)
		}
	})

	t.Run("no account enumeration", func(t *testing.T) {
		s.signup(t, "enum@example.com", goodPassword)
		body := map[string]any{"email": "enum@example.com", "password": "another fine passphrase", "name": "X"}
		c1, o1 := s.post(t, "/v1/auth/signup", body, "")
		body["email"] = "nobody-here@example.com"
		c2, o2 := s.post(t, "/v1/auth/signup", body, "")
		if c1 != 200 || c2 != 200 || len(o1) != 0 || len(o2) != 0 {
			t.Fatalf("signup answers differ: %d %v / %d %v", c1, o1, c2, o2)
		}
		if notice := s.Mail.Wait(t, "enum@example.com", 2); !strings.Contains(notice, "already have") {
			t.Fatalf("the existing user was not told: %q", notice)
		}
		w1, e1 := s.post(t, "/v1/auth/login", map[string]any{"email": "enum@example.com", "password": "wrong password here"}, "")
		w2, e2 := s.post(t, "/v1/auth/login", map[string]any{"email": "ghost@example.com", "password": "wrong password here"}, "")
		if w1 != 401 || w2 != 401 || e1["message"] != e2["message"] {
			t.Fatalf("login failures differ: %d %v / %d %v", w1, e1, w2, e2)
		}
		r1, _ := s.post(t, "/v1/auth/verify-email:resend", map[string]any{"email": "enum@example.com"}, "")
		r2, _ := s.post(t, "/v1/auth/verify-email:resend", map[string]any{"email": "ghost@example.com"}, "")
		p1, _ := s.post(t, "/v1/auth/password-reset", map[string]any{"email": "ghost@example.com"}, "")
		if r1 != 200 || r2 != 200 || p1 != 200 {
			t.Fatalf("resend/reset answers: %d %d %d", r1, r2, p1)
		}
	})

	t.Run("bad passwords are refused naming the field, and nothing is stored", func(t *testing.T) {
		for name, pw := range map[string]string{"73 bytes": strings.Repeat("z", 73), "common": "contortionist", "guessable": "aaaaaaaaaaaaaaaa"} {
			code, out := s.post(t, "/v1/auth/signup", map[string]any{"email": "carol@example.com", "password": pw, "name": "C"}, "")
			if code != 400 || !slices.Contains(fieldNamed(out), "password") {
				t.Fatalf("%s: %d %v", name, code, out)
			}
		}
		if n := s.Mail.Count("carol@example.com"); n != 0 {
			t.Fatalf("refused signups sent %d mails", n)
		}
		// The address is still free: a good signup gets a verification code, not the "already registered" notice.
		s.signup(t, "carol@example.com", goodPassword)
		if msg := s.Mail.Wait(t, "carol@example.com", 1); !strings.Contains(msg, "verification code") {
			t.Fatalf("first mail: %q", msg)
		}
	})

	t.Run("unverified accounts cannot sign in; codes allow five tries", func(t *testing.T) {
		email := "dave@example.com"
		if code, _ := s.post(t, "/v1/auth/signup", map[string]any{"email": email, "password": goodPassword, "name": "D"}, ""); code != 200 {
			t.Fatal(code)
		}
		right := Code(t, s.Mail.Wait(t, email, 1))
		if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, ""); code != 412 {
			t.Fatalf("unverified login: %d", code)
		}
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		for i := range 5 {
			if code, out := s.post(t, "/v1/auth/verify-email", map[string]any{"email": email, "code": wrong}, ""); code != 400 || !slices.Contains(fieldNamed(out), "code") {
				t.Fatalf("wrong code %d: %d %v", i, code, out)
			}
		}
		if code, _ := s.post(t, "/v1/auth/verify-email", map[string]any{"email": email, "code": right}, ""); code == 200 {
			t.Fatal("the code still worked after five wrong tries")
		}
	})

	t.Run("logout takes effect at once on every gateway replica", func(t *testing.T) {
		s.signup(t, "erin@example.com", goodPassword)
		tok, _ := s.login(t, "erin@example.com", goodPassword)
		replica := s.Replica(t)
		if code, _, _ := s.call(t, nil, "GET", replica+"/v1/me", nil, tok); code != 200 {
			t.Fatalf("replica before logout: %d", code)
		}
		if code, _ := s.post(t, "/v1/auth/logout", map[string]any{}, tok); code != 200 {
			t.Fatalf("logout: %d", code)
		}
		if code, _ := s.get(t, "/v1/me", tok); code != 401 {
			t.Fatalf("same gateway after logout: %d", code)
		}
		deadline := time.Now().Add(time.Second)
		for {
			code, _, _ := s.call(t, nil, "GET", replica+"/v1/me", nil, tok)
			if code == 401 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the replica still accepted the token a second after logout")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("revocations survive restarts", func(t *testing.T) {
		s.signup(t, "rory@example.com", goodPassword)
		tok, _ := s.login(t, "rory@example.com", goodPassword)
		if code, _ := s.post(t, "/v1/auth/logout", map[string]any{}, tok); code != 200 {
			t.Fatal(code)
		}
		s.stop["identity"]()
		s.restart["identity"](t)
		fresh := s.Replica(t) // a gateway with an empty cache asks identity again
		if code, _, _ := s.call(t, nil, "GET", fresh+"/v1/me", nil, tok); code != 401 {
			t.Fatalf("revoked session after restarts: %d", code)
		}
	})

	t.Run("forged and malformed credentials", func(t *testing.T) {
		s.signup(t, "frank@example.com", goodPassword)
		tok, _ := s.login(t, "frank@example.com", goodPassword)
		parts := strings.Split(tok, ".")
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"k1","typ":"JWT"}`)) + "." + parts[1] + "."
		for name, h := range map[string]string{
			"alg none":        "Bearer " + none,
			"bad signature":   "Bearer " + parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
			"garbage":         "Bearer abc.def.ghi",
			"basic scheme":    "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")),
			"empty bearer":    "Bearer ",
			"blank bearer":    "Bearer      ",
			"unknown api key": "Bearer pyx_AAAAAAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000",
		} {
			req, _ := http.NewRequest("GET", s.URL+"/v1/me", nil)
			req.Header.Set("Authorization", h)
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("%s: %d", name, resp.StatusCode)
			}
		}
	})

	t.Run("changing the password revokes every other session", func(t *testing.T) {
		email := "gina@example.com"
		s.signup(t, email, goodPassword)
		a, _ := s.login(t, email, goodPassword)
		b, _ := s.login(t, email, goodPassword)
		if code, out := s.post(t, "/v1/me/password", map[string]any{"currentPassword": "not it at all", "newPassword": "a brand new passphrase"}, a); code != 400 || !slices.Contains(fieldNamed(out), "currentPassword") {
			t.Fatalf("wrong current password: %d %v", code, out)
		}
		if code, out := s.post(t, "/v1/me/password", map[string]any{"currentPassword": goodPassword, "newPassword": "a brand new passphrase"}, a); code != 200 {
			t.Fatalf("change: %d %v", code, out)
		}
		if code, _ := s.get(t, "/v1/me", b); code != 401 {
			t.Fatalf("other session after change: %d", code)
		}
		if code, _ := s.get(t, "/v1/me", a); code != 200 {
			t.Fatalf("current session after change: %d", code)
		}
		if code, _ := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, ""); code != 401 {
			t.Fatalf("old password still works: %d", code)
		}
		s.login(t, email, "a brand new passphrase")
	})

	t.Run("password reset by emailed code revokes all sessions", func(t *testing.T) {
		email := "hank@example.com"
		s.signup(t, email, goodPassword)
		a, _ := s.login(t, email, goodPassword)
		n := s.Mail.Count(email)
		if code, _ := s.post(t, "/v1/auth/password-reset", map[string]any{"email": email}, ""); code != 200 {
			t.Fatal(code)
		}
		code := Code(t, s.Mail.Wait(t, email, n+1))
		if st, out := s.post(t, "/v1/auth/password-reset:confirm", map[string]any{"email": email, "code": code, "newPassword": "reset to this passphrase"}, ""); st != 200 {
			t.Fatalf("reset: %d %v", st, out)
		}
		if st, _ := s.get(t, "/v1/me", a); st != 401 {
			t.Fatalf("session survived the reset: %d", st)
		}
		if st, _ := s.post(t, "/v1/auth/password-reset:confirm", map[string]any{"email": email, "code": code, "newPassword": "and again another one"}, ""); st != 400 {
			t.Fatalf("reset code reused: %d", st)
		}
		s.login(t, email, "reset to this passphrase")
	})

	t.Run("sessions are listed and revocable", func(t *testing.T) {
		email := "ivy@example.com"
		s.signup(t, email, goodPassword)
		a, _ := s.login(t, email, goodPassword)
		b, sidB := s.login(t, email, goodPassword)
		code, out := s.get(t, "/v1/me/sessions", a)
		sessions, _ := out["sessions"].([]any)
		if code != 200 || len(sessions) != 2 {
			t.Fatalf("sessions: %d %v", code, out)
		}
		if st, _, _ := s.call(t, nil, "DELETE", s.URL+"/v1/me/sessions/"+sidB, nil, a); st != 200 {
			t.Fatalf("revoke: %d", st)
		}
		if st, _ := s.get(t, "/v1/me", b); st != 401 {
			t.Fatalf("revoked session still works: %d", st)
		}
		// Another user's session id is not found.
		s.signup(t, "ivy2@example.com", goodPassword)
		_, other := s.login(t, "ivy2@example.com", goodPassword)
		if st, _, _ := s.call(t, nil, "DELETE", s.URL+"/v1/me/sessions/"+other, nil, a); st != 404 {
			t.Fatalf("revoking another user's session: %d", st)
		}
	})

	t.Run("TOTP enrolment, login with codes, no replay, single-use backup codes", func(t *testing.T) {
		email := "jack@example.com"
		s.signup(t, email, goodPassword)
		tok, _ := s.login(t, email, goodPassword)
		code, enr := s.post(t, "/v1/me/totp:enroll", map[string]any{}, tok)
		secret, _ := enr["secret"].(string)
		if code != 200 || secret == "" || !strings.HasPrefix(enr["otpauthUrl"].(string), "otpauth://totp/") {
			t.Fatalf("enroll: %d %v", code, enr)
		}
		// Three consecutive time steps, all inside the one-step skew window:
		// S-1 confirms, S signs in, S+1 regenerates the backup codes.
		t0 := time.Now()
		prev, _ := totp.GenerateCode(secret, t0.Add(-30*time.Second))
		now, _ := totp.GenerateCode(secret, t0)
		next, _ := totp.GenerateCode(secret, t0.Add(30*time.Second))
		code, conf := s.post(t, "/v1/me/totp:confirm", map[string]any{"code": prev}, tok)
		backups, _ := conf["backupCodes"].([]any)
		if code != 200 || len(backups) != 10 {
			t.Fatalf("confirm: %d %v", code, conf)
		}
		mfa := func() string {
			code, out := s.post(t, "/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, "")
			if code != 200 || out["mfaRequired"] != true || out["accessToken"] != nil {
				t.Fatalf("login with TOTP on: %d %v", code, out)
			}
			return out["mfaToken"].(string)
		}
		if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfa(), "code": prev}, ""); code != 400 {
			t.Fatalf("replayed confirmation code: %d", code)
		}
		if code, out := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfa(), "code": now}, ""); code != 200 || out["accessToken"] == nil {
			t.Fatalf("TOTP login: %d %v", code, out)
		}
		if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfa(), "code": now}, ""); code != 400 {
			t.Fatalf("TOTP code accepted twice: %d", code)
		}
		backup := backups[0].(string)
		if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfa(), "code": strings.ToUpper(backup)}, ""); code != 200 {
			t.Fatalf("backup code: %d", code)
		}
		if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfa(), "code": backup}, ""); code != 400 {
			t.Fatalf("backup code used twice: %d", code)
		}
		// A spent MFA token cannot be reused, and an access token is not an MFA token.
		if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": tok, "code": backups[1].(string)}, ""); code != 400 {
			t.Fatalf("access token as MFA token: %d", code)
		}
		// Regenerating (with a TOTP code) voids the old set; the new one downloads as a text file.
		req, _ := http.NewRequest("POST", s.URL+"/v1/me/backup-codes:regenerate", strings.NewReader(`{"code":"`+next+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "text/plain")
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		file, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		lines := strings.Split(strings.TrimSpace(string(file)), "\n")
		fresh := lines[len(lines)-1]
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || len(lines) < 12 {
			t.Fatalf("download: %d %q %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Disposition"), file)
		}
		if code, _ := s.post(t, "/v1/auth/login/mfa", map[string]any{"mfaToken": mfa(), "code": backups[3].(string)}, ""); code != 400 {
			t.Fatalf("an old backup code worked after regeneration: %d", code)
		}
		if code, _ := s.post(t, "/v1/me/totp:disable", map[string]any{"code": fresh}, tok); code != 200 {
			t.Fatalf("disable: %d", code)
		}
		s.login(t, email, goodPassword) // straight in again
	})

	t.Run("repeated wrong passwords are slowed with 429 and Retry-After", func(t *testing.T) {
		email := "kate@example.com"
		s.signup(t, email, goodPassword)
		// A distinct loopback source address, so this client's per-IP count is its own.
		c := s.clientFrom(t, "127.0.0.2")
		for i := range 6 { // five free failures, and the sixth starts the lock-out
			if code, _, _ := s.call(t, c, "POST", s.URL+"/v1/auth/login", map[string]any{"email": email, "password": "not the password!"}, ""); code != 401 {
				t.Fatalf("failure %d: %d", i+1, code)
			}
		}
		last, _, hdr := s.call(t, c, "POST", s.URL+"/v1/auth/login", map[string]any{"email": email, "password": "not the password!"}, "")
		if last != 429 || hdr.Get("Retry-After") == "" {
			t.Fatalf("after 6 failures: %d, Retry-After %q", last, hdr.Get("Retry-After"))
		}
		if code, _, _ := s.call(t, c, "POST", s.URL+"/v1/auth/login", map[string]any{"email": email, "password": goodPassword}, ""); code != 429 {
			t.Fatalf("the right password during the lock-out: %d", code)
		}
	})
}

// clientFrom is an HTTPS client whose connections come from a given loopback address.
func (s *Suite) clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		DialContext:     func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) },
		TLSClientConfig: &tls.Config{RootCAs: s.roots, MinVersion: tls.VersionTLS12},
	}}
}
