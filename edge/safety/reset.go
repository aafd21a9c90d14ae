package safety

import (
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Reset releases the fire-alarm latch on an operator's word. It is refused
// when the latch is not set, when who or why is empty, while the alarm
// condition is still present, or when the reset cannot be stored. The
// alarm is judged and the latch released under the lock Check trips under.
func (w *Watcher) Reset(who, why string, now time.Time) error {
	if who == "" || why == "" {
		return fmt.Errorf("safety reset at site %q: who and why are required", w.cfg.Site)
	}
	rec, err := w.release(who, why, now)
	if err != nil {
		return err
	}
	w.log.Warn("safety latch reset", "who", who, "why", why, "cause", rec.Cause)
	w.event(Event{At: now, Kind: EventReset, Cause: rec.Cause, Detail: fmt.Sprintf("by %s: %s", who, why)})
	return nil
}

// release clears the latch if no alarm is present at now, storing the
// reset first; it emits the refusal event itself.
func (w *Watcher) release(who, why string, now time.Time) (ResetRecord, error) {
	w.mu.Lock()
	if !w.latched {
		w.mu.Unlock()
		return ResetRecord{}, fmt.Errorf("safety reset at site %q: %w", w.cfg.Site, ErrNotLatched)
	}
	if cause, detail := w.alarm(now, w.started, false); cause != "" {
		w.mu.Unlock()
		w.event(Event{At: now, Kind: EventResetRefused, Cause: cause, Detail: fmt.Sprintf("%s (by %s: %s)", detail, who, why)})
		w.log.Warn("safety reset refused: alarm still present", "who", who, "cause", cause, "detail", detail)
		return ResetRecord{}, fmt.Errorf("safety reset at site %q: %w: %s", w.cfg.Site, ErrAlarmPresent, detail)
	}
	defer w.mu.Unlock()
	rec := ResetRecord{Who: who, Why: why, At: now, Cause: w.cause, TrippedAt: w.trippedAt}
	next := stateFile{Resets: append(append([]ResetRecord(nil), w.resets...), rec)}
	if len(next.Resets) > maxResets {
		next.Resets = next.Resets[len(next.Resets)-maxResets:]
	}
	if w.cfg.StateFile != "" {
		if err := writeStateFile(w.cfg.StateFile, next); err != nil {
			return ResetRecord{}, fmt.Errorf("safety reset at site %q not stored, latch kept: %w", w.cfg.Site, err)
		}
	}
	w.latched, w.cause, w.trippedAt, w.resets = false, "", time.Time{}, next.Resets
	return rec, nil
}

func (w *Watcher) persist() error {
	if w.cfg.StateFile == "" {
		return nil
	}
	w.mu.RLock()
	f := stateFile{Latched: w.latched, Cause: w.cause, TrippedAt: w.trippedAt, Resets: w.resets}
	w.mu.RUnlock()
	return writeStateFile(w.cfg.StateFile, f)
}

func (w *Watcher) event(e Event) {
	w.mu.Lock()
	w.events = append(w.events, e)
	if len(w.events) > w.cfg.MaxEvents {
		w.events = append(w.events[:0], w.events[len(w.events)-w.cfg.MaxEvents:]...)
	}
	w.mu.Unlock()
	if w.OnEvent != nil {
		w.OnEvent(e)
	}
}

// Status is safety's state for the control loop and the EMS API.
type Status struct {
	Latched    bool
	Cause      Cause
	TrippedAt  time.Time
	LastReset  *ResetRecord
	SPDTripped []string         // nodes stopped by an open SPD contact
	Overtemp   []string         // nodes stopped for temperature
	NoSensor   []string         // nodes without a fresh temperature (derated as Thermal.LostDeciC says)
	TempsDeciC map[string]int64 // node → the temperature derating uses
	Events     []Event          // latest last
}

// Status returns a snapshot.
func (w *Watcher) Status() Status {
	w.mu.RLock()
	defer w.mu.RUnlock()
	s := Status{Latched: w.latched, Cause: w.cause, TrippedAt: w.trippedAt, TempsDeciC: map[string]int64{}}
	if n := len(w.resets); n > 0 {
		r := w.resets[n-1]
		s.LastReset = &r
	}
	for _, th := range w.cfg.Thermal {
		if w.hot[th.Node] {
			s.Overtemp = append(s.Overtemp, th.Node)
		}
		if w.noSensor[th.Node] {
			s.NoSensor = append(s.NoSensor, th.Node)
		}
	}
	for _, sp := range w.cfg.SPDs {
		if w.spdOpen[sp.Node] {
			s.SPDTripped = append(s.SPDTripped, sp.Node)
		}
	}
	for n, t := range w.temps {
		s.TempsDeciC[n] = t
	}
	s.Events = append(s.Events, w.events...)
	return s
}

// Temperatures returns each node's temperature for the control loop's
// thermal derating: the hottest fresh sensor, or, while none reads, the
// hotter of the last reading and the node's LostDeciC.
func (w *Watcher) Temperatures() []loadmgmt.Temperature {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]loadmgmt.Temperature, 0, len(w.temps))
	for _, th := range w.cfg.Thermal {
		if t, ok := w.temps[th.Node]; ok {
			out = append(out, loadmgmt.Temperature{Node: th.Node, DeciC: int32(t)})
		}
	}
	return out
}
