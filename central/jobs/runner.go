package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrInvalid: a job or schedule refused at construction.
var ErrInvalid = errors.New("invalid job")

// Job is one periodic task.
type Job struct {
	Name string // unique; the lock's name
	// Spec is a cron schedule, five fields (minute hour dom month dow) or a
	// descriptor such as "@daily", in the runner's location. "@every" is
	// refused: it counts from each process's start, so replicas would not
	// agree on the ticks.
	Spec string
	// Run does the work for the tick now. It must be safe to repeat: a run
	// cut short by a crash is not resumed, the next tick runs again.
	Run func(ctx context.Context, now time.Time) error
}

// Locker claims a job's tick across replicas. Claim returns ok=false, and
// nothing to release, when another runner holds the job or the tick (or a
// later one) was run already.
type Locker interface {
	Claim(ctx context.Context, job string, tick time.Time) (release func(), ok bool, err error)
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Runner runs jobs on their schedules through a Locker.
type Runner struct {
	locker Locker
	log    *slog.Logger
	jobs   map[string]Job
	scheds map[string]cron.Schedule
	order  []string
}

// NewRunner checks the jobs' names and schedules; log nil discards.
func NewRunner(locker Locker, log *slog.Logger, jobs ...Job) (*Runner, error) {
	if locker == nil {
		return nil, fmt.Errorf("jobs: %w: no locker", ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{locker: locker, log: log, jobs: map[string]Job{}, scheds: map[string]cron.Schedule{}}
	for _, j := range jobs {
		if j.Name == "" || j.Run == nil {
			return nil, fmt.Errorf("jobs: %w: job %q needs a name and a Run", ErrInvalid, j.Name)
		}
		if _, dup := r.jobs[j.Name]; dup {
			return nil, fmt.Errorf("jobs: %w: two jobs named %q", ErrInvalid, j.Name)
		}
		s, err := parser.Parse(j.Spec)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w: %s: schedule %q: %w", ErrInvalid, j.Name, j.Spec, err)
		}
		if _, ok := s.(cron.ConstantDelaySchedule); ok {
			// "@every" counts from each process's start: replicas would
			// not agree on the tick.
			return nil, fmt.Errorf("jobs: %w: %s: schedule %q: use a wall-clock schedule (\"*/5 * * * *\"), not @every", ErrInvalid, j.Name, j.Spec)
		}
		r.jobs[j.Name], r.scheds[j.Name] = j, s
		r.order = append(r.order, j.Name)
	}
	return r, nil
}

// Tick runs job name for the tick if the locker claims it; ran reports
// whether this runner ran it. The job's error is returned (and logged).
func (r *Runner) Tick(ctx context.Context, name string, tick time.Time) (ran bool, err error) {
	j, ok := r.jobs[name]
	if !ok {
		return false, fmt.Errorf("jobs: %w: no job %q", ErrInvalid, name)
	}
	release, ok, err := r.locker.Claim(ctx, name, tick)
	if err != nil {
		r.log.Warn("job claim failed", "job", name, "tick", tick, "err", err)
		return false, fmt.Errorf("job %s at %v: claim: %w", name, tick, err)
	}
	if !ok {
		r.log.Debug("job claimed elsewhere", "job", name, "tick", tick)
		return false, nil
	}
	defer release()
	start := time.Now() // for the log line only
	if err := j.Run(ctx, tick); err != nil {
		r.log.Error("job failed", "job", name, "tick", tick, "err", err)
		return true, fmt.Errorf("job %s at %v: %w", name, tick, err)
	}
	r.log.Info("job done", "job", name, "tick", tick, "took", time.Since(start))
	return true, nil
}

// Start runs the jobs on their schedules in loc until ctx ends or stop is
// called; stop waits for running jobs. The tick a job gets is its
// scheduled time, the same on every replica.
func (r *Runner) Start(ctx context.Context, loc *time.Location) (stop func()) {
	if loc == nil {
		loc = time.UTC
	}
	c := cron.New(cron.WithLocation(loc), cron.WithParser(parser), cron.WithChain(cron.SkipIfStillRunning(cron.DiscardLogger)))
	for _, name := range r.order {
		sched := r.scheds[name]
		c.Schedule(sched, cron.FuncJob(func() {
			r.Tick(ctx, name, ScheduledTick(sched, time.Now().In(loc))) //nolint:errcheck // logged in Tick
		}))
	}
	c.Start()
	var once sync.Once
	stopFn := func() { once.Do(func() { <-c.Stop().Done() }) }
	go func() {
		<-ctx.Done()
		stopFn()
	}()
	return stopFn
}

// ScheduledTick is the tick cron fired for at now: the schedule's latest
// activation at or before now (cron fires at the scheduled instant, a
// fraction of a second late), found from the schedule itself so that all
// replicas agree on it. Schedules are minute-granular.
func ScheduledTick(s cron.Schedule, now time.Time) time.Time {
	return s.Next(now.Add(-time.Minute))
}

// LocalLocker is a Locker for a single central process (SQLite): a job runs
// at most once at a time, and each tick once.
type LocalLocker struct {
	mu      sync.Mutex // protects the fields below
	running map[string]bool
	last    map[string]time.Time
}

var _ Locker = (*LocalLocker)(nil)

// NewLocalLocker returns an empty LocalLocker.
func NewLocalLocker() *LocalLocker {
	return &LocalLocker{running: map[string]bool{}, last: map[string]time.Time{}}
}

// Claim implements Locker.
func (l *LocalLocker) Claim(_ context.Context, job string, tick time.Time) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running[job] || !tick.After(l.last[job]) {
		return nil, false, nil
	}
	l.running[job], l.last[job] = true, tick
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.running[job] = false
	}, true, nil
}
