// Package site holds the edge's live view of its car park: the latest
// sample of every device with the time it was read, and whether that device
// answers. Pollers write it; safety, control and the EMS API read it.
//
// Staleness is data, not an error: a reading older than StaleIntervals poll
// intervals (or never taken) comes back with Stale set, and readers decide
// what that means for them (control falls back to the safe budget, safety
// trips on an unreadable fire-alarm module).
package site

import (
	"fmt"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// StaleIntervals is how many poll intervals a reading stays fresh.
const StaleIntervals = 3

// Contacts is a DI module's inputs as a bit mask: bit n set = input n closed.
// Only the first N inputs were read.
type Contacts struct {
	Closed uint64
	N      int
}

// IsClosed reports whether input n is closed, and false for ok when the
// module did not report input n.
func (c Contacts) IsClosed(n int) (closed, ok bool) {
	if n < 0 || n >= c.N || n >= 64 {
		return false, false
	}
	return c.Closed&(1<<uint(n)) != 0, true
}

// ContactsFrom maps the driver's view to input numbers as docs/registers.md
// lays them out: 0 fire loop, 1 supervision, 2.. the SPD contacts.
func ContactsFrom(s drivers.ContactStatus) Contacts {
	var c Contacts
	set := func(n int, closed bool) {
		if n < 64 && closed {
			c.Closed |= 1 << uint(n)
		}
	}
	set(0, s.FireLoopClosed)
	set(1, s.SupervisionIntact)
	for i, closed := range s.SPDClosed {
		set(2+i, closed)
	}
	c.N = min(2+len(s.SPDClosed), 64)
	return c
}

// Reading is a device's latest value as of some time now.
type Reading[T any] struct {
	Value T
	At    time.Time // when it was read; zero if never
	// Sent is when the request that read it was issued (At if not known).
	// A reading sent after a write returned is a read-back of that write:
	// the bus executes requests in order.
	Sent time.Time
	// Stale is set when the value is older than StaleIntervals poll
	// intervals, or there is none.
	Stale bool
	// Frozen is set for a meter whose energy counter stands still while
	// current flows (see poll).
	Frozen bool
}

// Age returns how old the reading is at now (a very large value if none).
func (r Reading[T]) Age(now time.Time) time.Duration {
	if r.At.IsZero() {
		return 1<<63 - 1
	}
	return now.Sub(r.At)
}

// Health is whether a device answers.
type Health struct {
	Device   string
	Bus      string
	Interval time.Duration
	LastOK   time.Time // zero if never
	LastErr  string    // "" after a success
	ErrAt    time.Time
	Offline  bool // stopped answering (see poll.Options.OfflineAfter)
	Frozen   bool
	Polls    uint64 // polls attempted
	Failures uint64 // polls that failed
}

// Spec names a device the state tracks and how often it is read.
type Spec struct {
	ID       string
	Bus      string
	Interval time.Duration
}

type device struct {
	spec     Spec
	at       time.Time
	sent     time.Time
	meter    drivers.MeterSample
	charger  drivers.ChargerStatus
	contacts Contacts
	tempDeci int64
	health   Health
}

// State is the live view. It is safe for concurrent use.
type State struct {
	mu   sync.RWMutex // protects devs' contents
	devs map[string]*device
}

// New returns a state tracking the given devices.
func New(specs []Spec) *State {
	s := &State{devs: make(map[string]*device, len(specs))}
	for _, sp := range specs {
		s.devs[sp.ID] = &device{spec: sp, health: Health{Device: sp.ID, Bus: sp.Bus, Interval: sp.Interval}}
	}
	return s
}

func (s *State) put(id string, sent, at time.Time, f func(d *device)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devs[id]
	if !ok {
		return fmt.Errorf("site state: unknown device %q", id)
	}
	f(d)
	d.at, d.sent = at, sent
	d.health.Polls++
	d.health.LastOK = at
	d.health.LastErr = ""
	d.health.Offline = false
	return nil
}

// PutMeter stores a meter sample read at at.
func (s *State) PutMeter(id string, at time.Time, v drivers.MeterSample) error {
	return s.put(id, at, at, func(d *device) { d.meter = v })
}

// PutCharger stores a charge controller's status read at at.
func (s *State) PutCharger(id string, at time.Time, v drivers.ChargerStatus) error {
	return s.PutChargerRead(id, at, at, v)
}

// PutChargerRead stores a charge controller's status whose read was sent
// at sent and answered at at: the poller's form, so that control can tell a
// read-back of its last write from a read that was already under way.
func (s *State) PutChargerRead(id string, sent, at time.Time, v drivers.ChargerStatus) error {
	return s.put(id, sent, at, func(d *device) { d.charger = v })
}

// PutContacts stores a DI module's inputs read at at.
func (s *State) PutContacts(id string, at time.Time, v Contacts) error {
	return s.put(id, at, at, func(d *device) { d.contacts = v })
}

// PutTemperature stores a temperature (0.1 °C) read at at.
func (s *State) PutTemperature(id string, at time.Time, deciC int64) error {
	return s.put(id, at, at, func(d *device) { d.tempDeci = deciC })
}

// PutError records a failed poll. The last good value stays, and goes
// stale with time.
func (s *State) PutError(id string, at time.Time, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.devs[id]; ok {
		d.health.Polls++
		d.health.Failures++
		d.health.LastErr = err.Error()
		d.health.ErrAt = at
	}
}

// SetOffline marks whether a device stopped answering.
func (s *State) SetOffline(id string, offline bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.devs[id]; ok {
		d.health.Offline = offline
	}
}

// SetFrozen marks whether a meter's counter is frozen.
func (s *State) SetFrozen(id string, frozen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.devs[id]; ok {
		d.health.Frozen = frozen
	}
}

func read[T any](s *State, id string, now time.Time, get func(d *device) T) Reading[T] {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.devs[id]
	if !ok || d.at.IsZero() {
		return Reading[T]{Stale: true}
	}
	return Reading[T]{
		Value:  get(d),
		At:     d.at,
		Sent:   d.sent,
		Stale:  now.Sub(d.at) > StaleIntervals*d.spec.Interval,
		Frozen: d.health.Frozen,
	}
}

// Meter returns a meter's latest sample as of now.
func (s *State) Meter(id string, now time.Time) Reading[drivers.MeterSample] {
	return read(s, id, now, func(d *device) drivers.MeterSample { return d.meter })
}

// Charger returns a charge controller's latest status as of now.
func (s *State) Charger(id string, now time.Time) Reading[drivers.ChargerStatus] {
	return read(s, id, now, func(d *device) drivers.ChargerStatus { return d.charger })
}

// Contacts returns a DI module's latest inputs as of now.
func (s *State) Contacts(id string, now time.Time) Reading[Contacts] {
	return read(s, id, now, func(d *device) Contacts { return d.contacts })
}

// TemperatureDeciC returns a sensor's latest temperature (0.1 °C) as of now.
func (s *State) TemperatureDeciC(id string, now time.Time) Reading[int64] {
	return read(s, id, now, func(d *device) int64 { return d.tempDeci })
}

// Health returns every device's health, in no particular order.
func (s *State) Health() []Health {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Health, 0, len(s.devs))
	for _, d := range s.devs {
		out = append(out, d.health)
	}
	return out
}

// DeviceHealth returns one device's health.
func (s *State) DeviceHealth(id string) (Health, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.devs[id]
	if !ok {
		return Health{}, false
	}
	return d.health, true
}
