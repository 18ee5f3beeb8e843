package audit

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	auditv1 "github.com/pythorix/pythorix/gen/go/pythorix/audit/v1"
)

// Sustained appends with fsync on (the test Postgres runs with the default
// synchronous_commit): batches of 100 events, as the relays send them.
func benchAppend(b *testing.B, chains int) {
	s, _ := testStore(b)
	ctx := context.Background()
	orgs := make([]string, chains)
	for i := range orgs {
		orgs[i] = uuid.NewString()
	}
	const batch = 100
	var next atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// Each batch goes to one chain, round robin over the chains.
			n := next.Add(1)
			in := make([]*auditv1.EventInput, batch)
			for j := range in {
				in[j] = input(orgs[int(n)%chains], j)
			}
			if _, _, err := s.Append(ctx, in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppendOneChain(b *testing.B)      { benchAppend(b, 1) }
func BenchmarkAppendHundredChains(b *testing.B) { benchAppend(b, 100) }

// BenchmarkVerify recomputes a 10,000-event chain.
func BenchmarkVerify(b *testing.B) {
	s, _ := testStore(b)
	ctx := context.Background()
	org := uuid.NewString()
	for range 100 {
		appendN(b, s, org, 100)
	}
	b.ResetTimer()
	for b.Loop() {
		v, err := s.Verify(ctx, org, ChainOf(org), 0, 0)
		if err != nil || !v.OK {
			b.Fatal(v, err)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "events/s")
}
