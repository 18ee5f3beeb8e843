package gateway

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	identityv1 "github.com/pythorix/pythorix/gen/go/pythorix/identity/v1"
	"github.com/pythorix/pythorix/platform/authn"
	"github.com/pythorix/pythorix/platform/revocation"
)

// authenticator turns bearer credentials into principals. Identity verifies a
// credential once (signature, session liveness, API key hash); the result is
// cached here for at most cacheTTL, keyed by the credential's SHA-256, and
// evicted at once when identity announces the session's or key's revocation
// through Redis. So the hot path costs a map lookup, and a logout reaches
// every gateway replica within the pub/sub delay.
type authenticator struct {
	identity identityv1.IdentityServiceClient
	log      *slog.Logger
	ttl      time.Duration
	maxSize  int

	mu      sync.Mutex
	gen     uint64 // bumped by every revocation and reset
	entries map[[32]byte]cached
	byOwner map[string]map[[32]byte]struct{} // "session:<id>" / "apikey:<id>" -> entries
	// down is set while the revocation subscription is broken.
	down atomic.Bool
}

type cached struct {
	p       *identityv1.Principal
	encoded string // the principal as services receive it, marshalled once
	expires time.Time
	owner   string
}

func newAuthenticator(client identityv1.IdentityServiceClient, log *slog.Logger, ttl time.Duration) *authenticator {
	return &authenticator{identity: client, log: log, ttl: ttl, maxSize: 100_000,
		entries: map[[32]byte]cached{}, byOwner: map[string]map[[32]byte]struct{}{}}
}

// authenticate returns the principal for a credential, or a gRPC status error.
func (a *authenticator) authenticate(ctx context.Context, credential string) (*identityv1.Principal, error) {
	e, err := a.lookup(ctx, credential)
	return e.p, err
}

// lookup returns the cache entry for a credential, asking identity on a miss.
func (a *authenticator) lookup(ctx context.Context, credential string) (cached, error) {
	key := sha256.Sum256([]byte(credential))
	now := time.Now()
	a.mu.Lock()
	if e, ok := a.entries[key]; ok && !a.down.Load() {
		if now.Before(e.expires) {
			a.mu.Unlock()
			return e, nil
		}
		a.dropLocked(key, e)
	}
	gen := a.gen
	a.mu.Unlock()

	resp, err := a.identity.Authenticate(ctx, &identityv1.AuthenticateRequest{Credential: credential})
	if err != nil {
		return cached{}, err
	}
	p := resp.GetPrincipal()
	encoded, err := authn.OutgoingPrincipal(p)
	if err != nil {
		return cached{}, status.Error(codes.Internal, "principal encoding failed")
	}
	expires := now.Add(a.ttl)
	if et := p.GetExpireTime(); et != nil && et.AsTime().Before(expires) {
		expires = et.AsTime()
	}
	owner := revocation.Session + ":" + p.GetSessionId()
	if p.GetKind() == identityv1.Principal_KIND_API_KEY {
		owner = revocation.APIKey + ":" + p.GetApiKeyId()
	}
	a.mu.Lock()
	if a.gen != gen || a.down.Load() {
		// A revocation arrived while identity was answering: the answer may
		// predate it, so serve it to this request only and cache nothing.
		a.mu.Unlock()
		return cached{p: p, encoded: encoded}, nil
	}
	if len(a.entries) >= a.maxSize {
		a.resetLocked()
	}
	entry := cached{p: p, encoded: encoded, expires: expires, owner: owner}
	a.entries[key] = entry
	if a.byOwner[owner] == nil {
		a.byOwner[owner] = map[[32]byte]struct{}{}
	}
	a.byOwner[owner][key] = struct{}{}
	a.mu.Unlock()
	return entry, nil
}

func (a *authenticator) revoke(kind, id string) {
	owner := kind + ":" + id
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	for key := range a.byOwner[owner] {
		delete(a.entries, key)
	}
	delete(a.byOwner, owner)
}

