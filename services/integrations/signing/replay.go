package signing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

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

// replayTTL outlasts any timestamp the verifiers accept: Tolerance either
// side of a whole-second timestamp, plus a margin for the rounding.
const replayTTL = 2*Tolerance + 2*time.Second

func (r *Replay) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return r.prefix + hex.EncodeToString(sum[:])
}

// Forget drops a recorded id: the caller could not act on a hook it
// verified, so the sender's retry must be accepted.
func (r *Replay) Forget(ctx context.Context, id string) error {
	return r.rdb.Del(ctx, r.key(id)).Err()
}

// Check records id (a Verified.ID) for replayTTL and returns ErrReplay if it
// was already recorded. A Redis error is returned as is: the caller must
// fail closed.
func (r *Replay) Check(ctx context.Context, id string) error {
	fresh, err := r.rdb.SetNX(ctx, r.key(id), 1, replayTTL).Result()
	if err != nil {
		return err
	}
	if !fresh {
		return ErrReplay
	}
	return nil
}
