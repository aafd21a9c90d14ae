package safety

import (
	"context"
	"fmt"
	"time"
)

func (w *Watcher) checkSPDs(ctx context.Context, now time.Time) {
	w.mu.RLock()
	started := w.started
	w.mu.RUnlock()
	for _, s := range w.cfg.SPDs {
		// An SPD contact that cannot be read protects nothing: its
		// distribution stops as if it were open. Its module need not be the
		// fire loop's, so the latch does not cover it. A module not read yet
		// has the start-up grace the fire loop has.
		// On the fire loop's own module, an unreadable module trips the
		// latch (after OfflineAfter) instead: an SPD cut first would queue
		// writes on the module's bus and starve its next read.
		r := w.state.Contacts(s.Input.Device, now)
		var open bool
		var detail string
		closed, ok := r.Value.IsClosed(s.Input.Input)
		since := r.At
		if since.IsZero() {
			since = started
		}
		unread := now.Sub(since) > w.cfg.OfflineAfter
		switch {
		case w.alarmDev(s.Input.Device) && (r.At.IsZero() || r.Stale || unread):
			continue // the latch covers it
		case r.At.IsZero() && !unread:
			continue // grace: the first read is not due yet
		case r.At.IsZero():
			open, detail = true, fmt.Sprintf("DI module %q not read: SPD state unknown", s.Input.Device)
		case unread:
			open, detail = true, fmt.Sprintf("DI module %q not read for %s: SPD state unknown", s.Input.Device, r.Age(now).Round(time.Millisecond))
		case !ok:
			open, detail = true, fmt.Sprintf("DI module %q does not report input %d: SPD state unknown", s.Input.Device, s.Input.Input)
		case !closed:
			open, detail = true, fmt.Sprintf("DI module %q input %d open", s.Input.Device, s.Input.Input)
		}
		w.mu.Lock()
		was := w.spdOpen[s.Node]
		w.spdOpen[s.Node] = open
		w.mu.Unlock()
		switch {
		case open && !was:
			pts := w.below(s.Node)
			w.cut(ctx, pts, "spd: "+s.Node)
			w.log.Error("SPD tripped: distribution stopped", "node", s.Node, "points", len(pts), "detail", detail)
			w.event(Event{At: now, Kind: EventSPDTripped, Node: s.Node, Detail: detail})
		case !open && was:
			w.log.Warn("SPD contact closed again", "node", s.Node)
			w.event(Event{At: now, Kind: EventSPDCleared, Node: s.Node})
		}
	}
}

func (w *Watcher) checkThermal(ctx context.Context, now time.Time) {
	for _, th := range w.cfg.Thermal {
		hottest, fresh := int64(0), false
		for _, id := range th.Sensors {
			r := w.state.TemperatureDeciC(id, now)
			if r.Stale {
				continue
			}
			if !fresh || r.Value > hottest {
				hottest, fresh = r.Value, true
			}
		}
		w.mu.Lock()
		wasHot, reported := w.hot[th.Node], w.sensorRep[th.Node]
		started := w.started
		// A node without a fresh sensor is reported once the start-up
		// minute is over, whether its sensors died then or never answered.
		offline := !fresh && !reported && now.Sub(started) > time.Minute
		online := fresh && reported
		if offline || online {
			w.sensorRep[th.Node] = offline
		}
		w.noSensor[th.Node] = !fresh
		if fresh {
			w.temps[th.Node], w.lastTemp[th.Node] = hottest, hottest
		} else {
			// A dead sensor keeps the derating it had, or the configured
			// one if hotter: never the full fuse on no evidence.
			last, ok := w.lastTemp[th.Node]
			w.temps[th.Node] = th.lostDeciC(last, ok)
		}
		hot := wasHot
		switch {
		case fresh && hottest >= th.StopDeciC:
			hot = true
		case fresh && hottest < th.StopDeciC-th.HysteresisDeciC:
			hot = false
		}
		w.hot[th.Node] = hot
		w.mu.Unlock()
		switch {
		case offline:
			w.event(Event{At: now, Kind: EventSensorOffline, Node: th.Node, Detail: "no fresh temperature"})
		case online:
			w.event(Event{At: now, Kind: EventSensorOnline, Node: th.Node})
		}
		switch {
		case hot && !wasHot:
			w.cut(ctx, w.below(th.Node), "temperature: "+th.Node)
			w.log.Error("over-temperature: node stopped", "node", th.Node, "deci_c", hottest)
			w.event(Event{At: now, Kind: EventOvertemp, Node: th.Node, Detail: fmt.Sprintf("%.1f °C ≥ %.1f °C", float64(hottest)/10, float64(th.StopDeciC)/10)})
		case !hot && wasHot:
			w.log.Warn("temperature back below the stop threshold", "node", th.Node, "deci_c", hottest)
			w.event(Event{At: now, Kind: EventOvertempClear, Node: th.Node, Detail: fmt.Sprintf("%.1f °C", float64(hottest)/10)})
		}
	}
}

// alarmDev reports whether device carries the fire loop or its supervision.
func (w *Watcher) alarmDev(device string) bool {
	return device == w.cfg.FireLoop.Device || w.cfg.Supervision != nil && device == w.cfg.Supervision.Device
}

// below returns the points hanging below node.
func (w *Watcher) below(node string) []*point {
	var out []*point
	for _, p := range w.points {
		if p.below[node] {
			out = append(out, p)
		}
	}
	return out
}

// blockReason says what holds p at 0 A, "" if nothing. Caller holds w.mu
// (read).
func (w *Watcher) blockReasonLocked(p *point) string {
	if w.latched {
		return "latch: " + string(w.cause)
	}
	if !w.fireSeen {
		return BlockAwaitingFireLoop
	}
	for n := range p.below {
		if w.spdOpen[n] {
			return "spd: " + n
		}
		if w.hot[n] {
			return "temperature: " + n
		}
	}
	return ""
}
