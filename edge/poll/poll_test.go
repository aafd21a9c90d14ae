package poll

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock/clocktest"
	"github.com/parkgrid/parkgrid/edge/site"
	"github.com/parkgrid/parkgrid/edge/site/sitetest"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// harness runs one poller on a fake clock and steps it.
type harness struct {
	t      *testing.T
	clk    *clocktest.Fake
	state  *site.State
	p      *Poller
	loops  int // schedules: one for DI modules, one for the rest
	ctx    context.Context
	mu     sync.Mutex // protects events and order
	events []Event
	order  []string
}

func start(t *testing.T, devs []Device, opt Options) *harness {
	t.Helper()
	h := &harness{t: t, clk: clocktest.New(t0)}
	var specs []site.Spec
	for _, d := range devs {
		specs = append(specs, site.Spec{ID: d.ID, Bus: "b", Interval: d.Interval})
	}
	h.state = site.New(specs)
	opt.Clock = h.clk
	opt.OnEvent = func(e Event) { h.mu.Lock(); h.events = append(h.events, e); h.mu.Unlock() }
	opt.OnPoll = func(id string, _ time.Time, _ error) { h.mu.Lock(); h.order = append(h.order, id); h.mu.Unlock() }
	p, err := New("b", devs, h.state, opt)
	if err != nil {
		t.Fatal(err)
	}
	h.p = p
	var di, other bool
	for _, d := range devs {
		di, other = di || d.Contacts != nil, other || d.Contacts == nil
	}
	h.loops = 1
	if di && other {
		h.loops = 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.ctx = ctx
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Run returned %v", err)
		}
	})
	h.idle()
	return h
}

// idle waits until the poller is waiting on its timer again.
func (h *harness) idle() {
	h.t.Helper()
	if err := h.clk.BlockUntil(h.ctx, h.loops); err != nil {
		h.t.Fatal("poller never went idle")
	}
}

// step advances the fake clock in increments of d, n times, letting the
// poller finish each time.
func (h *harness) step(d time.Duration, n int) {
	h.t.Helper()
	for range n {
		h.clk.Advance(d)
		h.idle()
	}
}

func (h *harness) kinds() []EventKind {
	h.mu.Lock()
	defer h.mu.Unlock()
	var k []EventKind
	for _, e := range h.events {
		k = append(k, e.Kind)
	}
	return k
}

func TestPollsAtIntervalsAndGoesStale(t *testing.T) {
	m := &sitetest.Meter{}
	m.Set(drivers.MeterSample{CurrentMA: [3]int64{1000, 2000, 3000}, ImportWh: 5}, nil)
	di := sitetest.NewContacts(1)
	h := start(t, []Device{
		{ID: "m", Interval: time.Second, Meter: m},
		{ID: "di", Interval: 100 * time.Millisecond, Contacts: di},
	}, Options{})
	h.step(100*time.Millisecond, 20) // 2 s
	if got := di.Reads(); got != 21 {
		t.Errorf("DI read %d times in 2 s at 100 ms, want 21", got)
	}
	if got := m.Reads(); got != 3 {
		t.Errorf("meter read %d times in 2 s at 1 s, want 3", got)
	}
	now := h.clk.Now()
	r := h.state.Meter("m", now)
	if r.Stale || r.Value.CurrentMA[2] != 3000 || !r.At.Equal(t0.Add(2*time.Second)) {
		t.Errorf("meter reading = %+v", r)
	}
	c := h.state.Contacts("di", now)
	if closed, ok := c.Value.IsClosed(0); !ok || !closed || c.Stale {
		t.Errorf("contacts = %+v", c)
	}
	// The meter stops answering: its value ages, stale after 3 intervals.
	m.Set(drivers.MeterSample{}, drivers.ErrTimeout)
	h.step(time.Second, 3)
	if r := h.state.Meter("m", h.clk.Now()); r.Stale {
		t.Errorf("stale after exactly 3 intervals: %+v", r)
	}
	h.step(100*time.Millisecond, 1)
	if r := h.state.Meter("m", h.clk.Now()); !r.Stale || r.Value.CurrentMA[2] != 3000 {
		t.Errorf("want the old value marked stale, got %+v", r)
	}
}

