package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// fakeMeter signs records "OCMF|{"PG":"T<n>","ID":"<id>","TX":"<k>"}|{}".
type fakeMeter struct {
	mu    sync.Mutex // protects the fields below
	pages int
	last  string
	// hang: after signing, Snapshot waits for ctx (IOTimeout) instead of
	// returning, like an edge that stopped while reading the record.
	hang bool
	fail error // Snapshot fails without signing
	hung chan struct{}
}

func newFakeMeter() *fakeMeter { return &fakeMeter{hung: make(chan struct{}, 10)} }

func (m *fakeMeter) Snapshot(ctx context.Context, kind drivers.SnapshotKind, id string) (string, error) {
	m.mu.Lock()
	if m.fail != nil {
		err := m.fail
		m.mu.Unlock()
		return "", err
	}
	m.pages++
	m.last = fmt.Sprintf(`OCMF|{"PG":"T%d","ID":%q,"TX":%q}|{}`, m.pages, id, string(kind))
	rec, hang := m.last, m.hang
	m.mu.Unlock()
	if hang {
		m.hung <- struct{}{}
		<-ctx.Done()
		return "", ctx.Err()
	}
	return rec, nil
}

func (m *fakeMeter) LastSnapshot(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, nil
}

func (m *fakeMeter) signed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pages
}

// fakeJournal keeps records in memory; it survives a "restart" (a new
// Manager on the same journal and state file).
type fakeJournal struct {
	mu      sync.Mutex // protects the fields below
	records []record
	holds   int
	fail    error
	// crashAfterStore cancels this when a record is stored, before the
	// manager can note it.
	crashAfterStore context.CancelFunc
	got             chan record
}

type record struct {
	seq uint64
	rs  []reading.Reading
	es  []reading.Event
}

func newFakeJournal() *fakeJournal { return &fakeJournal{got: make(chan record, 100)} }

func (j *fakeJournal) Store(_ context.Context, rs []reading.Reading, es []reading.Event) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return 0, j.fail
	}
	r := record{seq: uint64(len(j.records) + 1), rs: rs, es: es}
	j.records = append(j.records, r)
	j.got <- r
	if j.crashAfterStore != nil {
		j.crashAfterStore()
		j.crashAfterStore = nil
	}
	return r.seq, nil
}

func (j *fakeJournal) Hold() func() {
	j.mu.Lock()
	j.holds++
	j.mu.Unlock()
	return func() {
		j.mu.Lock()
		j.holds--
		j.mu.Unlock()
	}
}

func (j *fakeJournal) StoredSnapshots(after uint64) (map[string]bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := map[string]bool{}
	for _, r := range j.records[min(after, uint64(len(j.records))):] {
		for _, rd := range r.rs {
			if rd.OCMF != "" {
				out[rd.OCMF] = true
			}
		}
	}
	return out, nil
}

func (j *fakeJournal) Epoch() string { return "0123456789abcdef0123456789abcdef" }

// snapshots returns every stored OCMF of point, in order.
func (j *fakeJournal) snapshots() []reading.Reading {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []reading.Reading
	for _, r := range j.records {
		out = append(out, r.rs...)
	}
	return out
}

func (j *fakeJournal) events(kind string) []reading.Event {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []reading.Event
	for _, r := range j.records {
		for _, e := range r.es {
			if e.Kind == kind {
				out = append(out, e)
			}
		}
	}
	return out
}

// wait waits for the next stored record.
func (j *fakeJournal) wait(t *testing.T) record {
	t.Helper()
	select {
	case r := <-j.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("nothing stored")
		return record{}
	}
}

// fakeClock never fires on its own: retries happen when a test calls fire.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	chs []chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.chs = append(c.chs, ch)
	return ch
}

// fire moves time on and fires every waiting After.
func (c *fakeClock) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Second)
	for _, ch := range c.chs {
		ch <- c.now
	}
	c.chs = nil
}

type rig struct {
	t      *testing.T
	state  string
	meter  *fakeMeter
	j      *fakeJournal
	clock  *fakeClock
	m      *Manager
	stop   func()
	cancel context.CancelFunc // the running manager's context
}

func newRig(t *testing.T) *rig {
	return &rig{t: t, state: filepath.Join(t.TempDir(), "sessions.json"), meter: newFakeMeter(), j: newFakeJournal(),
		clock: &fakeClock{now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}}
}

// start builds a Manager on the rig's state and journal (a start of the
// edge) and runs it until stop.
func (r *rig) start() *Manager {
	r.t.Helper()
	m, err := New(Config{StateFile: r.state, Journal: r.j, Clock: r.clock, IOTimeout: 200 * time.Millisecond,
		Points: []Point{{ID: "p01", Device: "p01.meter", Meter: r.meter}}})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	var once sync.Once
	r.m, r.cancel = m, cancel
	r.stop = func() { once.Do(func() { cancel(); <-done }) }
	r.t.Cleanup(r.stop)
	return m
}

