package gateway

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	tenancyv1 "github.com/pythorix/pythorix/gen/go/pythorix/tenancy/v1"
)

// CORS. Browsers calling the API from another origin are let read the
// answer only when the origin is listed exactly:
//   - with an API key bound to a project, in that project's allowedOrigins
//     (from tenancy); no credentials mode (the key travels in a header);
//   - with the session cookie, in PYTHORIX_CORS_SESSION_ORIGINS (the
//     operator's own web apps); then Access-Control-Allow-Credentials.
//
// A preflight carries no credential, so it is answered for an origin some
// project or the session list names. An origin nobody lists gets no CORS
// header at all, and never a wildcard.
const (
	corsMethods = "GET, POST, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, X-Org-Id, X-CSRF-Token, X-Request-Id"
	corsMaxAge  = "600"
	corsTTL     = 30 * time.Second
	corsEntries = 10_000
)

type corsPolicy struct {
	tenancy        tenancyv1.TenancyServiceClient
	sessionOrigins []string

	mu       sync.Mutex
	origins  map[string]corsCached // origin -> listed by some project
	projects map[string]corsCached // project id -> its origins
}

type corsCached struct {
	allowed bool
	origins []string
	expires time.Time
}

func newCORS(tenancy tenancyv1.TenancyServiceClient, sessionOrigins []string) *corsPolicy {
	return &corsPolicy{tenancy: tenancy, sessionOrigins: sessionOrigins, origins: map[string]corsCached{}, projects: map[string]corsCached{}}
}

// validOrigin accepts scheme://host[:port] and nothing else ("null" and
// paths are not origins anyone can list).
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Path == "" && u.RawQuery == "" &&
		u.User == nil && len(o) <= 300
}

func (c *corsPolicy) cached(m map[string]corsCached, key string) (corsCached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := m[key]
	if !ok || time.Now().After(e.expires) {
		return corsCached{}, false
	}
	return e, true
}

func (c *corsPolicy) store(m map[string]corsCached, key string, e corsCached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m) >= corsEntries {
		clear(m) // bounded: a flood of origins cannot grow memory
	}
	e.expires = time.Now().Add(corsTTL)
	m[key] = e
}

// listedAnywhere reports whether some project or the session list names the
// origin. A tenancy failure answers false: no CORS headers (fail closed).
func (c *corsPolicy) listedAnywhere(ctx context.Context, origin string) bool {
	if slices.Contains(c.sessionOrigins, origin) {
		return true
	}
	if e, ok := c.cached(c.origins, origin); ok {
		return e.allowed
	}
	resp, err := c.tenancy.OriginAllowed(ctx, &tenancyv1.OriginAllowedRequest{Origin: origin})
	if err != nil {
		return false
	}
	c.store(c.origins, origin, corsCached{allowed: resp.GetAllowed()})
	return resp.GetAllowed()
}

func (c *corsPolicy) projectLists(ctx context.Context, projectID, origin string) bool {
	e, ok := c.cached(c.projects, projectID)
	if !ok {
		resp, err := c.tenancy.GetProjectOrigins(ctx, &tenancyv1.GetProjectOriginsRequest{ProjectId: projectID})
		if err != nil {
			return false
		}
		e = corsCached{origins: resp.GetAllowedOrigins()}
		c.store(c.projects, projectID, e)
	}
	return slices.Contains(e.origins, origin)
}

// preflight answers an OPTIONS preflight; it reports whether r was one.
func (c *corsPolicy) preflight(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if r.Method != http.MethodOptions || origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if validOrigin(origin) && c.listedAnywhere(r.Context(), origin) {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		if slices.Contains(c.sessionOrigins, origin) {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}

// actual sets the CORS headers of a request that has been authenticated.
func (c *corsPolicy) actual(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if !validOrigin(origin) {
		return
	}
	a, _ := r.Context().Value(authInfoKey{}).(authInfo)
	switch {
	case a.cookie && slices.Contains(c.sessionOrigins, origin):
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
	case a.projectID != "" && c.projectLists(r.Context(), a.projectID, origin):
		h.Set("Access-Control-Allow-Origin", origin)
	default:
		return
	}
	h.Set("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")
}

// authInfo is how a request authenticated, for CORS.
type authInfo struct {
	cookie    bool
	projectID string
}

type authInfoKey struct{}

func splitOrigins(list string) []string {
	var out []string
	for _, o := range strings.Split(list, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}
