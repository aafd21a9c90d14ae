package clocktest

import (
	"context"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/clock"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func recv(t *testing.T, c <-chan time.Time) (time.Time, bool) {
	t.Helper()
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestTickerFiresAtEachInterval(t *testing.T) {
	f := New(t0)
	tk, c := f.NewTicker(time.Second)
	if _, ok := recv(t, c); ok {
		t.Fatal("ticked before any Advance")
	}
	f.Advance(999 * time.Millisecond)
	if _, ok := recv(t, c); ok {
		t.Fatal("ticked early")
	}
	f.Advance(time.Millisecond)
	if v, ok := recv(t, c); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("tick = %v, %v; want %v", v, ok, t0.Add(time.Second))
	}
	f.Advance(5 * time.Second) // reader is behind: one tick kept, the rest dropped
	if v, ok := recv(t, c); !ok || !v.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after 5 s: %v, %v", v, ok)
	}
	if _, ok := recv(t, c); ok {
		t.Fatal("more than one tick buffered")
	}
	tk.Reset(500 * time.Millisecond)
	f.Advance(500 * time.Millisecond)
	if v, ok := recv(t, c); !ok || !v.Equal(t0.Add(6500*time.Millisecond)) {
		t.Fatalf("after reset: %v, %v", v, ok)
	}
	tk.Stop()
	f.Advance(time.Hour)
	if _, ok := recv(t, c); ok {
		t.Fatal("stopped ticker ticked")
	}
	if f.Waiters() != 0 {
		t.Fatalf("waiters = %d after stop", f.Waiters())
	}
}

func TestTimersFireInOrderWithNowAtTheirTime(t *testing.T) {
	f := New(t0)
	var got []time.Duration
	a := f.After(3 * time.Second)
	b := f.After(time.Second)
	tm, c := f.NewTimer(2 * time.Second)
	f.Advance(10 * time.Second)
	for _, ch := range []<-chan time.Time{b, c, a} {
		v, ok := recv(t, ch)
		if !ok {
			t.Fatal("timer did not fire")
		}
		got = append(got, v.Sub(t0))
	}
	if got[0] != time.Second || got[1] != 2*time.Second || got[2] != 3*time.Second {
		t.Errorf("fired at %v", got)
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported true")
	}
	if tm.Reset(time.Second) {
		t.Error("Reset of a fired timer reported active")
	}
	if !tm.Stop() {
		t.Error("Stop of an armed timer reported false")
	}
	f.Advance(time.Hour)
	if _, ok := recv(t, c); ok {
		t.Error("stopped timer fired")
	}
	if !f.Now().Equal(t0.Add(time.Hour + 10*time.Second)) {
		t.Errorf("now = %v", f.Now())
	}
	if f.Since(t0) != time.Hour+10*time.Second {
		t.Errorf("since = %v", f.Since(t0))
	}
}

func TestBlockUntil(t *testing.T) {
	f := New(t0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-f.After(time.Minute)
	}()
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("goroutine never woke")
	}
	short, c2 := context.WithCancel(context.Background())
	c2()
	if err := f.BlockUntil(short, 5); err == nil {
		t.Error("BlockUntil with a cancelled context returned nil")
	}
}

func TestRealAndOrReal(t *testing.T) {
	var c clock.Clock = clock.OrReal(nil)
	if _, ok := c.(clock.Real); !ok {
		t.Fatalf("OrReal(nil) = %T", c)
	}
	f := New(t0)
	if clock.OrReal(f) != clock.Clock(f) {
		t.Error("OrReal replaced a non-nil clock")
	}
}
