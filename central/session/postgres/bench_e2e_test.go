package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/postgres"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/session/storesnap"
	"github.com/parkgrid/parkgrid/central/store"
	storepg "github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// BenchmarkSessionsEndToEnd measures whole sessions per second on
// PostgreSQL with the snapshots going through the ingest store, as in
// production: the begin snapshot is stored as an edge batch, then Start
// (hold with the fake provider), Charging, the end snapshot's batch, Stop,
// Complete — which reads both signed records back from the ingest store
// (storesnap), measures, prices, stores completed, captures, and moves
// completed → invoiced with the invoice number in one transaction. Seven
// committed transactions per session; 4×GOMAXPROCS goroutines. The
// records are signed once, outside the loop (signing is the meter's work).
func BenchmarkSessionsEndToEnd(b *testing.B) {
	dsn := svctest.PostgresDSN(b)
	db := pool(b, dsn)
	ingest, err := storepg.Open(context.Background(), dsn, storepg.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ingest.Close() })
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		b.Fatal(err)
	}
	t0 := sessiontest.T0
	begin, end := m.Record(1, "B", 1_000, t0), m.Record(2, "E", 13_345, t0.Add(30*time.Minute))
	svc, err := session.New(session.Config{
		Store: postgres.New(db), Payments: fake.New(fake.Options{AutoApprove: true, Now: func() time.Time { return t0 }}),
		Snapshots: storesnap.New(ingest), Issuers: sessiontest.Issuers{},
	})
	if err != nil {
		b.Fatal(err)
	}
	var seq, n atomic.Int64
	batch := func(ctx context.Context, id, rec string) error {
		k := uint64(seq.Add(1))
		bt := reading.Batch{Version: reading.CurrentVersion, Site: "mitte", Gateway: "gw-1", Seq: k, Sent: t0,
			Readings: []reading.Reading{{Time: t0, Device: "m-07", Point: "cp-07", Quantity: reading.QSnapshot, OCMF: rec, Session: id}}}
		body, err := json.Marshal(bt)
		if err != nil {
			return err
		}
		_, err = ingest.SaveBatches(ctx, []store.Item{{Gateway: "gw-1", Seq: k, Batch: bt, Body: body, OCMFVerified: true}})
		return err
	}
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := fmt.Sprintf("e2e-%d", n.Add(1))
			r := session.StartRequest{ID: id, Operator: "op", Site: "mitte", Point: "cp-07", Meter: "m-07",
				Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Fee: payment.Fee{BP: 150}}}
			steps := []func() error{
				func() error { return batch(ctx, id, begin) },
				func() error { _, err := svc.Start(ctx, r, t0); return err },
				func() error { _, err := svc.Charging(ctx, id, "edge", t0); return err },
				func() error { return batch(ctx, id, end) },
				func() error { _, err := svc.Stop(ctx, id, "edge", t0.Add(30*time.Minute)); return err },
				func() error {
					s, err := svc.Complete(ctx, id, t0.Add(31*time.Minute))
					if err == nil && s.State != session.StateInvoiced {
						err = fmt.Errorf("ended %s, review %v", s.State, s.Review)
					}
					return err
				},
			}
			for i, step := range steps {
				if err := step(); err != nil {
					b.Errorf("session %s step %d: %v", id, i, err)
					return
				}
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}
