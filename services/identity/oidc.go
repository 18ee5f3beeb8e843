package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/pythorix/pythorix/platform/invalid"
	"github.com/pythorix/pythorix/platform/outbox"
)

// OIDC signs users in with OpenID Connect providers (authorization code flow
// with state, nonce and PKCE S256). Provider discovery happens on first use,
// so an unreachable provider disables only its own sign-in. The state is
// kept here, single-use; the gateway binds it to the browser that started
// the flow (a __Host- cookie it checks before the callback reaches us).
type OIDC struct {
	accounts   *Accounts
	rdb        *redis.Client
	namespace  string
	publicURL  string
	returnTo   []string
	http       *http.Client
	mu         sync.Mutex
	providers  map[string]OIDCProviderConfig
	discovered map[string]*oidcProvider
	stateTTL   time.Duration
}

type oidcProvider struct {
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
}

// ErrUnknownProvider is a provider name not configured.
var ErrUnknownProvider = errors.New("unknown sign-in provider")

// ErrOIDCRejected is any failure of the provider's answer; details are logged, not returned.
var ErrOIDCRejected = errors.New("sign-in with the provider failed")

// errNonceMismatch is an ID token minted for another sign-in (or for none).
var errNonceMismatch = errors.New("oidc: id token nonce does not match the sign-in's")

func newOIDC(a *Accounts, rdb *redis.Client, namespace string, cfg Config, client *http.Client) *OIDC {
	o := &OIDC{accounts: a, rdb: rdb, namespace: namespace, publicURL: strings.TrimRight(cfg.PublicURL, "/"), returnTo: cfg.OIDC.ReturnOrigins,
		http: client, providers: map[string]OIDCProviderConfig{}, discovered: map[string]*oidcProvider{},
		stateTTL: 10 * time.Minute}
	for _, p := range cfg.OIDC.Providers {
		o.providers[p.Name] = p
	}
	return o
}

func (o *OIDC) provider(ctx context.Context, name string) (*oidcProvider, error) {
	o.mu.Lock()
	p, found := o.discovered[name]
	cfg, ok := o.providers[name]
	o.mu.Unlock()
	if found {
		return p, nil
	}
	if !ok {
		return nil, ErrUnknownProvider
	}
	// Discovery runs outside the lock: an unreachable provider delays only
	// its own sign-ins. Two concurrent discoveries of one provider are harmless.
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.http), 10*time.Second)
	defer cancel()
	disc, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc %s discovery: %w", name, err)
	}
	p = &oidcProvider{
		verifier: disc.VerifierContext(oidc.ClientContext(context.WithoutCancel(ctx), o.http), &oidc.Config{ClientID: cfg.ClientID}),
		oauth: &oauth2.Config{ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret.Reveal(), Endpoint: disc.Endpoint(),
			RedirectURL: o.publicURL + "/v1/auth/oidc/" + name + "/callback", Scopes: cfg.Scopes},
	}
	o.mu.Lock()
	o.discovered[name] = p
	o.mu.Unlock()
	return p, nil
}

type oidcState struct {
	Provider string `json:"p"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r,omitempty"`
}

func (o *OIDC) stateKey(state string) string {
	sum := sha256.Sum256([]byte(state))
	return o.namespace + ":oidc:state:" + hex.EncodeToString(sum[:])
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Start returns the provider's authorization URL and the state it is bound to.
func (o *OIDC) Start(ctx context.Context, name, returnTo string) (string, string, error) {
	if returnTo != "" && !o.allowedReturn(returnTo) {
		return "", "", &invalid.Field{Name: "returnTo", Reason: "is not an allowed origin"}
	}
	p, err := o.provider(ctx, name)
	if err != nil {
		return "", "", err
	}
	state, err := randomToken()
	if err != nil {
		return "", "", err
	}
	nonce, err := randomToken()
	if err != nil {
		return "", "", err
	}
	verifier := oauth2.GenerateVerifier()
	b, _ := json.Marshal(oidcState{Provider: name, Nonce: nonce, Verifier: verifier, ReturnTo: returnTo})
	if err := o.rdb.Set(ctx, o.stateKey(state), b, o.stateTTL).Err(); err != nil {
		return "", "", ErrUnavailable
	}
	return p.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), state, nil
}

