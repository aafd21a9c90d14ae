package ocpp

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock/clocktest"
)

// fakeLimiter records the limits a client sets.
type fakeLimiter struct {
	mu     sync.Mutex
	limits map[string]int64 // source → mA
}

func (f *fakeLimiter) SetPointLimit(_, source string, maxMA int64, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limits == nil {
		f.limits = map[string]int64{}
	}
	f.limits[source] = maxMA
	return nil
}

func (f *fakeLimiter) ClearPointLimit(_, source string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.limits, source)
	return nil
}

func (f *fakeLimiter) get(source string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.limits[source]
	return v, ok
}

// fakePoints serves one view.
type fakePoints struct {
	mu sync.Mutex
	v  PointView
}

func (f *fakePoints) View(string, time.Time) (PointView, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v, true
}

func (f *fakePoints) set(mod func(*PointView)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mod(&f.v)
}

// fakeMeter signs snapshots.
type fakeMeter struct{ n int }

func (m *fakeMeter) Snapshot(_ context.Context, kind drivers.SnapshotKind, id string) (string, error) {
	m.n++
	return "OCMF|{\"TX\":\"" + kind.String() + "\",\"ID\":\"" + id + "\"}|{\"SD\":\"00\"}", nil
}

func newTestClient(t *testing.T, file string) (*Client, *fakeLimiter, *fakePoints, *clocktest.Fake) {
	t.Helper()
	lim, pts := &fakeLimiter{}, &fakePoints{v: PointView{State: "A", HasMeter: true, EnergyWh: 1000, SetpointMA: 16000, Phases: 3, MaxMA: 32000}}
	clk := clocktest.New(t0)
	c, err := New(Config{Point: "cp-1", Identity: "CP1", URL: "ws://127.0.0.1:1/ocpp", StateFile: file,
		SampleInterval: time.Minute, Limiter: lim, Points: pts, Meter: &fakeMeter{}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	return c, lim, pts, clk
}

// A transaction started and ended while the CSMS is unreachable: every
// message waits on disk in order; after a restart the CSMS's transaction
// id, once StartTransaction is answered, goes into every later message.
func TestOfflineTransactionQueuedAndMapped(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cp-1.json")
	c, lim, pts, clk := newTestClient(t, file)
	ctx := context.Background()
	if v, ok := lim.get(SourceAccess); !ok || v != 0 {
		t.Fatalf("access gate before any authorisation: %d, %v; want 0 mA", v, ok)
	}
	pts.set(func(v *PointView) { v.State = "B" })
	c.step(ctx, clk.Now())
	if _, ok := lim.get(SourceAccess); !ok {
		t.Fatal("the gate opened without authorisation")
	}
	// A RemoteStart came in before the link dropped.
	if conf, _ := (&handler{c: c}).OnRemoteStartTransaction(&core.RemoteStartTransactionRequest{IdTag: "TAG1"}); conf.Status != types.RemoteStartStopStatusAccepted {
		t.Fatalf("RemoteStart: %s", conf.Status)
	}
	c.step(ctx, clk.Now())
	if _, ok := lim.get(SourceAccess); ok {
		t.Fatal("the gate stays closed after the transaction started")
	}
	for i := range 60 {
		clk.Advance(time.Minute)
		pts.set(func(v *PointView) { v.State, v.EnergyWh = "C", 1000+int64(i+1)*100 })
		c.step(ctx, clk.Now())
	}
	pts.set(func(v *PointView) { v.State = "A" })
	c.step(ctx, clk.Now())
	if v, ok := lim.get(SourceAccess); !ok || v != 0 {
		t.Fatal("the gate did not close at the end")
	}

	// Restart: the queue comes back from disk.
	c2, _, _, _ := newTestClient(t, file)
	q := c2.st.Queue
	if len(q) != 1+1+60+1 || q[0].Action != actStart || q[1].Action != actMeterValues || q[len(q)-1].Action != actStop {
		t.Fatalf("queue after restart: %d messages, first %s, last %s", len(q), q[0].Action, q[len(q)-1].Action)
	}
	for i := 1; i < len(q); i++ {
		if q[i].Seq <= q[i-1].Seq {
			t.Fatalf("queue out of order at %d", i)
		}
	}
	// The CSMS answers the start with its id; later messages carry it.
	req, err := buildRequest(q[0], 0, false)
	if err != nil {
		t.Fatal(err)
	}
	if r := req.(*core.StartTransactionRequest); r.MeterStart != 1000 || r.IdTag != "TAG1" {
		t.Errorf("start: %+v", r)
	}
	c2.pop(q[0].Seq, &core.StartTransactionConfirmation{TransactionId: 77, IdTagInfo: &types.IdTagInfo{Status: types.AuthorizationStatusAccepted}})
	var last *core.StopTransactionRequest
	for len(c2.st.Queue) > 0 {
		m := c2.st.Queue[0]
		id, known := c2.st.TxIDs[m.LocalTx]
		req, err := buildRequest(m, id, known)
		if err != nil {
			t.Fatal(err)
		}
		switch r := req.(type) {
		case *core.MeterValuesRequest:
			if r.TransactionId == nil || *r.TransactionId != 77 {
				t.Fatalf("meter values without the CSMS's id: %+v", r)
			}
		case *core.StopTransactionRequest:
			last = r
		}
		c2.pop(m.Seq, nil)
	}
	if last == nil || last.TransactionId != 77 || last.MeterStop != 7000 || last.Reason != core.ReasonEVDisconnected {
		t.Fatalf("stop: %+v", last)
	}
	end := last.TransactionData[0].SampledValue
	if !strings.HasPrefix(end[len(end)-1].Value, "OCMF|") || end[len(end)-1].Format != types.ValueFormatSignedData || end[len(end)-1].Context != types.ReadingContextTransactionEnd {
		t.Errorf("stop carries no signed end value: %+v", end)
	}
	if len(c2.st.TxIDs) != 0 {
		t.Errorf("ids kept after the stop was sent: %v", c2.st.TxIDs)
	}
}

// A StartTransaction answered with an invalid id tag stops the
// transaction (StopTransactionOnInvalidId).
func TestInvalidIDTagStops(t *testing.T) {
	c, _, pts, clk := newTestClient(t, filepath.Join(t.TempDir(), "s.json"))
	ctx := context.Background()
	pts.set(func(v *PointView) { v.State = "C" })
	(&handler{c: c}).OnRemoteStartTransaction(&core.RemoteStartTransactionRequest{IdTag: "TAG1"})
	c.step(ctx, clk.Now())
	c.pop(c.st.Queue[0].Seq, &core.StartTransactionConfirmation{TransactionId: 5, IdTagInfo: &types.IdTagInfo{Status: types.AuthorizationStatusBlocked}})
	clk.Advance(time.Second)
	c.step(ctx, clk.Now())
	if c.st.Tx != nil {
		t.Fatal("transaction still running with a blocked id tag")
	}
	q := c.st.Queue
	m := q[len(q)-1]
	req, _ := buildRequest(m, c.st.TxIDs[m.LocalTx], true)
	if r, ok := req.(*core.StopTransactionRequest); !ok || r.Reason != core.ReasonDeAuthorized {
		t.Fatalf("last message %+v, want a StopTransaction DeAuthorized", req)
	}
}

func TestStateFileRefusesDamage(t *testing.T) {
	file := filepath.Join(t.TempDir(), "s.json")
	f := stateFile{path: file}
	st := State{NextSeq: 1, TxIDs: map[int]int{1: 2}}
	if _, err := st.enqueue(actStart, 1, map[string]int{"meterStart": 5}, t0); err != nil {
		t.Fatal(err)
	}
	if err := f.save(&st); err != nil {
		t.Fatal(err)
	}
	got, err := f.load()
	if err != nil || len(got.Queue) != 1 || got.TxIDs[1] != 2 {
		t.Fatalf("load: %+v, %v", got, err)
	}
	b, _ := os.ReadFile(file)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.load(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged file: %v, want ErrCorrupt", err)
	}
	// A client over the damaged file starts empty and keeps the file aside.
	c, _, _, _ := newTestClient(t, file)
	if len(c.st.Queue) != 0 {
		t.Fatalf("queue from a damaged file: %d", len(c.st.Queue))
	}
	aside, _ := filepath.Glob(file + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("damaged file not kept aside: %v", aside)
	}
}

func TestQueueBoundKeepsTransactions(t *testing.T) {
	var st State
	periodic := map[string]any{"meterValue": []any{map[string]any{"sampledValue": []any{map[string]any{"value": "1"}}}}}
	signedMV := map[string]any{"meterValue": []any{map[string]any{"sampledValue": []any{map[string]any{"value": "OCMF|x", "format": "SignedData"}}}}}
	st.enqueue(actStart, 1, map[string]any{}, t0)
	st.enqueue(actMeterValues, 1, signedMV, t0)
	dropped := 0
	for range MaxQueue {
		n, _ := st.enqueue(actMeterValues, 1, periodic, t0)
		dropped += n
	}
	st.enqueue(actStop, 1, map[string]any{}, t0)
	if len(st.Queue) != MaxQueue || dropped != 2 {
		t.Fatalf("queue %d (dropped %d), want %d", len(st.Queue), dropped, MaxQueue)
	}
	if st.Queue[0].Action != actStart || !signed(st.Queue[1].Payload) || st.Queue[len(st.Queue)-1].Action != actStop {
		t.Fatal("the bound dropped a start, stop or signed value")
	}
}

func FuzzStateFile(f *testing.F) {
	f.Add([]byte("00000000 {}\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file := filepath.Join(t.TempDir(), "s.json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := stateFile{path: file}.load()
		if err == nil && (st.TxIDs == nil || st.Config == nil) {
			t.Fatal("loaded without maps")
		}
	})
}

func TestBackoff(t *testing.T) {
	r := newRand()
	for n := range 20 {
		d := backoff(n, time.Second, time.Minute, r)
		base := min(time.Second<<n, time.Minute)
		if n > 6 {
			base = time.Minute
		}
		if d < base*3/4 || d > base*5/4 {
			t.Errorf("attempt %d: %s, want %s ± 25 %%", n, d, base)
		}
	}
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
