package edge

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/clock/clocktest"
)

// TestSuperviseRestartsAndAlarms: an auxiliary worker that fails or panics
// is reported and started again after a backoff; one that cannot restart
// stays down; neither stops anything else.
func TestSuperviseRestartsAndAlarms(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runs := make(chan int, 10)
	raised, cleared := make(chan string, 10), make(chan string, 10)
	alarm := func(name, msg string, active bool) {
		if active {
			raised <- msg
		} else {
			cleared <- name
		}
	}
	n := 0 // only the worker's goroutine touches it
	w := auxWorker{name: "uplink", restart: true, run: func(ctx context.Context) error {
		n++
		runs <- n
		switch n {
		case 1:
			panic("nil map")
		case 2:
			return errors.New("broker gone")
		}
		<-ctx.Done()
		return ctx.Err()
	}}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { supervise(wctx, w, clk, slog.New(slog.DiscardHandler), alarm); close(done) }()
	recv := func(what string, c chan string) string {
		t.Helper()
		select {
		case v := <-c:
			return v
		case <-ctx.Done():
			t.Fatalf("no %s", what)
		}
		return ""
	}
	run := func(want int) {
		t.Helper()
		select {
		case got := <-runs:
			if got != want {
				t.Fatalf("run %d, want %d", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("run %d never started", want)
		}
	}
	run(1)
	if msg := recv("alarm for the panic", raised); !strings.Contains(msg, "panic: nil map") {
		t.Errorf("alarm %q", msg)
	}
	if err := clk.BlockUntil(ctx, 1); err != nil { // the backoff
		t.Fatal(err)
	}
	clk.Advance(restartMin)
	run(2)
	if msg := recv("alarm for the error", raised); !strings.Contains(msg, "broker gone") {
		t.Errorf("alarm %q", msg)
	}
	if err := clk.BlockUntil(ctx, 2); err != nil { // the backoff (2 s) and run 2's clearing timer
		t.Fatal(err)
	}
	clk.Advance(2 * restartMin)
	run(3)
	// Run 3 lasts: its alarm clears after restartMax.
	if err := clk.BlockUntil(ctx, 2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(restartMax)
	if name := recv("clearing", cleared); name != "uplink" {
		t.Errorf("cleared %q", name)
	}
	stop()
	<-done

	// A worker that cannot restart stays down after its failure.
	once := auxWorker{name: "ems mqtt", run: func(context.Context) error { return errors.New("run called twice") }}
	supervise(ctx, once, clk, slog.New(slog.DiscardHandler), alarm) // returns at once
	recv("alarm for the worker that cannot restart", raised)
}

// TestNotifierPetsOnlyWhileSafetyChecks: the control step pets the systemd
// watchdog only while the safety watcher keeps checking.
func TestNotifierPetsOnlyWhileSafetyChecks(t *testing.T) {
	var sent []string
	n := notifier{send: func(s string) { sent = append(sent, s) }}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	n.ready()
	n.alive(now, now.Add(-100*time.Millisecond))
	n.alive(now, now.Add(-5*time.Second)) // safety hung: no pet
	n.alive(now, time.Time{})             // safety never checked
	n.stopping()
	if want := []string{"READY=1", "WATCHDOG=1", "STOPPING=1"}; len(sent) != 3 || sent[0] != want[0] || sent[1] != want[1] || sent[2] != want[2] {
		t.Errorf("sent %v, want %v", sent, want)
	}
}