// state follows the revocation subscription: any change drops the cache,
// and while it is down every request asks identity (a revocation made now
// could not be heard, so nothing may be served from memory).
func (a *authenticator) state(live bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resetLocked()
	a.down.Store(!live)
}

func (a *authenticator) resetLocked() {
	a.gen++
	a.entries = map[[32]byte]cached{}
	a.byOwner = map[string]map[[32]byte]struct{}{}
}

func (a *authenticator) dropLocked(key [32]byte, e cached) {
	delete(a.entries, key)
	if m := a.byOwner[e.owner]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(a.byOwner, e.owner)
		}
	}
}

// watch keeps the cache in step with revocations until ctx ends.
func (a *authenticator) watch(ctx context.Context, rdb *redis.Client, namespace string) {
	revocation.Subscribe(ctx, rdb, namespace, a.log, a.revoke, a.state)
}

// Authenticate resolves a bearer credential as a request would (cache first).
func (g *Gateway) Authenticate(ctx context.Context, credential string) (*identityv1.Principal, error) {
	return g.authn.authenticate(ctx, credential)
}

type principalCtxKey struct{}

// credentialCtxKey holds the request's credential, so that a logout passing
// through this gateway forgets it here at once, before the revocation
// fan-out reaches every replica.
type credentialCtxKey struct{}

// forget drops one credential from the cache.
func (a *authenticator) forget(credential string) {
	key := sha256.Sum256([]byte(credential))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.gen++
	if e, ok := a.entries[key]; ok {
		a.dropLocked(key, e)
	}
}

// authenticateRequest resolves an Authorization header, or else a session
// cookie (with its CSRF check), if any. A request without either proceeds
// anonymously (public routes work; others are refused
// by the service); a malformed or refused credential is answered 401 here.
func (g *Gateway) authenticateRequest(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	h := r.Header.Get("Authorization")
	viaCookie := false
	if h == "" {
		cred, err := g.sessions.credential(r)
		if err != nil {
			g.writeError(w, r, err)
			return r, false
		}
		if cred == "" {
			return r, true
		}
		h, viaCookie = "Bearer "+cred, true
	}
	scheme, cred, ok := strings.Cut(h, " ")
	cred = strings.TrimSpace(cred)
	if !ok || !strings.EqualFold(scheme, "Bearer") || cred == "" || len(cred) > 4096 || !utf8.ValidString(cred) {
		g.writeError(w, r, status.Error(codes.Unauthenticated, "malformed Authorization header: want Bearer <token>"))
		return r, false
	}
	entry, err := g.authn.lookup(r.Context(), cred)
	if err != nil {
		if c := status.Code(err); c != codes.Unauthenticated && c != codes.InvalidArgument {
			g.log.WarnContext(r.Context(), "authentication unavailable", "error", err)
			g.writeError(w, r, status.Error(codes.Unavailable, "authentication temporarily unavailable"))
			return r, false
		}
		g.writeError(w, r, status.Error(codes.Unauthenticated, "invalid or expired credential"))
		return r, false
	}
	ctx := context.WithValue(r.Context(), principalCtxKey{}, entry.encoded)
	ctx = context.WithValue(ctx, credentialCtxKey{}, cred)
	ctx = context.WithValue(ctx, authInfoKey{}, authInfo{cookie: viaCookie, projectID: entry.p.GetProjectId()})
	return r.WithContext(ctx), true
}

// outgoingMetadata is what the gateway asserts to services about a request:
// the principal it established and the client's address and user agent.
// Clients cannot set these keys: only listed headers are forwarded.
func outgoingMetadata(_ context.Context, r *http.Request) metadata.MD {
	md := metadata.MD{}
	if encoded, ok := r.Context().Value(principalCtxKey{}).(string); ok {
		md.Set(authn.PrincipalKey, encoded)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		md.Set(authn.ClientIPKey, host)
	}
	ua := r.UserAgent()
	if len(ua) > 512 {
		ua = ua[:512]
	}
	md.Set(authn.UserAgentKey, ua)
	return md
}