func TestBeginAndEnd(t *testing.T) {
	r := newRig(t)
	m := r.start()
	m.Observe("p01", false, r.clock.Now())
	m.ObserveCounter("p01", 12345)
	m.Observe("p01", true, r.clock.Now())
	begin := r.j.wait(t)
	if len(begin.es) != 1 || begin.es[0].Kind != EventBegin || begin.es[0].Attrs["began_while_down"] != "false" || begin.es[0].Attrs["energy_wh"] != "12345" {
		t.Fatalf("first record %+v, want the session-begin event", begin)
	}
	id := begin.es[0].Attrs["session"]
	if len(begin.rs) != 1 || begin.rs[0].Session != id || begin.rs[0].Quantity != reading.QSnapshot {
		t.Fatalf("first record %+v, want the begin snapshot of %s with it", begin, id)
	}
	m.Observe("p01", false, r.clock.Now())
	end := r.j.wait(t)
	if len(end.rs) != 1 || end.rs[0].Session != id || len(end.es) != 1 || end.es[0].Kind != EventEnd || end.es[0].Attrs["ended_while_down"] != "false" {
		t.Fatalf("second record %+v, want the end snapshot and session-end event", end)
	}
	deadline := time.Now().Add(5 * time.Second)
	for st := m.Stats(); st.Open != 0 || st.Pending != 0 || st.Stored != 2; st = m.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCarConnectedAtStartBeganWhileDown(t *testing.T) {
	r := newRig(t)
	m := r.start()
	m.Observe("p01", true, r.clock.Now())
	begin := r.j.wait(t)
	if begin.es[0].Attrs["began_while_down"] != "true" || len(begin.rs) != 1 {
		t.Fatalf("session-begin %+v, want the begin snapshot, began_while_down", begin)
	}
}

func TestSessionSurvivesRestart(t *testing.T) {
	r := newRig(t)
	m := r.start()
	m.Observe("p01", false, r.clock.Now())
	m.Observe("p01", true, r.clock.Now())
	id := r.j.wait(t).es[0].Attrs["session"] // begin snapshot and event
	r.stop()

	m = r.start()
	if got := m.OpenSessions()["p01"].ID; got != id {
		t.Fatalf("after restart the open session is %q, want %q", got, id)
	}
	m.Observe("p01", true, r.clock.Now()) // still there: no new session
	m.Observe("p01", false, r.clock.Now())
	end := r.j.wait(t)
	if end.rs[0].Session != id || end.es[0].Kind != EventEnd || end.es[0].Attrs["ended_while_down"] != "false" {
		t.Fatalf("end record %+v, want session %s's end", end, id)
	}
	if n := len(r.j.events(EventBegin)); n != 1 {
		t.Fatalf("%d session-begin events, want 1", n)
	}
}

func TestCarLeftWhileDown(t *testing.T) {
	r := newRig(t)
	m := r.start()
	m.Observe("p01", true, r.clock.Now())
	id := r.j.wait(t).es[0].Attrs["session"]
	r.stop()

	m = r.start()
	m.Observe("p01", false, r.clock.Now())
	end := r.j.wait(t)
	if end.rs[0].Session != id || end.es[0].Attrs["ended_while_down"] != "true" {
		t.Fatalf("end record %+v, want session %s ended while down", end, id)
	}
}

// TestSignedButNotReadIsRecovered: the edge dies after the meter signed
// the begin snapshot and before it read it. The next start finds the
// request in its state file, reads the record back from the meter and
// stores it once.
func TestSignedButNotReadIsRecovered(t *testing.T) {
	r := newRig(t)
	r.meter.hang = true
	m := r.start()
	m.Observe("p01", true, r.clock.Now())
	<-r.meter.hung
	r.stop() // killed while reading the record
	r.meter.hang = false
	id := m.OpenSessions()["p01"].ID

	m = r.start()
	m.Observe("p01", true, r.clock.Now())
	rec := r.j.wait(t)
	if len(rec.rs) != 1 || rec.rs[0].Session != id || len(rec.es) != 2 || rec.es[0].Kind != EventRecovered || rec.es[1].Kind != EventBegin {
		t.Fatalf("record %+v, want the recovered begin snapshot of %s with its session-begin event", rec, id)
	}
	if r.meter.signed() != 1 {
		t.Fatalf("the meter signed %d snapshots, want 1 (no second request)", r.meter.signed())
	}
	// The journal sees the record before the manager notes it stored.
	deadline := time.Now().Add(5 * time.Second)
	for st := m.Stats(); st.Recovered != 1 || st.Pending != 0; st = m.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want 1 recovered and none pending", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStoredButNotNotedIsNotStoredTwice: the edge dies after the snapshot
// was stored and before the state file said so. The next start finds the
// record in the outbox and does not store it again.
func TestStoredButNotNotedIsNotStoredTwice(t *testing.T) {
	r := newRig(t)
	m := r.start()
	m.Observe("p01", true, r.clock.Now())
	r.j.mu.Lock()
	r.j.crashAfterStore = func() { // dies right after the store returns
		m.saveMu.Lock()
		m.failSave = func() error { return errors.New("killed") }
		m.saveMu.Unlock()
		r.cancel()
	}
	r.j.mu.Unlock()
	r.j.wait(t) // the begin snapshot, stored; the manager "dies" before noting it
	r.stop()

	m = r.start()
	m.Observe("p01", true, r.clock.Now())
	m.Observe("p01", false, r.clock.Now())
	end := r.j.wait(t)
	if end.es[len(end.es)-1].Kind != EventEnd {
		t.Fatalf("after the restart the next record is %+v, want the end (the begin snapshot stored again?)", end)
	}
	var n int
	for _, rd := range r.j.snapshots() {
		if rd.OCMF != "" {
			n++
		}
	}
	if n != 2 || r.meter.signed() != 2 {
		t.Fatalf("%d snapshots stored, %d signed; want 2 and 2", n, r.meter.signed())
	}
}

// TestOutboxRefusesThenTakes: while the outbox refuses records (disk full)
// the snapshot stays in memory, the meter is not asked again, and it is
// stored once the outbox takes records again.
func TestOutboxRefusesThenTakes(t *testing.T) {
	r := newRig(t)
	m := r.start()
	r.j.mu.Lock()
	r.j.fail = errors.New("outbox disk full")
	r.j.mu.Unlock()
	m.Observe("p01", false, r.clock.Now())
	m.Observe("p01", true, r.clock.Now()) // a car comes while the outbox refuses records
	deadline0 := time.Now().Add(5 * time.Second)
	for r.meter.signed() < 1 {
		r.clock.fire()
		if time.Now().After(deadline0) {
			t.Fatal("the begin snapshot was not taken while the outbox refused records")
		}
		time.Sleep(time.Millisecond)
	}
	m.Observe("p01", false, r.clock.Now()) // the car leaves: end snapshot wanted too
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Failures < 3 {
		r.clock.fire()
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: no retries", m.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	for r.meter.signed() < 2 { // the end is taken on time too
		r.clock.fire()
		if time.Now().After(deadline) {
			t.Fatalf("the end snapshot was not taken while the outbox refused records (signed %d)", r.meter.signed())
		}
		time.Sleep(time.Millisecond)
	}
	if st := m.Stats(); st.Pending != 2 || st.Stored != 0 || st.Open != 0 {
		t.Fatalf("stats %+v while the outbox refuses: want both snapshots pending, the session closed", st)
	}
	r.j.mu.Lock()
	r.j.fail = nil
	r.j.mu.Unlock()
	r.clock.fire()
	var kinds []string
	for range 2 {
		rec := r.j.wait(t)
		kinds = append(kinds, string(rec.rs[0].OCMF[len(rec.rs[0].OCMF)-6]))
	}
	if !slices.Equal(kinds, []string{"B", "E"}) || r.meter.signed() != 2 {
		t.Fatalf("stored %v after the outbox came back, meter signed %d; want B then E, 2", kinds, r.meter.signed())
	}
}

// TestMeterDidNotSignIsAskedAgain: a request whose meter call failed before
// the meter signed is asked again, not taken for the meter's older record.
func TestMeterDidNotSignIsAskedAgain(t *testing.T) {
	r := newRig(t)
	r.meter.last = `OCMF|{"PG":"T7","ID":"an-old-session"}|{}` // from before this edge
	r.meter.fail = errors.New("timeout")
	m := r.start()
	m.Observe("p01", true, r.clock.Now())
	deadline := time.Now().Add(5 * time.Second)
	for m.Stats().Failures < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no failure")
		}
		time.Sleep(time.Millisecond)
	}
	r.meter.mu.Lock()
	r.meter.fail = nil
	r.meter.mu.Unlock()
	r.clock.fire()
	rec := r.j.wait(t)
	if rec.rs[0].OCMF == `OCMF|{"PG":"T7","ID":"an-old-session"}|{}` || len(rec.es) != 1 || rec.es[0].Kind != EventBegin {
		t.Fatalf("stored %+v: the meter's old record taken for the begin snapshot", rec)
	}
}
