package signing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pythorix/pythorix/platform/pgtest"
)

func TestReplay(t *testing.T) {
	opts, err := redis.ParseURL(pgtest.RedisURL(t))
	if err != nil {
		t.Fatal("invalid Redis URL")
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "test:signing:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":"
	ctx := context.Background()
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})

	r := NewReplay(rdb, prefix)
	if err := r.Check(ctx, "msg_1"); err != nil {
		t.Fatalf("first Check: %v", err)
	}
	if err := r.Check(ctx, "msg_1"); !errors.Is(err, ErrReplay) {
		t.Fatalf("second Check = %v, want ErrReplay", err)
	}
	if err := r.Check(ctx, "msg_2"); err != nil {
		t.Fatalf("other id: %v", err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
	for _, k := range keys {
		if len(k) != len(prefix)+64 {
			t.Errorf("key %q is not prefix + sha256 hex", k)
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl <= 2*Tolerance || ttl > 2*Tolerance+2*time.Second {
			t.Errorf("TTL of %q = %v, want just over %v", k, ttl, 2*Tolerance)
		}
	}

	// Redis failing is an error, not a pass.
	closed := redis.NewClient(opts)
	_ = closed.Close()
	if err := NewReplay(closed, prefix).Check(ctx, "msg_3"); err == nil || errors.Is(err, ErrReplay) {
		t.Fatalf("Check on a closed client = %v, want the Redis error", err)
	}
}