func TestOfflineOnlineEventsAndBackoff(t *testing.T) {
	m := &sitetest.Meter{}
	h := start(t, []Device{{ID: "m", Interval: time.Second, Meter: m}}, Options{MaxBackoff: 4 * time.Second})
	m.Set(drivers.MeterSample{}, drivers.ErrTimeout)
	h.step(time.Second, 3) // failures 1..3 (t=0 was good)
	if k := h.kinds(); len(k) != 1 || k[0] != EventOffline {
		t.Fatalf("events = %v, want one offline", k)
	}
	hl, _ := h.state.DeviceHealth("m")
	if !hl.Offline || hl.Failures != 3 {
		t.Errorf("health = %+v", hl)
	}
	// Backoff: 2 s, then 4 s (capped) between reads while offline.
	before := m.Reads()
	h.step(time.Second, 12)
	if got := m.Reads() - before; got < 3 || got > 5 {
		t.Errorf("offline device read %d times in 12 s, want 3..5 with backoff", got)
	}
	m.Set(drivers.MeterSample{ImportWh: 1}, nil)
	h.step(time.Second, 5)
	if k := h.kinds(); len(k) != 2 || k[1] != EventOnline {
		t.Errorf("events = %v, want offline then online", k)
	}
	if st := h.p.Stats(); st.Offline != 1 || st.Failures == 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestPanickingDriverIsAnError(t *testing.T) {
	di := sitetest.NewContacts(0)
	di.SetPanic(true)
	h := start(t, []Device{{ID: "di", Interval: 100 * time.Millisecond, Contacts: di}}, Options{})
	h.step(100*time.Millisecond, 3)
	if k := h.kinds(); len(k) != 1 || k[0] != EventOffline {
		t.Fatalf("events = %v", k)
	}
	if hl, _ := h.state.DeviceHealth("di"); hl.LastErr == "" {
		t.Errorf("health = %+v", hl)
	}
}

func TestFrozenCounter(t *testing.T) {
	m := &sitetest.Meter{}
	// 11 kW and a counter that never moves: 5 polls expect ~15 Wh at 1 s,
	// so frozen after 7 polls (≥ 20 Wh).
	m.Set(drivers.MeterSample{PowerW: 11000, CurrentMA: [3]int64{16000, 16000, 16000}, ImportWh: 1000}, nil)
	h := start(t, []Device{{ID: "m", Interval: time.Second, Meter: m}}, Options{})
	h.step(time.Second, 5)
	if len(h.kinds()) != 0 {
		t.Fatalf("frozen too early: %v", h.kinds())
	}
	h.step(time.Second, 3)
	if k := h.kinds(); len(k) != 1 || k[0] != EventFrozen {
		t.Fatalf("events = %v, want frozen", k)
	}
	if r := h.state.Meter("m", h.clk.Now()); !r.Frozen {
		t.Error("reading not flagged frozen")
	}
	m.Set(drivers.MeterSample{PowerW: 11000, ImportWh: 1003}, nil)
	h.step(time.Second, 1)
	if k := h.kinds(); len(k) != 2 || k[1] != EventThawed {
		t.Errorf("events = %v, want thawed", k)
	}
	// No current: a still counter is fine.
	m.Set(drivers.MeterSample{ImportWh: 1003}, nil)
	h.step(time.Second, 20)
	if len(h.kinds()) != 2 {
		t.Errorf("idle meter flagged: %v", h.kinds())
	}
}

// stuckMeter is a meter whose reads hang until released (a dead unit
// holding its bus for a whole timeout).
type stuckMeter struct {
	entered chan struct{}
	release chan struct{}
}

func (m *stuckMeter) Sample(ctx context.Context) (drivers.MeterSample, error) {
	select {
	case m.entered <- struct{}{}:
	default:
	}
	select {
	case <-m.release:
	case <-ctx.Done():
	}
	return drivers.MeterSample{}, errors.New("timeout")
}

// TestContactsNotHeldByADeadDevice: the fire-alarm module is read on a
// schedule of its own, so a device on the same bus whose read hangs does
// not keep the module unread (its requests then reach the bus's priority
// lane, see drivers/modbus).
func TestContactsNotHeldByADeadDevice(t *testing.T) {
	dead := &stuckMeter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	di := sitetest.NewContacts(0)
	clk := clocktest.New(t0)
	st := site.New([]site.Spec{{ID: "dead", Interval: time.Second}, {ID: "di", Interval: 100 * time.Millisecond}})
	polled := make(chan string, 100)
	p, err := New("b", []Device{{ID: "dead", Interval: time.Second, Meter: dead}, {ID: "di", Interval: 100 * time.Millisecond, Contacts: di}}, st,
		Options{Clock: clk, OnPoll: func(id string, _ time.Time, _ error) { polled <- id }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); close(dead.release); <-done }()
	select {
	case <-dead.entered: // the dead device's read hangs from here on
	case <-ctx.Done():
		t.Fatal("dead device never read")
	}
	for i := range 5 {
		clk.Advance(100 * time.Millisecond)
		for got := false; !got; {
			select {
			case id := <-polled:
				got = id == "di"
			case <-ctx.Done():
				t.Fatalf("DI read %d times while a device on its bus hangs, want 5 (read %d)", i, di.Reads())
			}
		}
	}
}

func TestNewRejectsBadDevices(t *testing.T) {
	st := site.New(nil)
	if _, err := New("b", []Device{{ID: "x", Interval: time.Second}}, st, Options{}); err == nil {
		t.Error("device with no reader accepted")
	}
	if _, err := New("b", []Device{{ID: "x", Meter: &sitetest.Meter{}}}, st, Options{}); err == nil {
		t.Error("device with no interval accepted")
	}
}
