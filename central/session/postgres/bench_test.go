package postgres_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/postgres"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// fixedSnapshots answers every session with the same signed begin and end
// records, so the benchmark measures central, not the meter's signing.
type fixedSnapshots []session.Snapshot

func (f fixedSnapshots) SessionSnapshots(context.Context, string, string, string) ([]session.Snapshot, error) {
	return f, nil
}

// BenchmarkSessionsCompleted measures whole sessions per second on
// PostgreSQL: Start (store, authorise the hold with the fake provider,
// store authorized), Charging, Stop, Complete (measure the OCMF records,
// price, store completed, capture, then completed → invoiced with the
// invoice number in one transaction). Five committed transactions per
// session; 4×GOMAXPROCS goroutines, one pool.
func BenchmarkSessionsCompleted(b *testing.B) {
	db := pool(b, svctest.PostgresDSN(b))
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		b.Fatal(err)
	}
	t0 := sessiontest.T0
	snaps := fixedSnapshots(sessiontest.Verified(m.Record(1, "B", 1_000, t0), m.Record(2, "E", 13_345, t0.Add(30*time.Minute))))
	var n atomic.Int64
	run := func(b *testing.B, operators int) {
		svc, err := session.New(session.Config{
			Store: postgres.New(db), Payments: fake.New(fake.Options{AutoApprove: true, Now: func() time.Time { return t0 }}),
			Snapshots: snaps, Issuers: sessiontest.Issuers{},
		})
		if err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				k := n.Add(1)
				id := fmt.Sprintf("s-%d", k)
				r := session.StartRequest{ID: id, Operator: fmt.Sprintf("op-%d", k%int64(operators)), Site: "mitte", Point: "cp-07", Meter: "m-07",
					Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Fee: payment.Fee{BP: 150}}}
				if _, err := svc.Start(ctx, r, t0); err != nil {
					b.Error(err)
					return
				}
				if _, err := svc.Charging(ctx, id, "edge", t0); err != nil {
					b.Error(err)
					return
				}
				if _, err := svc.Stop(ctx, id, "edge", t0.Add(30*time.Minute)); err != nil {
					b.Error(err)
					return
				}
				s, err := svc.Complete(ctx, id, t0.Add(31*time.Minute))
				if err != nil || s.State != session.StateInvoiced {
					b.Errorf("complete %s: %s, %v", id, s.State, err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	}
	b.Run("one-operator", func(b *testing.B) { run(b, 1) })
	b.Run("8-operators", func(b *testing.B) { run(b, 8) })
}
