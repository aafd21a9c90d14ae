package ingest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/central/broker"
	"github.com/parkgrid/parkgrid/central/ingest"
	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// BenchmarkIngestPostgres measures central ingest end to end: signed
// batches published at QoS 1 to the embedded broker, received by one
// Ingester (Ed25519 verify, OCMF P-256 verify, group commit into PostgreSQL,
// PUBACK, ack), until every gateway's last seq is acked. b.N is the number
// of batches; run it with -benchtime=3000x. In the same run it measures the
// ceilings: raw Ed25519 and P-256 verifies per second on all cores, and raw
// COPY of the same reading rows into the same PostgreSQL schema.
//
// Mixes: "100r-1ocmf" (100 readings per batch, one of them an OCMF
// snapshot) and "10r-10ocmf" (10 readings, every one a snapshot).
func BenchmarkIngestPostgres(b *testing.B) {
	for _, mix := range []struct {
		name            string
		readings, ocmfs int
	}{
		{"100r-1ocmf", 100, 1},
		{"10r-10ocmf", 10, 10},
	} {
		b.Run(mix.name, func(b *testing.B) { benchIngest(b, mix.readings, mix.ocmfs) })
	}
}

const benchGateways = 10

func benchIngest(b *testing.B, readingsPer, ocmfPer int) {
	dsn := svctest.PostgresDSN(b)
	ctx := context.Background()
	st, err := postgres.Open(ctx, dsn, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	brk, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer brk.Close()

	gws := make([]ed25519.PrivateKey, benchGateways)
	meter := newKeys(b, 9).meter
	for g := range gws {
		seed := sha256.Sum256([]byte{byte(g), 'b'})
		gws[g] = ed25519.NewKeyFromSeed(seed[:])
		site := fmt.Sprintf("site-%d", g)
		if err := st.EnrollGateway(ctx, store.Gateway{ID: fmt.Sprintf("gw-%d", g), Site: site, PublicKey: gws[g].Public().(ed25519.PublicKey)}); err != nil {
			b.Fatal(err)
		}
		for m := range ocmfPer {
			if err := st.SetMeterKey(ctx, store.MeterKey{Site: site, Device: fmt.Sprintf("meter-%d", m), PublicKey: meterPubHex(b, meter)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	snaps := make([]string, 64)
	for i := range snaps {
		snaps[i] = snapshot(b, meter, 1000+i)
	}

	// Messages, round-robin over gateways so each gateway's seqs are 1, 2, …
	msgs := make([][]byte, b.N)
	topics := make([]string, b.N)
	last := make(map[string]uint64)
	for i := range b.N {
		g := i % benchGateways
		seq := uint64(i/benchGateways + 1)
		gw, site := fmt.Sprintf("gw-%d", g), fmt.Sprintf("site-%d", g)
		bt := reading.Batch{Version: reading.CurrentVersion, Site: site, Gateway: gw, Seq: seq, Sent: t0}
		for r := range readingsPer {
			rd := reading.Reading{Time: t0.Add(time.Duration(i*readingsPer+r) * time.Millisecond), Device: fmt.Sprintf("meter-%d", r%max(ocmfPer, 1)),
				Point: fmt.Sprintf("cp-%d", r%50), Quantity: reading.QPowerW, Value: int64(r * 10)}
			if r < ocmfPer {
				rd.Quantity, rd.OCMF, rd.Session = reading.QSnapshot, snaps[(i+r)%len(snaps)], "s"
			}
			bt.Readings = append(bt.Readings, rd)
		}
		msgs[i], topics[i] = seal(b, bt, gws[g]), reading.BatchTopic(site)
		last[gw] = seq
	}

	in, err := ingest.New(ingest.Config{Broker: brk.URL(), ClientID: "bench-central", AckKey: ackKey}, st, ingest.NewOCMF(),
		ingest.Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := in.Run(runCtx); err != nil {
			b.Error(err)
		}
	})
	defer func() { stop(); wg.Wait() }()
	<-in.Ready()

	pub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(brk.URL()).SetClientID("bench-edges").SetOrderMatters(false))
	if tok := pub.Connect(); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	var pending atomic.Int64
	pending.Store(int64(len(last)))
	allAcked := make(chan struct{})
	var mu sync.Mutex
	acked := make(map[string]bool)
	if tok := pub.Subscribe("parkgrid/v1/+/down/ack", 1, func(_ mqtt.Client, m mqtt.Message) {
		a, err := reading.OpenAck(m.Payload(), ackPub)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if a.Seq == last[a.Gateway] && !acked[a.Gateway] {
			acked[a.Gateway] = true
			if pending.Add(-1) == 0 {
				close(allAcked)
			}
		}
	}); !tok.WaitTimeout(deadline) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}

	var env reading.Envelope
	if err := json.Unmarshal(msgs[0], &env); err != nil {
		b.Fatal(err)
	}
	ceilingDSN := copySchema(b, dsn)
	ceilingItems := make([]store.Item, len(msgs))
	for i, msg := range msgs {
		bt, body, err := reading.Open(msg, func(string) (ed25519.PublicKey, error) { return gws[i%benchGateways].Public().(ed25519.PublicKey), nil })
		if err != nil {
			b.Fatal(err)
		}
		ceilingItems[i] = store.Item{Gateway: bt.Gateway, Seq: bt.Seq, Batch: bt, Body: body, OCMFVerified: true}
	}
	ed1, p1 := verifyCeilings(b, meter, len(env.Body))
	copy1 := copyCeiling(b, ceilingDSN, ceilingItems)

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	const window = 256
	toks := make([]mqtt.Token, 0, window)
	for i := range msgs {
		toks = append(toks, pub.Publish(topics[i], 1, false, msgs[i]))
		if len(toks) == window {
			toks[0].Wait()
			toks = toks[1:]
		}
	}
	select {
	case <-allAcked:
	case <-time.After(10 * time.Minute):
		b.Fatal("not every batch was acked")
	}
	elapsed := time.Since(start)
	b.StopTimer()

	s := in.Stats()
	if s.BatchesStored != int64(b.N) || s.TotalRejected() != 0 {
		b.Fatalf("stats %+v, want %d stored, none rejected", s, b.N)
	}
	readingsPerSec := float64(b.N*readingsPer) / elapsed.Seconds()
	// The better of two measurements, before and after: the ratio errs low.
	ed2, p2 := verifyCeilings(b, meter, len(env.Body))
	ed, p256 := max(ed1, ed2), max(p1, p2)
	verifyCeiling := float64(readingsPer) / (1/ed + float64(ocmfPer)/p256)
	storeCeiling := max(copy1, copyCeiling(b, ceilingDSN, ceilingItems))
	ceiling := min(verifyCeiling, storeCeiling)
	b.ReportMetric(readingsPerSec, "readings/s")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "batches/s")
	b.ReportMetric(ed, "ed25519-verify/s")
	b.ReportMetric(p256, "p256-verify/s")
	b.ReportMetric(verifyCeiling, "verify-ceiling-readings/s")
	b.ReportMetric(storeCeiling, "copy-ceiling-readings/s")
	b.ReportMetric(100*readingsPerSec/ceiling, "%-of-ceiling")
	b.ReportMetric(float64(s.Groups), "groups")
	b.Logf("GOMAXPROCS=%d; %d batches × %d readings (%d OCMF) in %v: %.0f readings/s; ceilings: verify %.0f, copy %.0f readings/s",
		runtime.GOMAXPROCS(0), b.N, readingsPer, ocmfPer, elapsed.Round(time.Millisecond), readingsPerSec, verifyCeiling, storeCeiling)
}

// verifyCeilings measures raw verifications per second on all cores:
// Ed25519 over a body of bodyLen bytes, P-256 over an OCMF payload.
func verifyCeilings(b *testing.B, meter *ecdsa.PrivateKey, bodyLen int) (ed25519PerSec, p256PerSec float64) {
	_, key, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, bodyLen)
	sig := ed25519.Sign(key, msg)
	pub := key.Public().(ed25519.PublicKey)
	rec, err := ocmf.Parse(snapshot(b, meter, 1))
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256(rec.Payload)
	p256sig, err := ecdsa.SignASN1(nil, meter, digest[:])
	if err != nil {
		b.Fatal(err)
	}
	rate := func(f func() bool) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(time.Second)
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for time.Now().Before(end) {
					if !f() {
						b.Error("verify failed")
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(n.Load())
	}
	ed25519PerSec = rate(func() bool { return ed25519.Verify(pub, msg, sig) })
	p256PerSec = rate(func() bool {
		d := sha256.Sum256(rec.Payload)
		return ecdsa.VerifyASN1(&meter.PublicKey, d[:], p256sig)
	})
	return ed25519PerSec, p256PerSec
}

// copySchema makes a schema "ceiling" with the store's tables in the
// database of dsn and returns a DSN that uses it.
func copySchema(b *testing.B, dsn string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS ceiling`); err != nil {
		b.Fatal(err)
	}
	cdsn := dsn + "&search_path=ceiling"
	st, err := postgres.Open(ctx, cdsn, postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	return cdsn
}

// copyCeiling measures the raw COPY of the benchmark's own reading and
// snapshot rows (the same batches, decoded beforehand) into the store's
// tables in the ceiling schema (same layout, same indexes, logged), with
// the store's own encoding and COPY (postgres.CopyContents): one COPY per
// table and one commit per group of 256 batches, as the pipeline at full
// load. Not included: the batch rows (raw bodies), gateway progress,
// verification, JSON. It runs for about a second and returns readings/s.
func copyCeiling(b *testing.B, dsn string, items []store.Item) float64 {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `TRUNCATE readings, snapshots, events`); err != nil {
		b.Fatal(err)
	}
	const batchesPerTx = 256
	var readings int
	group := make([]store.Item, 0, batchesPerTx)
	next, round := 0, uint64(0)
	start := time.Now()
	for time.Since(start) < time.Second {
		group = group[:0]
		for len(group) < batchesPerTx {
			if next == len(items) {
				next, round = 0, round+1 // past the end: the same rows under new seqs
			}
			it := items[next]
			it.Seq += round * uint64(len(items))
			group = append(group, it)
			readings += len(it.Batch.Readings)
			next++
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return postgres.CopyContents(ctx, tx, group) }); err != nil {
			b.Fatal(err)
		}
	}
	return float64(readings) / time.Since(start).Seconds()
}
