package safety

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// cut commands pts to 0 A and disabled, all in parallel (bounded by
// MaxParallel), in the background; failures are retried by retryCuts.
func (w *Watcher) cut(ctx context.Context, pts []*point, why string) {
	if len(pts) == 0 {
		return
	}
	par := w.cfg.MaxParallel
	if par <= 0 || par > len(pts) {
		par = len(pts)
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		sems := map[string]chan struct{}{} // per bus: a hanging bus never holds back another's cuts
		for _, p := range pts {
			if sems[p.Bus] == nil {
				sems[p.Bus] = make(chan struct{}, par)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex // protects failed
		failed := 0
		for _, p := range pts {
			sem := sems[p.Bus]
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				w.mu.Lock()
				p.cutting = true
				w.mu.Unlock()
				err := w.cutOne(ctx, p)
				w.mu.Lock()
				p.cutting, p.cutAt = false, w.clk.Now()
				p.needsCut = err != nil
				fails := p.cutFails
				if err != nil {
					p.cutFails++
					p.retryAt = w.clk.Now().Add(w.cfg.RetryEvery << min(p.cutFails-1, 5))
				} else {
					p.cutFails = 0
				}
				w.mu.Unlock()
				switch {
				case err != nil:
					mu.Lock()
					failed++
					mu.Unlock()
					if ctx.Err() == nil && fails == 0 {
						// Said once per outage: a silent controller is
						// retried with backoff, and until it answers it
						// takes no new setpoint either.
						w.log.Error("charger did not take 0 A; retrying with backoff until it does (logged once)", "point", p.ID, "err", err)
						w.event(Event{At: w.clk.Now(), Kind: EventCutFailed, Point: p.ID, Detail: err.Error()})
					} else if ctx.Err() == nil {
						w.log.Debug("charger still did not take 0 A", "point", p.ID, "attempt", fails+1, "err", err)
					}
				case fails > 0:
					w.log.Info("charger took 0 A after failed attempts", "point", p.ID, "attempts", fails+1)
				}
			}()
		}
		wg.Wait()
		if failed == 0 {
			w.event(Event{At: w.clk.Now(), Kind: EventCutDone, Detail: fmt.Sprintf("%s: %d chargers at 0 A", why, len(pts))})
		}
	}()
}

// cutOne writes 0 A and the disable, each on its own, each within its own
// WriteTimeout: a controller that refuses or never answers the 0 A write is
// still disabled, and the other way round. It returns both errors.
func (w *Watcher) cutOne(ctx context.Context, p *point) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return w.stopLocked(ctx, p)
}

// stopLocked is cutOne's two writes; the caller holds p.mu.
func (w *Watcher) stopLocked(ctx context.Context, p *point) error {
	var errs []error
	actx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	if err := p.Charger.SetMaxCurrentA(actx, 0); err != nil {
		errs = append(errs, fmt.Errorf("site %q point %q: set 0 A: %w", w.cfg.Site, p.ID, err))
	}
	cancel()
	ectx, cancel := context.WithTimeout(ctx, w.cfg.WriteTimeout)
	if err := p.Charger.SetEnabled(ectx, false); err != nil {
		errs = append(errs, fmt.Errorf("site %q point %q: disable: %w", w.cfg.Site, p.ID, err))
	}
	cancel()
	return errors.Join(errs...)
}

// retryCuts re-commands blocked points whose last cut failed: RetryEvery
// after the first failure, doubling up to 32 × RetryEvery.
func (w *Watcher) retryCuts(ctx context.Context, now time.Time) {
	w.mu.Lock()
	var pts []*point
	for _, p := range w.points {
		if p.needsCut && !now.Before(p.retryAt) && w.blockReasonLocked(p) != "" {
			pts = append(pts, p)
			p.needsCut = false // set again if this attempt fails
		}
	}
	w.mu.Unlock()
	w.cut(ctx, pts, "retry")
}

// SetCurrentMA writes a control setpoint to a charge point. Anything above
// 0 A is refused (ErrBlocked) while safety holds the point; a raise writes
// the current first and enables after, so a charger never runs at a stale
// current. 0 A is always allowed and writes both 0 A and the disable, each
// on its own (as a safety cut does). The setpoint is floored to whole
// amperes.
func (w *Watcher) SetCurrentMA(ctx context.Context, pointID string, mA int64) error {
	p, ok := w.byID[pointID]
	if !ok {
		return fmt.Errorf("site %q point %q: %w", w.cfg.Site, pointID, ErrUnknownPoint)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	a := int(mA / 1000)
	if a <= 0 {
		return w.stopLocked(ctx, p)
	}
	w.mu.RLock()
	reason := w.blockReasonLocked(p)
	w.mu.RUnlock()
	if reason != "" {
		return fmt.Errorf("site %q point %q: %w (%s)", w.cfg.Site, pointID, ErrBlocked, reason)
	}
	if err := p.Charger.SetMaxCurrentA(ctx, a); err != nil {
		return fmt.Errorf("site %q point %q: set %d A: %w", w.cfg.Site, pointID, a, err)
	}
	if err := p.Charger.SetEnabled(ctx, true); err != nil {
		return fmt.Errorf("site %q point %q: enable after %d A: %w", w.cfg.Site, pointID, a, err)
	}
	return nil
}
