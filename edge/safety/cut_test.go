package safety

import (
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// TestCutsAreParallel holds every charger's write until all of them have
// started one: only a parallel fan-out gets there.
func TestCutsAreParallel(t *testing.T) {
	f := newFixture(t, nil)
	entered := make(chan struct{}, 100)
	var releases []func()
	for _, c := range f.chargers {
		c.OnEnter = func() { entered <- struct{}{} }
		releases = append(releases, c.Hold())
	}
	f.open(loop)
	f.w.Check(f.ctx, f.clk.Now())
	for range f.chargers {
		select {
		case <-entered:
		case <-f.ctx.Done():
			t.Fatal("cuts are not issued in parallel")
		}
	}
	for _, r := range releases {
		r()
	}
	f.w.wg.Wait()
	allAt(t, f, "0A/false")
}

// TestCutLandsAfterControlsWrite: a raise in flight when the alarm comes is
// overwritten by the cut, never the other way round.
func TestCutLandsAfterControlsWrite(t *testing.T) {
	f := newFixture(t, nil)
	ch := f.chargers["cp-1"]
	entered := make(chan struct{}, 10)
	ch.OnEnter = func() { entered <- struct{}{} }
	release := ch.Hold()
	done := make(chan error, 1)
	go func() { done <- f.w.SetCurrentMA(f.ctx, "cp-1", 32000) }()
	<-entered // control's enable write is in flight, holding the point's gate
	f.open(loop)
	f.w.Check(f.ctx, f.clk.Now())
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.w.wg.Wait()
	if a, on := ch.Current(); a != 0 || on {
		t.Errorf("cp-1 at %d A enabled=%v, want 0 A disabled", a, on)
	}
	w := ch.Writes()
	if last := w[len(w)-1]; last.What != "enable" || last.Value != 0 {
		t.Errorf("last write %+v, want the cut's disable; all: %+v", last, w)
	}
}

func TestFailedCutIsRetried(t *testing.T) {
	f := newFixture(t, nil)
	ch := f.chargers["cp-2"]
	ch.SetWriteErr(drivers.ErrTimeout)
	f.open(loop)
	f.check()
	if !slices.Contains(f.kinds(), EventCutFailed) {
		t.Fatalf("events = %v", f.kinds())
	}
	// Second failure at 1 s: the next try waits 2 s.
	f.clk.Advance(time.Second)
	f.open(loop) // the module stays read: only the retry backoff is tested
	f.check()
	n := len(f.kinds())
	f.clk.Advance(1500 * time.Millisecond)
	f.open(loop) // the module stays read: only the retry backoff is tested
	f.check()
	if len(f.kinds()) != n {
		t.Fatalf("retried 1.5 s after the second failure: %v", f.kinds()[n:])
	}
	ch.SetWriteErr(nil)
	ch.Seed(16, true)
	f.clk.Advance(400 * time.Millisecond)
	f.open(loop) // the module stays read: only the retry backoff is tested
	f.check()
	if a, _ := ch.Current(); a != 16 {
		t.Fatal("retried before the backoff ran out")
	}
	f.clk.Advance(100 * time.Millisecond)
	f.open(loop) // the module stays read: only the retry backoff is tested
	f.check()
	if a, on := ch.Current(); a != 0 || on {
		t.Errorf("cp-2 after retry: %d A %v", a, on)
	}
}
