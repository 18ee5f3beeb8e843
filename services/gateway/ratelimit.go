package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// limiter applies two GCRA rate limits in Redis: one per client address,
// one per principal (a user's token or an API key), so neither a single
// address nor a single credential can take the service for itself.
type limiter struct {
	rl           *redis_rate.Limiter
	prefix       string
	perIP        redis_rate.Limit
	perPrincipal redis_rate.Limit
}

func newLimiter(rdb *redis.Client, namespace string, perIP, perPrincipal int) *limiter {
	return &limiter{rl: redis_rate.NewLimiter(rdb), prefix: namespace + ":ratelimit:",
		perIP:        redis_rate.Limit{Rate: perIP, Period: time.Minute, Burst: max(perIP/6, 1)},
		perPrincipal: redis_rate.Limit{Rate: perPrincipal, Period: time.Minute, Burst: max(perPrincipal/6, 1)}}
}

// allow reports whether a request may go on, and if not, after how long it
// may be tried again. With Redis unreachable it lets the request through
// (rate limiting degrades; authentication and authorization do not).
func (l *limiter) allow(ctx context.Context, r *http.Request) (bool, time.Duration, error) {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	keys := []struct {
		key   string
		limit redis_rate.Limit
	}{{"ip:" + ip, l.perIP}}
	if encoded, ok := r.Context().Value(principalCtxKey{}).(string); ok {
		sum := sha256.Sum256([]byte(encoded))
		keys = append(keys, struct {
			key   string
			limit redis_rate.Limit
		}{"p:" + hex.EncodeToString(sum[:16]), l.perPrincipal})
	}
	for _, k := range keys {
		res, err := l.rl.Allow(ctx, l.prefix+k.key, k.limit)
		if err != nil {
			return true, 0, err
		}
		if res.Allowed == 0 {
			return false, res.RetryAfter, nil
		}
	}
	return true, 0, nil
}

// rateLimited answers 429 with Retry-After in whole seconds.
func (g *Gateway) rateLimited(w http.ResponseWriter, r *http.Request, after time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(after, time.Second).Seconds()))))
	g.writeError(w, r, status.Error(codes.ResourceExhausted, "rate limit exceeded; retry later"))
}
