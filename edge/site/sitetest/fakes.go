// Package sitetest provides hand-written fake field devices for the edge's
// tests: a meter, a charge controller, a DI module and a thermometer whose
// values and errors a test sets, and which record what was written to them.
package sitetest

import (
	"context"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// Meter is a fake meter.
type Meter struct {
	mu     sync.Mutex // protects the fields below
	sample drivers.MeterSample
	err    error
	reads  int
}

// Set sets what the next reads return.
func (m *Meter) Set(s drivers.MeterSample, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sample, m.err = s, err
}

// Sample returns the value set.
func (m *Meter) Sample(context.Context) (drivers.MeterSample, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	return m.sample, m.err
}

// Reads returns how often Sample was called.
func (m *Meter) Reads() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reads
}

// Contacts is a fake DI module.
type Contacts struct {
	mu     sync.Mutex // protects the fields below
	status drivers.ContactStatus
	err    error
	panics bool
	reads  int
}

// NewContacts returns a healthy module: loop closed, supervision intact and
// spds SPD contacts closed.
func NewContacts(spds int) *Contacts {
	c := &Contacts{status: drivers.ContactStatus{FireLoopClosed: true, SupervisionIntact: true, SPDClosed: make([]bool, spds)}}
	for i := range c.status.SPDClosed {
		c.status.SPDClosed[i] = true
	}
	return c
}

// Update changes the status under the lock.
func (c *Contacts) Update(f func(s *drivers.ContactStatus)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f(&c.status)
}

// SetErr makes reads fail with err (nil: answer again).
func (c *Contacts) SetErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// SetPanic makes reads panic, like a buggy driver.
func (c *Contacts) SetPanic(p bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.panics = p
}

// Contacts returns the status set.
func (c *Contacts) Contacts(context.Context) (drivers.ContactStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
	if c.panics {
		panic("sitetest: contacts panic")
	}
	s := c.status
	s.SPDClosed = append([]bool(nil), s.SPDClosed...)
	return s, c.err
}

// Reads returns how often Contacts was called.
func (c *Contacts) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

// Thermometer is a fake temperature sensor.
type Thermometer struct {
	mu   sync.Mutex // protects the fields below
	deci int64
	err  error
}

// Set sets the temperature (0.1 °C) and error the next reads return.
func (t *Thermometer) Set(deciC int64, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.deci, t.err = deciC, err
}

// TemperatureDeciC returns the value set.
func (t *Thermometer) TemperatureDeciC(context.Context) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.deci, t.err
}

// Write is one write a Charger received.
type Write struct {
	What  string // "current", "enable", "failsafe"
	Value int    // A, 0/1, or fallback A
	Extra time.Duration
}

// Charger is a fake charge controller. It records every write; a test may
// make writes fail or block until released.
type Charger struct {
	mu       sync.Mutex // protects the fields below
	status   drivers.ChargerStatus
	statErr  error
	writeErr error
	kindErr  map[string]error         // per Write.What
	kindGate map[string]chan struct{} // per Write.What: writes wait for it to close
	writes   []Write
	currentA int
	enabled  bool
	fallback int
	watchdog time.Duration
	gate     chan struct{} // non-nil: writes wait for it to close
	// OnWrite, if set, is called (outside the lock) after every write.
	OnWrite func(Write)
	// OnEnter, if set, is called when a write starts, before it waits for
	// a Hold to be released.
	OnEnter func()
}

// NewCharger returns a charger in state s (A..F).
func NewCharger(s drivers.ChargeState) *Charger {
	return &Charger{status: drivers.ChargerStatus{State: s}}
}

// SetStatus sets what Status returns.
func (c *Charger) SetStatus(s drivers.ChargerStatus, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status, c.statErr = s, err
}

// SetWriteErr makes writes fail with err (nil: succeed).
func (c *Charger) SetWriteErr(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeErr = err
}

// SetWriteErrFor makes writes of one kind ("current", "enable",
// "failsafe") fail with err (nil: succeed), e.g. a controller that refuses
// 0 A but takes its enable.
func (c *Charger) SetWriteErrFor(what string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kindErr == nil {
		c.kindErr = map[string]error{}
	}
	c.kindErr[what] = err
}

// HoldKind makes writes of one kind block until the returned function is
// called (or their context ends).
func (c *Charger) HoldKind(what string) (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kindGate == nil {
		c.kindGate = map[string]chan struct{}{}
	}
	g := make(chan struct{})
	c.kindGate[what] = g
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// Hold makes writes block until the returned function is called.
func (c *Charger) Hold() (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := make(chan struct{})
	c.gate = g
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// Status returns the status set, with the read-back (Enabled,
// MaxCurrentA, OfferedA) following what was written.
func (c *Charger) Status(context.Context) (drivers.ChargerStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.status
	s.Enabled, s.MaxCurrentA = c.enabled, c.currentA
	s.OfferedA = drivers.OfferedA(c.enabled, c.currentA)
	return s, c.statErr
}

func (c *Charger) write(ctx context.Context, w Write, apply func()) error {
	c.mu.Lock()
	gate, kgate, enter := c.gate, c.kindGate[w.What], c.OnEnter
	c.mu.Unlock()
	if enter != nil {
		enter()
	}
	for _, g := range []chan struct{}{gate, kgate} {
		if g == nil {
			continue
		}
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	err := c.writeErr
	if e := c.kindErr[w.What]; e != nil {
		err = e
	}
	if err == nil {
		c.writes = append(c.writes, w)
		apply()
	}
	on := c.OnWrite
	c.mu.Unlock()
	if err == nil && on != nil {
		on(w)
	}
	return err
}

// SetMaxCurrentA records the current.
func (c *Charger) SetMaxCurrentA(ctx context.Context, a int) error {
	return c.write(ctx, Write{What: "current", Value: a}, func() { c.currentA = a })
}

// SetEnabled records the enable coil.
func (c *Charger) SetEnabled(ctx context.Context, on bool) error {
	v := 0
	if on {
		v = 1
	}
	return c.write(ctx, Write{What: "enable", Value: v}, func() { c.enabled = on })
}

// SetFailsafe records fallback current and watchdog.
func (c *Charger) SetFailsafe(ctx context.Context, fallbackA int, watchdog time.Duration) error {
	return c.write(ctx, Write{What: "failsafe", Value: fallbackA, Extra: watchdog}, func() { c.fallback, c.watchdog = fallbackA, watchdog })
}

// Current returns the current and enable state last written.
func (c *Charger) Current() (a int, enabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.currentA, c.enabled
}

// Failsafe reads back the fallback and watchdog it holds (the driver
// capability drivers.Failsafe).
func (c *Charger) Failsafe(context.Context) (fallbackA int, watchdog time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fallback, c.watchdog, c.statErr
}

// FailsafeSet returns the fallback and watchdog it holds, for a test's
// checks.
func (c *Charger) FailsafeSet() (fallbackA int, watchdog time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fallback, c.watchdog
}

// Reboot puts the charger back to power-on defaults: enabled at powerOnA,
// no fallback, no watchdog.
func (c *Charger) Reboot(powerOnA int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.currentA, c.enabled, c.fallback, c.watchdog = powerOnA, true, 0, 0
}

// Writes returns every write so far.
func (c *Charger) Writes() []Write {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Write(nil), c.writes...)
}

// Seed sets the current and enable state as if written, without recording.
func (c *Charger) Seed(a int, enabled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.currentA, c.enabled = a, enabled
}
