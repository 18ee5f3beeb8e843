package throttle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Backoff counts failures per key. After Free failures within Window, each
// further failure locks the key for Base * 2^(n-1), capped at Max.
type Backoff struct {
	rdb    *redis.Client
	prefix string
	Free   int
	Base   time.Duration
	Max    time.Duration
	Window time.Duration
}

// New returns a back-off named for what it protects ("login", "code") in a
// Redis namespace.
func New(rdb *redis.Client, namespace, name string) *Backoff {
	return &Backoff{rdb: rdb, prefix: namespace + ":throttle:" + name + ":", Free: 5, Base: time.Second, Max: 15 * time.Minute, Window: time.Hour}
}

// Key builds a key from a scope and a value; the value is hashed so that
// emails and IPs are not stored in Redis in the clear.
func Key(scope, value string) string {
	sum := sha256.Sum256([]byte(value))
	return scope + ":" + hex.EncodeToString(sum[:12])
}

func (b *Backoff) redisKey(k string) string { return b.prefix + k }

// Check returns a ResourceExhausted status (with RetryInfo) when any key is
// locked. When Redis cannot answer it fails closed with Unavailable: an
// outage must not switch brute-force protection off.
func (b *Backoff) Check(ctx context.Context, keys ...string) error {
	var wait time.Duration
	for _, k := range keys {
		ttl, err := b.rdb.PTTL(ctx, b.redisKey(k)+":lock").Result()
		if err != nil {
			return status.Error(codes.Unavailable, "temporarily unavailable")
		}
		if ttl > wait {
			wait = ttl
		}
	}
	if wait > 0 {
		return Exhausted(wait)
	}
	return nil
}

var failScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local free = tonumber(ARGV[2])
if n > free then
  local lock = tonumber(ARGV[3]) * (2 ^ (n - free - 1))
  local max = tonumber(ARGV[4])
  if lock > max then lock = max end
  redis.call('SET', KEYS[2], '1', 'PX', math.floor(lock))
  return math.floor(lock)
end
return 0`)

// Fail records a failed attempt on every key and returns the longest lock it
// caused (0 while within the free allowance).
func (b *Backoff) Fail(ctx context.Context, keys ...string) (time.Duration, error) {
	var longest time.Duration
	for _, k := range keys {
		ms, err := failScript.Run(ctx, b.rdb, []string{b.redisKey(k), b.redisKey(k) + ":lock"},
			b.Window.Milliseconds(), b.Free, b.Base.Milliseconds(), b.Max.Milliseconds()).Int64()
		if err != nil {
			return 0, fmt.Errorf("throttle: %w", err)
		}
		if d := time.Duration(ms) * time.Millisecond; d > longest {
			longest = d
		}
	}
	return longest, nil
}

// Reset forgets the failures of the keys (after a success).
func (b *Backoff) Reset(ctx context.Context, keys ...string) error {
	rk := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		rk = append(rk, b.redisKey(k), b.redisKey(k)+":lock")
	}
	return b.rdb.Del(ctx, rk...).Err()
}

// Exhausted is the status for a locked key: ResourceExhausted (HTTP 429)
// with a RetryInfo the gateway turns into Retry-After.
func Exhausted(wait time.Duration) error {
	secs := time.Duration(math.Ceil(wait.Seconds())) * time.Second
	st, err := status.New(codes.ResourceExhausted, "too many attempts; try again later").
		WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(secs)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, "too many attempts; try again later")
	}
	return st.Err()
}