func (o *OIDC) allowedReturn(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	return slices.Contains(o.returnTo, u.Scheme+"://"+u.Host)
}

type idClaims struct {
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"` // Apple sends "true" as a string
	Name          string `json:"name"`
}

func (c idClaims) verified() bool {
	switch v := c.EmailVerified.(type) {
	case bool:
		return v
	case string:
		return v == "true"
	}
	return false
}

// Callback completes a sign-in: the state is single-use and bound to the
// provider; the code is exchanged with the PKCE verifier; the ID token's
// signature, issuer, audience, expiry and nonce are checked. An existing
// account is linked only through an email address the provider verified.
func (o *OIDC) Callback(ctx context.Context, name, code, state string) (*LoginResult, error) {
	raw, err := o.rdb.GetDel(ctx, o.stateKey(state)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrOIDCRejected
	}
	if err != nil {
		return nil, ErrUnavailable
	}
	var st oidcState
	if json.Unmarshal(raw, &st) != nil || st.Provider != name {
		return nil, ErrOIDCRejected
	}
	p, err := o.provider(ctx, name)
	if err != nil {
		return nil, err
	}
	xctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.http), 10*time.Second)
	defer cancel()
	tok, err := p.oauth.Exchange(xctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		o.accounts.log.WarnContext(ctx, "oidc code exchange failed", "provider", name, "error", err)
		return nil, ErrOIDCRejected
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := p.verifier.Verify(xctx, rawID)
	if err == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		err = errNonceMismatch
	}
	if err != nil {
		o.accounts.log.WarnContext(ctx, "oidc id token rejected", "provider", name, "error", err)
		return nil, ErrOIDCRejected
	}
	var claims idClaims
	if err := idt.Claims(&claims); err != nil {
		return nil, ErrOIDCRejected
	}
	userID, err := o.link(ctx, name, idt.Subject, claims)
	if err != nil {
		return nil, err
	}
	var totpOn bool
	if err := o.accounts.db.QueryRow(ctx, `SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = $1`, userID).Scan(&totpOn); err != nil {
		return nil, err
	}
	if totpOn {
		return o.accounts.startMFA(ctx, userID)
	}
	return o.accounts.openSession(ctx, userID, "oidc:"+name, false)
}

// link finds or creates the account for a provider identity.
func (o *OIDC) link(ctx context.Context, provider, subject string, c idClaims) (string, error) {
	var userID string
	err := pgx.BeginFunc(ctx, o.accounts.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT user_id::text FROM oidc_identities WHERE provider = $1 AND subject = $2`, provider, subject).Scan(&userID)
		if err == nil {
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		email := normaliseEmail(c.Email)
		if email == "" || !c.verified() {
			return ErrOIDCRejected
		}
		err = tx.QueryRow(ctx, `SELECT id::text FROM users WHERE email = $1 FOR UPDATE`, email).Scan(&userID)
		action := "identity.oidc.link"
		if errors.Is(err, pgx.ErrNoRows) {
			userID, action = mustUUID(), "identity.signup.oidc"
			name := strings.TrimSpace(c.Name)
			if name == "" {
				name, _, _ = strings.Cut(email, "@")
			}
			if len([]rune(name)) > 100 {
				name = string([]rune(name)[:100])
			}
			if _, err := tx.Exec(ctx, `INSERT INTO users (id, email, name, email_verified_at) VALUES ($1, $2, $3, now())`,
				userID, email, name); err != nil {
				return err
			}
		} else if err != nil {
			return err
		} else {
			// An unverified account may have been registered by someone else
			// with this address, waiting for its owner to verify it: the owner
			// now proves the address, so that password (and name) are void.
			tag, err := tx.Exec(ctx, `UPDATE users SET email_verified_at = now(), password_hash = NULL, updated_at = now()
				WHERE id = $1 AND email_verified_at IS NULL`, userID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				revoked, err := revokeSessions(ctx, tx, userID, "", "oidc_took_over_unverified")
				if err != nil {
					return err
				}
				o.accounts.revoker.Sessions(ctx, revoked...)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO oidc_identities (provider, subject, user_id) VALUES ($1, $2, $3)`, provider, subject, userID); err != nil {
			return err
		}
		return outbox.Append(ctx, tx, event(action, "user", userID, userActor(userID), map[string]any{"provider": provider}))
	})
	return userID, err
}
