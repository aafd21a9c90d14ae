// Package clock is the edge's one source of time. Loops take a Clock so
// that tests drive time with clocktest.Fake instead of sleeping; pure code
// takes `now time.Time` instead. Only Real calls time.Now.
//
// The shape follows tailscale's tstime.Clock: NewTicker and NewTimer return a
// controller and the channel separately, so a fake can hand out channels it
// fires itself.
package clock

import "time"

// Clock tells the time and makes tickers and timers.
type Clock interface {
	Now() time.Time
	// NewTicker returns a ticker that sends the time on the channel every d
	// (d > 0), dropping ticks a slow reader misses, like time.Ticker.
	NewTicker(d time.Duration) (Ticker, <-chan time.Time)
	// NewTimer returns a timer that sends the time on the channel once,
	// after d, like time.Timer.
	NewTimer(d time.Duration) (Timer, <-chan time.Time)
	// After is NewTimer for when the timer is never stopped.
	After(d time.Duration) <-chan time.Time
	// Since returns Now().Sub(t).
	Since(t time.Time) time.Duration
}

// Ticker controls a ticker made by a Clock.
type Ticker interface {
	Stop()
	Reset(d time.Duration)
}

// Timer controls a timer made by a Clock.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it stopped it.
	Stop() bool
	// Reset makes the timer fire after d; it reports whether it was active.
	Reset(d time.Duration) bool
}

// Real is the wall clock.
type Real struct{}

var _ Clock = Real{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTicker wraps time.NewTicker.
func (Real) NewTicker(d time.Duration) (Ticker, <-chan time.Time) {
	t := time.NewTicker(d)
	return t, t.C
}

// NewTimer wraps time.NewTimer.
func (Real) NewTimer(d time.Duration) (Timer, <-chan time.Time) {
	t := time.NewTimer(d)
	return t, t.C
}

// After wraps time.After.
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Since wraps time.Since.
func (Real) Since(t time.Time) time.Duration { return time.Since(t) }

// OrReal returns c, or Real if c is nil: the default for an optional Clock
// field.
func OrReal(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}
