package jobs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/central/session"
)

var t0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

func TestNewRunnerRefuses(t *testing.T) {
	run := func(context.Context, time.Time) error { return nil }
	for name, jobs := range map[string][]Job{
		"bad spec":  {{Name: "a", Spec: "every minute", Run: run}},
		"@every":    {{Name: "a", Spec: "@every 1m", Run: run}},
		"no name":   {{Spec: "* * * * *", Run: run}},
		"no run":    {{Name: "a", Spec: "* * * * *"}},
		"duplicate": {{Name: "a", Spec: "* * * * *", Run: run}, {Name: "a", Spec: "@daily", Run: run}},
	} {
		if _, err := NewRunner(NewLocalLocker(), nil, jobs...); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestScheduledTick(t *testing.T) {
	for _, tc := range []struct {
		spec string
		now  time.Time
		want time.Time
	}{
		{"* * * * *", t0.Add(300 * time.Millisecond), t0},
		{"*/5 * * * *", t0.Add(5*time.Minute + 2*time.Second), t0.Add(5 * time.Minute)},
		{"@daily", time.Date(2026, 11, 26, 0, 0, 0, 400, time.UTC), time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)},
	} {
		s, err := parser.Parse(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := ScheduledTick(s, tc.now); !got.Equal(tc.want) {
			t.Errorf("%s at %v: tick %v, want %v", tc.spec, tc.now, got, tc.want)
		}
	}
}

// TestLocalLockerOncePerTick: many goroutines firing the same ticks run
// each tick once and never two runs at a time.
func TestLocalLockerOncePerTick(t *testing.T) {
	var running, overlap, runs atomic.Int64
	r, err := NewRunner(NewLocalLocker(), nil, Job{Name: "j", Spec: "* * * * *", Run: func(context.Context, time.Time) error {
		if running.Add(1) > 1 {
			overlap.Add(1)
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		runs.Add(1)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for tick := range 20 {
		for range 4 {
			wg.Go(func() { r.Tick(t.Context(), "j", t0.Add(time.Duration(tick)*time.Minute)) })
		}
		wg.Wait()
	}
	if runs.Load() != 20 || overlap.Load() != 0 {
		t.Errorf("%d runs (want 20), %d overlapping", runs.Load(), overlap.Load())
	}
	if ran, err := r.Tick(t.Context(), "j", t0); ran || err != nil {
		t.Errorf("an old tick ran again: %v, %v", ran, err)
	}
}

func TestTickReturnsTheJobsError(t *testing.T) {
	boom := errors.New("boom")
	var got time.Time
	r, err := NewRunner(NewLocalLocker(), nil, Job{Name: "j", Spec: "@hourly", Run: func(_ context.Context, now time.Time) error {
		got = now
		return boom
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ran, err := r.Tick(t.Context(), "j", t0); !ran || !errors.Is(err, boom) || !got.Equal(t0) {
		t.Errorf("ran %v, err %v, now %v", ran, err, got)
	}
	if _, err := r.Tick(t.Context(), "nope", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown job: %v", err)
	}
}

func TestStandardJobs(t *testing.T) {
	js, err := Standard(Deps{})
	if err != nil || len(js) != 0 {
		t.Fatalf("no parts: %v, %v", js, err)
	}
	if _, err := Standard(Deps{Reports: fakeRows{}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("half a report: %v", err)
	}
	js, err = Standard(Deps{Service: nil, Reports: fakeRows{}, Operators: ops{}, Sink: DirSink{Dir: t.TempDir()}})
	if err != nil || len(js) != 1 || js[0].Name != "nightly-report" {
		t.Fatalf("report only: %v, %v", js, err)
	}
	if _, err := NewRunner(NewLocalLocker(), nil, js...); err != nil {
		t.Errorf("standard schedules refused: %v", err)
	}
}

type fakeOutbox struct{ fakePurger }

func (fakeOutbox) Deliver(context.Context, time.Time) (mail.DeliverReport, error) {
	return mail.DeliverReport{}, nil
}

type fakeService struct{ *fakeSessions }

func (fakeService) Reconcile(context.Context, time.Time) (session.ReconcileReport, error) {
	return session.ReconcileReport{}, nil
}

func TestStandardJobsAll(t *testing.T) {
	f := &fakeSessions{}
	js, err := Standard(Deps{Outbox: &fakeOutbox{}, Sessions: f, Service: fakeService{f}, Reports: fakeRows{}, Operators: ops{}, Sink: DirSink{Dir: t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range js {
		names = append(names, j.Name)
	}
	if len(js) != 5 {
		t.Fatalf("jobs %v", names)
	}
	r, err := NewRunner(NewLocalLocker(), nil, js...)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if ran, err := r.Tick(t.Context(), n, t0); !ran || err != nil {
			t.Errorf("%s: %v, %v", n, ran, err)
		}
	}
}

// TestStartStops: the cron wiring starts and stops cleanly, by stop or by
// the context, and a second stop is harmless.
func TestStartStops(t *testing.T) {
	r, err := NewRunner(NewLocalLocker(), nil, Job{Name: "j", Spec: "0 0 1 1 *", Run: func(context.Context, time.Time) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	stop := r.Start(t.Context(), nil)
	stop()
	stop()
	ctx, cancel := context.WithCancel(t.Context())
	stop = r.Start(ctx, time.UTC)
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("stop did not return after the context ended")
	}
}
