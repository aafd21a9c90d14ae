package modbus

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// silentServer answers every unit but dead with the registers of a read,
// and never answers dead: a unit that is gone behind a gateway. served
// receives the unit of every request answered, in order.
func silentServer(t *testing.T, dead byte, served chan<- byte, hold <-chan struct{}) string {
	done := make(chan struct{})
	addr := rawServer(t, func(req []byte) []byte {
		unit := req[6]
		if unit == dead {
			if served != nil {
				served <- unit
			}
			<-done // never answers; the client times out or is interrupted
			return nil
		}
		if hold != nil {
			<-hold
		}
		if served != nil {
			served <- unit
		}
		return answer(req, []byte{4, 2, 0, unit})
	})
	t.Cleanup(func() { close(done) }) // runs before rawServer's wait
	return addr
}

// TestDeadUnitDoesNotHoldThePriorityUnit: a request to a unit that never
// answers holds the line for its whole timeout; a request of the priority
// unit (the fire-alarm module) waiting behind it interrupts it after
// PreemptAfter instead of waiting that long.
func TestDeadUnitDoesNotHoldThePriorityUnit(t *testing.T) {
	seen := make(chan byte, 10)
	addr := silentServer(t, 9, seen, nil)
	b := NewTCP(addr, Options{Name: "shared", Timeout: time.Minute, Priority: []uint8{2}, PreemptAfter: 20 * time.Millisecond})
	run(t, b)
	ctx := ctxT(t)
	deadErr := make(chan error, 1)
	go func() {
		_, err := b.ReadInputRegisters(ctx, 9, 0, 1)
		deadErr <- err
	}()
	select { // the dead unit's request is on the line
	case <-seen:
	case <-ctx.Done():
		t.Fatal("the dead unit's request never reached the server")
	}
	got, err := b.ReadInputRegisters(ctx, 2, 0, 1)
	if err != nil || got[1] != 2 {
		t.Fatalf("priority unit: %v, %v", got, err)
	}
	select {
	case err := <-deadErr:
		if !errors.Is(err, ErrPreempted) {
			t.Errorf("dead unit's request: %v, want ErrPreempted (it held the line for the priority unit)", err)
		}
	case <-ctx.Done():
		t.Fatal("dead unit's request still on the line after the priority read")
	}
	if s := b.Stats(); s.Preempted != 1 || s.Timeouts != 0 {
		t.Errorf("stats %+v, want 1 preempted, 0 timeouts", s)
	}
}

// TestPriorityUnitGoesFirst: requests waiting for the line are served
// priority unit first, then the others in order.
func TestPriorityUnitGoesFirst(t *testing.T) {
	arrived := make(chan byte, 10)
	hold := make(chan struct{})
	addr := rawServer(t, func(req []byte) []byte {
		arrived <- req[6]
		<-hold
		return answer(req, []byte{4, 2, 0, req[6]})
	})
	b := NewTCP(addr, Options{Timeout: time.Minute, Priority: []uint8{2}, PreemptAfter: -1})
	run(t, b)
	ctx := ctxT(t)
	queued := make(chan bool, 10)
	b.line.mu.Lock()
	b.line.onQueue = func(prio bool) { queued <- prio }
	b.line.mu.Unlock()
	var wg sync.WaitGroup
	read := func(unit byte) {
		wg.Go(func() {
			if _, err := b.ReadInputRegisters(ctx, unit, 0, 1); err != nil {
				t.Error(err)
			}
		})
	}
	read(5)
	if u := <-arrived; u != 5 { // unit 5 holds the line, waiting at the server
		t.Fatalf("unit %d first", u)
	}
	for _, u := range []byte{6, 7, 8} {
		read(u)
		<-queued
	}
	read(2)
	if prio := <-queued; !prio {
		t.Fatal("unit 2 not queued as priority")
	}
	close(hold)
	wg.Wait()
	close(arrived)
	order := []byte{5}
	for u := range arrived {
		order = append(order, u)
	}
	if want := []byte{5, 2, 6, 7, 8}; string(order) != string(want) {
		t.Errorf("served %v, want %v", order, want)
	}
}

// TestUnitQuarantinedAfterTimeouts: a unit that times out twice in a row is
// refused at once for a while (it would hold the line a whole timeout per
// request), then probed again; the others are served meanwhile.
func TestUnitQuarantinedAfterTimeouts(t *testing.T) {
	addr := silentServer(t, 9, nil, nil)
	clock := newFakeClock()
	b := NewTCP(addr, Options{Timeout: 30 * time.Millisecond, Now: clock.Now})
	run(t, b)
	ctx := ctxT(t)
	for i := range 2 {
		if _, err := b.ReadInputRegisters(ctx, 9, 0, 1); !errors.Is(err, ErrTimeout) {
			t.Fatalf("timeout %d: %v", i+1, err)
		}
	}
	_, err := b.ReadInputRegisters(ctx, 9, 0, 1)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("third request: %v, want ErrUnavailable (quarantined)", err)
	}
	if got, err := b.ReadInputRegisters(ctx, 1, 0, 1); err != nil || got[1] != 1 {
		t.Errorf("another unit during the quarantine: %v, %v", got, err)
	}
	clock.Advance(DefaultUnitBackoffMin)
	if _, err := b.ReadInputRegisters(ctx, 9, 0, 1); !errors.Is(err, ErrTimeout) {
		t.Errorf("probe after the quarantine: %v, want a real try (timeout)", err)
	}
	if b.units[9].backoff != 2*DefaultUnitBackoffMin {
		t.Errorf("backoff %v after a failed probe, want %v", b.units[9].backoff, 2*DefaultUnitBackoffMin)
	}
	if s := b.Stats(); s.Quarantined != 1 || s.Timeouts != 3 {
		t.Errorf("stats %+v", s)
	}
}
