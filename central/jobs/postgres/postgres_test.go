package postgres_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/jobs"
	"github.com/parkgrid/parkgrid/central/jobs/postgres"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var t0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

// replicas opens two separate pools on one database: two central
// replicas, each with its own runner.
func replicas(t *testing.T) [2]*pgxpool.Pool {
	dsn := svctest.PostgresDSN(t)
	var pools [2]*pgxpool.Pool
	for i := range pools {
		p, err := pgxpool.New(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		if err := postgres.Migrate(t.Context(), p, t0); err != nil {
			t.Fatal(err)
		}
		pools[i] = p
	}
	return pools
}

// TestTwoRunnersOneRunPerTick: two runners on one PostgreSQL fire every
// tick at the same moment, as two replicas' crons do; each tick runs
// exactly once, never two runs at a time, and a replica firing a tick
// late, after the other finished it, does not run it again.
func TestTwoRunnersOneRunPerTick(t *testing.T) {
	pools := replicas(t)
	var (
		mu      sync.Mutex
		perTick = map[time.Time][]int{}
		running atomic.Int64
		overlap atomic.Int64
	)
	runners := make([]*jobs.Runner, 2)
	for i := range runners {
		r, err := jobs.NewRunner(postgres.NewLocker(pools[i], []string{"a", "b"}[i]), nil, jobs.Job{
			Name: "nightly-report", Spec: "* * * * *",
			Run: func(_ context.Context, now time.Time) error {
				if running.Add(1) > 1 {
					overlap.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				perTick[now] = append(perTick[now], i)
				mu.Unlock()
				running.Add(-1)
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		runners[i] = r
	}
	const ticks = 30
	for k := range ticks {
		tick := t0.Add(time.Duration(k) * time.Minute)
		var wg sync.WaitGroup
		for _, r := range runners {
			wg.Go(func() {
				if _, err := r.Tick(t.Context(), "nightly-report", tick); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// The slower replica's cron fires again after the run finished.
		if ran, err := runners[k%2].Tick(t.Context(), "nightly-report", tick); ran || err != nil {
			t.Fatalf("tick %d ran again late: %v, %v", k, ran, err)
		}
	}
	if len(perTick) != ticks {
		t.Errorf("%d ticks ran, want %d", len(perTick), ticks)
	}
	by := [2]int{}
	for tick, rs := range perTick {
		if len(rs) != 1 {
			t.Errorf("tick %v ran %d times (by %v)", tick, len(rs), rs)
		}
		by[rs[0]]++
	}
	if overlap.Load() != 0 {
		t.Errorf("%d overlapping runs", overlap.Load())
	}
	t.Logf("runs by replica: %v", by)
}

// TestLongRunHoldsTheLock: while one replica runs a job, the other's next
// tick is skipped, not queued behind it; afterwards it runs again.
func TestLongRunHoldsTheLock(t *testing.T) {
	pools := replicas(t)
	release := make(chan struct{})
	started := make(chan struct{})
	var runs atomic.Int64
	run := func(ctx context.Context, now time.Time) error {
		if runs.Add(1) == 1 {
			close(started)
			<-release
		}
		return nil
	}
	a, _ := jobs.NewRunner(postgres.NewLocker(pools[0], "a"), nil, jobs.Job{Name: "reconcile", Spec: "* * * * *", Run: run})
	b, _ := jobs.NewRunner(postgres.NewLocker(pools[1], "b"), nil, jobs.Job{Name: "reconcile", Spec: "* * * * *", Run: run})
	done := make(chan error)
	go func() { _, err := a.Tick(t.Context(), "reconcile", t0); done <- err }()
	<-started
	if ran, err := b.Tick(t.Context(), "reconcile", t0.Add(time.Minute)); ran || err != nil {
		t.Fatalf("ran beside a running job: %v, %v", ran, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran, err := b.Tick(t.Context(), "reconcile", t0.Add(2*time.Minute)); !ran || err != nil {
		t.Fatalf("after the long run: %v, %v", ran, err)
	}
}
