package control

import (
	"context"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// classify sets every view's desired setpoint (next's) and status reason,
// and returns the writes of the step: a charger is written when its
// read-back differs from what the loop wants, or it was never commanded.
// Nothing goes to a point safety holds or whose controller does not
// answer.
func (l *Loop) classify(vs []view, targets map[*pointState]int64, next loadmgmt.State, now time.Time) (cuts, raises []*view) {
	for i := range vs {
		x := &vs[i]
		x.desired = next.Points[x.p.ID].SetpointMA
		l.reason(x, targets, next, now)
		if x.stale || x.blocked != "" {
			continue
		}
		switch l.writeKind(x, now) {
		case writeCut:
			cuts = append(cuts, x)
		case writeRaise:
			raises = append(raises, x)
		}
	}
	return cuts, raises
}

type writeKindT int

const (
	writeNone writeKindT = iota
	writeCut
	writeRaise
)

// writeKind decides whether x is written this step, and as a cut or a
// raise. A cut is anything that may lower what the charger draws; cuts are
// tried every step, raises wait RetryFailed after a failed write.
func (l *Loop) writeKind(x *view, now time.Time) writeKindT {
	p := x.p
	var write bool
	switch {
	case p.cmdDone.IsZero():
		write = true // never commanded: 0 A unless granted
	case x.readBack:
		write = p.holdsMA != x.desired
	default: // a command is on its way: only a lower one overtakes it
		write = x.desired < p.cmdMA
	}
	disobeys := l.disobeys(p, now)
	if disobeys && x.readBack && !now.Before(p.nextTry) {
		write = true // keeps drawing more than offered: pause it again
	}
	x.cut = x.desired < x.truthMA || x.desired == 0
	switch {
	case !write:
		return writeNone
	case x.cut:
		return writeCut
	case now.Before(p.nextTry):
		x.st.Reason = "retry after failed write"
		return writeNone
	case x.unsettle != "":
		return writeNone
	}
	return writeRaise
}

// write sends x's desired setpoint through the outputs (safety's gate).
// Until a read-back sent after it returns, the point counts at the higher
// of this setpoint and what it held before, whether or not the write
// reported success: a write that timed out may have landed.
func (l *Loop) write(ctx context.Context, now time.Time, x *view) {
	p := x.p
	wctx, cancel := context.WithTimeout(ctx, l.cfg.WriteTimeout)
	defer cancel()
	err := l.out.SetCurrentMA(wctx, p.ID, x.desired)
	p.cmdMA, p.cmdDone, p.cmdErr, p.known = x.desired, l.clk.Now(), err != nil, false
	if err != nil {
		p.nextTry = now.Add(l.cfg.RetryFailed) // cuts do not wait for it
		p.lastErr = err.Error()
		if ctx.Err() == nil {
			l.log.Warn("setpoint not written", "point", p.ID, "ma", x.desired, "err", err)
		}
		return
	}
	if l.disobeys(p, now) {
		p.nextTry = now.Add(l.cfg.RetryFailed) // re-pause a disobeying charger at this pace
		l.log.Error("charger draws more than it offers: paused", "point", p.ID, "offered_ma", x.truthMA)
		return
	}
	p.lastErr, p.nextTry = "", time.Time{}
}
