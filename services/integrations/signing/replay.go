package signing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"github.com/redis/go-redis/v9"
)

// ErrReplay reports a delivery whose Verified.ID was already checked.
var ErrReplay = errors.New("signing: signature already seen")

// Replay remembers verified deliveries in Redis for as long as their
// timestamps stay acceptable, so each is accepted once.
type Replay struct {
	rdb    *redis.Client
	prefix string
}

// NewReplay returns a Replay keeping its keys under prefix in rdb.
func NewReplay(rdb *redis.Client, prefix string) *Replay {
	return &Replay{rdb: rdb, prefix: prefix}
}

// Check records id (a Verified.ID) for twice Tolerance, which outlasts any
// timestamp the verifiers accept, and returns ErrReplay if it was already
// recorded. A Redis error is returned as is: the caller must fail closed.
func (r *Replay) Check(ctx context.Context, id string) error {
	sum := sha256.Sum256([]byte(id))
	fresh, err := r.rdb.SetNX(ctx, r.prefix+hex.EncodeToString(sum[:]), 1, 2*Tolerance).Result()
	if err != nil {
		return err
	}
	if !fresh {
		return ErrReplay
	}
	return nil
}
