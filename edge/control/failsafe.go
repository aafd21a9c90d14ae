package control

import (
	"context"
	"fmt"
	"time"
)

// Failsafe status of a point (PointStatus.Failsafe).
const (
	FailsafeNone    = "none"    // the controller has no documented watchdog: it keeps its last setpoint
	FailsafeOK      = "ok"      // set and read back
	FailsafePending = "pending" // not tried yet
	FailsafeFailed  = "failed"  // could not be set or read back; retried
)

// runFailsafe calls ConfigureFailsafe at start and every Interval.
func (l *Loop) runFailsafe(ctx context.Context) {
	l.ConfigureFailsafe(ctx, l.clk.Now())
	ticker, tick := l.clk.NewTicker(l.cfg.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		l.ConfigureFailsafe(ctx, l.clk.Now())
	}
}

// ConfigureFailsafe brings every charger that has a communication watchdog
// to its fallback current and watchdog: at start, again whenever the
// controller comes back from silence or shows its power-on defaults (a
// reboot clears them), and on a periodic read-back (FailsafeVerify). Each
// is read back first and written only if it differs, then read back again;
// one that cannot be set is retried every FailsafeRetry and reported
// (PointStatus.Failsafe, FailsafeFailed).
func (l *Loop) ConfigureFailsafe(ctx context.Context, now time.Time) {
	var todo []*pointState
	for _, p := range l.points {
		if p.Failsafe == nil {
			continue
		}
		recheck := p.recheck.Swap(false)
		switch {
		case !p.failsafeOK && !now.Before(p.failsafeTry):
		case p.failsafeOK && (recheck || !now.Before(p.failsafeVerify)):
		default:
			continue
		}
		todo = append(todo, p)
	}
	if len(todo) == 0 {
		return
	}
	results := make([]error, len(todo))
	idx := make(map[*pointState]int, len(todo))
	for i, p := range todo {
		idx[p] = i
	}
	parallelByBus(l.cfg.MaxParallel, todo, func(p *pointState) string { return p.Bus }, func(p *pointState) { results[idx[p]] = l.applyFailsafe(ctx, p) })
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failsafe == nil {
		l.failsafe = map[string]string{}
	}
	for i, p := range todo {
		err := results[i]
		if err != nil {
			p.failsafeOK, p.failsafeTry = false, now.Add(l.cfg.FailsafeRetry)
			l.failsafe[p.ID] = FailsafeFailed
			if ctx.Err() == nil {
				l.log.Error("charger failsafe not applied; retrying", "point", p.ID, "fallback_a", p.FallbackA, "watchdog", l.cfg.Watchdog, "err", err)
			}
			continue
		}
		p.failsafeOK, p.failsafeVerify = true, now.Add(l.cfg.FailsafeVerify)
		l.failsafe[p.ID] = FailsafeOK
	}
}

// applyFailsafe reads p's failsafe back, writes it if it differs and reads
// it back again.
func (l *Loop) applyFailsafe(ctx context.Context, p *pointState) error {
	want := func(fb int, wd time.Duration) bool { return fb == p.FallbackA && wd == l.cfg.Watchdog }
	rctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
	fb, wd, err := p.Failsafe.Failsafe(rctx)
	cancel()
	if err == nil && want(fb, wd) {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
	err = p.Failsafe.SetFailsafe(wctx, p.FallbackA, l.cfg.Watchdog)
	cancel()
	if err != nil {
		return fmt.Errorf("set fallback %d A, watchdog %s: %w", p.FallbackA, l.cfg.Watchdog, err)
	}
	rctx, cancel = context.WithTimeout(ctx, l.cfg.WriteTimeout)
	defer cancel()
	if fb, wd, err = p.Failsafe.Failsafe(rctx); err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if !want(fb, wd) {
		return fmt.Errorf("read back %d A, watchdog %s after writing %d A, %s", fb, wd, p.FallbackA, l.cfg.Watchdog)
	}
	return nil
}

// failsafeOf is a point's failsafe status; the caller holds l.mu.
func (l *Loop) failsafeOf(p *pointState) string {
	if p.Failsafe == nil {
		return FailsafeNone
	}
	if s, ok := l.failsafe[p.ID]; ok {
		return s
	}
	return FailsafePending
}

// FailsafeFailed is how many chargers with a watchdog do not hold their
// failsafe now (for the metric and the alarm).
func (l *Loop) FailsafeFailed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.failsafe {
		if s == FailsafeFailed {
			n++
		}
	}
	return n
}
