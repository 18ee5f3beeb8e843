package revocation

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel is the Redis pub/sub channel of revocations in a namespace.
func Channel(namespace string) string { return namespace + ":revocations" }

// Kinds of revoked things.
const (
	Session = "session"
	APIKey  = "apikey"
)

// Publisher announces revocations.
type Publisher struct {
	rdb     *redis.Client
	channel string
	log     *slog.Logger
}

// NewPublisher returns a publisher on rdb in a namespace.
func NewPublisher(rdb *redis.Client, namespace string, log *slog.Logger) *Publisher {
	return &Publisher{rdb: rdb, channel: Channel(namespace), log: log}
}

// Publish announces each id of a kind. The revocation itself is already
// durable in the owner's database; a lost announcement is bounded by the
// subscribers' cache lifetime, and logged.
func (p *Publisher) Publish(ctx context.Context, kind string, ids ...string) {
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		err := p.rdb.Publish(ctx, p.channel, kind+":"+id).Err()
		cancel()
		if err != nil {
			p.log.ErrorContext(ctx, "revocation announcement failed", "kind", kind, "id", id, "error", err)
		}
	}
}

// Subscribe delivers revocations to onRevoke until ctx ends. onState runs
// with false when the subscription breaks and with true when it is live
// again: announcements made in between are lost, so a subscriber must
// forget what it cached and cache nothing while it is not live.
func Subscribe(ctx context.Context, rdb *redis.Client, namespace string, log *slog.Logger, onRevoke func(kind, id string), onState func(live bool)) {
	Listen(ctx, rdb, Channel(namespace), log, func(payload string) {
		if kind, id, ok := strings.Cut(payload, ":"); ok {
			onRevoke(kind, id)
		}
	}, onState)
}

// Listen delivers a channel's messages until ctx ends, resubscribing after
// failures; onState(false) runs on every interruption, onState(true) on
// every (re)subscription.
func Listen(ctx context.Context, rdb *redis.Client, channel string, log *slog.Logger, onMessage func(payload string), onState func(live bool)) {
	for ctx.Err() == nil {
		ps := rdb.Subscribe(ctx, channel)
		// A blocked Receive does not notice ctx; closing the subscription does.
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
		for {
			msg, err := ps.Receive(ctx)
			if err != nil {
				if ctx.Err() == nil {
					log.WarnContext(ctx, "subscription interrupted", "channel", channel, "error", err)
					onState(false)
				}
				break
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					onState(true)
				}
			case *redis.Message:
				onMessage(m.Payload)
			}
		}
		stop()
		_ = ps.Close()
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}
