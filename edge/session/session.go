package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Meter is a charge point's Eichrecht meter.
type Meter interface {
	// Snapshot asks for a signed snapshot; identification lands in the
	// record's ID (the session id).
	Snapshot(ctx context.Context, kind drivers.SnapshotKind, identification string) (string, error)
	// LastSnapshot reads the last signed snapshot without asking for a
	// new one ("" when there is none).
	LastSnapshot(ctx context.Context) (string, error)
}

// Journal stores evidence durably: the outbox, with the gateway's signer.
type Journal interface {
	// Store appends readings and events as one signed record and returns
	// its seq once it is durable.
	Store(ctx context.Context, rs []reading.Reading, es []reading.Event) (uint64, error)
	// Hold keeps every stored record on disk until release is called.
	Hold() (release func())
	// StoredSnapshots returns the OCMF strings of the records with a seq
	// above after that are still on disk.
	StoredSnapshots(after uint64) (map[string]bool, error)
	// Epoch is the outbox's epoch.
	Epoch() string
}

// Clock is where the manager reads time and waits.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Point is one metered charge point.
type Point struct {
	ID     string // charge point id
	Device string // its Eichrecht meter's device id
	Meter  Meter
	// Central: the point has access "central": it charges only for a
	// session central authorised (access.go).
	Central bool
}

// Config configures a Manager.
type Config struct {
	StateFile string
	Points    []Point
	Journal   Journal
	Clock     Clock
	Log       *slog.Logger
	// Retry: a meter that failed or a record the journal refused is tried
	// again after this long (default 2 s).
	Retry time.Duration
	// IOTimeout bounds one meter call (default 15 s).
	IOTimeout time.Duration
	// LogEvery: repeated failures are logged at most once per LogEvery,
	// with counts (default 1 min).
	LogEvery time.Duration

	// Gate and Classes are the control loop; required when a point is
	// Central (access.go).
	Gate    Gate
	Classes Classes
	// StopSettle: a session stopped at its cap or by central gets its end
	// snapshot this long after the stop, once the charger has ramped down
	// (default 2 s).
	StopSettle time.Duration
}

// Event kinds the manager stores (append only).
const (
	EventBegin     = "session-begin"      // attrs session, meter, began_while_down
	EventEnd       = "session-end"        // attrs session, meter, ended_while_down
	EventRecovered = "snapshot-recovered" // attrs session, kind: the meter signed it while the edge was down
	// EventCancelled: a session central authorised ended before its begin
	// snapshot (no car by hold_expires, or stopped); attrs session, reason.
	EventCancelled = "session-cancelled"
)

// Stats are a Manager's counters.
type Stats struct {
	Open      int    // sessions open
	Pending   int    // snapshots needed and not yet stored
	Stored    uint64 // snapshots stored since start
	Recovered uint64 // of those, read back from the meter after a restart
	Failures  uint64 // meter calls and stores that failed
}

// Manager runs the sessions of a site. Observe feeds it the charge points'
// states; Run does the meter I/O and the stores.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{}
	// stored holds the OCMF records the journal held after the state file's
	// seq when New ran: stored before a crash, not yet noted.
	stored map[string]bool

	nStored, nRecovered, nFailures atomic64

	saveMu sync.Mutex // serialises state file writes
	// failSave, when set (tests), makes a state file write fail, as a
	// crash right before it would.
	failSave func() error

	mu     sync.Mutex // protects the fields below
	dirty  bool       // the state file is behind (a write failed, or a change waits to be saved)
	wakeAt time.Time  // Run looks again then (a stop settling); zero: not needed
	st     stateFile
	points map[string]*point
	order  []string
	lim    logLimiter
}

// point is the in-memory state of one charge point.
type point struct {
	Point
	*pointState
	observed  bool // a fresh state was seen since start
	connected bool // the last fresh state was B, C or D
	sawFree   bool // A was seen since start
	sawCar    bool // B, C or D was seen since start
	// unstored are snapshots read from the meter and not yet stored (the
	// outbox refused them), oldest first; they are stored in that order and
	// never asked for again.
	unstored   []taken
	beginTaken bool  // the open session's begin snapshot is read (stored or in unstored)
	gated      bool  // Central: the point's access gate is closed (as the daemon built it)
	hadOpen    bool  // a session was open at start
	counterWh  int64 // the meter's last energy reading, for events (-1: unknown)
}

// taken is a snapshot read from the meter, with what its record says.
type taken struct {
	r         Request
	rec       string
	recovered bool // read back after a restart
	beganDown bool // B: the session began while the edge was down
	endedDown bool // E: the session ended while the edge was down
	auth      *Auth
}

// New loads the state file (a missing one is an empty state) and returns
// the manager.
func New(cfg Config) (*Manager, error) {
	if cfg.Journal == nil || cfg.StateFile == "" {
		return nil, errors.New("session: a journal and a state file are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 2 * time.Second
	}
	if cfg.IOTimeout <= 0 {
		cfg.IOTimeout = 15 * time.Second
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = time.Minute
	}
	if cfg.StopSettle <= 0 {
		cfg.StopSettle = 2 * time.Second
	}
	for _, p := range cfg.Points {
		if p.Central && (cfg.Gate == nil || cfg.Classes == nil) {
			return nil, fmt.Errorf("session: point %s has access central: a gate and classes are required", p.ID)
		}
	}
	st, err := loadState(cfg.StateFile)
	if err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, log: cfg.Log, kick: make(chan struct{}, 1), st: st, points: map[string]*point{}}
	if st.Epoch == cfg.Journal.Epoch() {
		// Before anything is acknowledged and deleted: the records stored
		// after the last save, which may hold a snapshot the file does not
		// know of yet.
		if m.stored, err = cfg.Journal.StoredSnapshots(st.Head); err != nil {
			return nil, fmt.Errorf("session: read the outbox after seq %d: %w", st.Head, err)
		}
	}
	m.lim = logLimiter{every: cfg.LogEvery, now: cfg.Clock.Now}
	for _, p := range cfg.Points {
		ps := st.Points[p.ID]
		if ps == nil {
			ps = &pointState{}
			st.Points[p.ID] = ps
		}
		m.points[p.ID] = &point{Point: p, pointState: ps, hadOpen: ps.Session != nil, counterWh: -1,
			beginTaken: ps.Session != nil && ps.Session.BeginSnap, gated: p.Central}
		m.order = append(m.order, p.ID)
	}
	if err := m.restoreGates(); err != nil {
		return nil, err
	}
	return m, nil
}

// Observe records a fresh IEC 61851 state of a charge point at at:
// connected for B, C or D, not for A. (Faults and stale states say nothing
// about the car: do not call Observe for them.) It never blocks.
func (m *Manager) Observe(pointID string, connected bool, at time.Time) {
	m.mu.Lock()
	p := m.points[pointID]
	if p == nil {
		m.mu.Unlock()
		return
	}
	changed := !p.observed || p.connected != connected
	p.observed, p.connected = true, connected
	if connected {
		p.sawCar = true
	} else {
		p.sawFree = true
	}
	m.mu.Unlock()
	if changed {
		m.wake()
	}
}

// ObserveCounter records a meter's latest energy register (Wh), which the
// session events carry beside the snapshot.
// For a session central authorised with a cap, it is also where the cap
// is enforced (access.go).
func (m *Manager) ObserveCounter(pointID string, wh int64) {
	m.mu.Lock()
	p := m.points[pointID]
	if p == nil {
		m.mu.Unlock()
		return
	}
	p.counterWh = wh
	capped := m.checkCap(p, wh)
	m.mu.Unlock()
	if capped {
		m.stopped(p)
	}
}

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{Stored: m.nStored.load(), Recovered: m.nRecovered.load(), Failures: m.nFailures.load()}
	for _, p := range m.points {
		s.Pending += len(p.unstored)
		if p.Session != nil {
			s.Open++
			if !p.beginTaken && (p.Session.Auth == nil || (p.observed && p.connected)) {
				s.Pending++
			}
			if p.observed && !p.connected {
				s.Pending++
			}
		} else if p.observed && p.connected && !p.Central {
			s.Pending++
		}
	}
	return s
}

// OpenSessions returns the open sessions by point.
func (m *Manager) OpenSessions() map[string]Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Session{}
	for id, p := range m.points {
		if p.Session != nil {
			out[id] = *p.Session
		}
	}
	return out
}

// Run does the work until ctx ends: first it resolves snapshots asked for
// before a restart, then it follows Observe. It returns nil when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	for {
		again := m.pass(ctx, m.stored)
		wait := time.Duration(-1)
		if again {
			wait = m.cfg.Retry
		}
		m.mu.Lock()
		at := m.wakeAt
		m.wakeAt = time.Time{}
		m.mu.Unlock()
		if !at.IsZero() {
			if d := max(at.Sub(m.cfg.Clock.Now()), 0); wait < 0 || d < wait {
				wait = d
			}
		}
		var retry <-chan time.Time
		if wait >= 0 {
			retry = m.cfg.Clock.After(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.kick:
		case <-retry:
		}
	}
}

// pass goes over every point once; it reports whether something failed
// and should be tried again. A step once begun is finished even when ctx
// ends meanwhile (each meter call is bounded by IOTimeout): a snapshot the
// meter signed on a clean stop is stored before the edge exits.
func (m *Manager) pass(ctx context.Context, stored map[string]bool) (again bool) {
	sctx := context.WithoutCancel(ctx)
	m.mu.Lock()
	dirty := m.dirty
	m.mu.Unlock()
	if dirty {
		m.trySave(sctx)
		again = true
	}
	for _, id := range m.order {
		if ctx.Err() != nil {
			return false
		}
		m.mu.Lock()
		p := m.points[id]
		m.mu.Unlock()
		for ctx.Err() == nil {
			progressed, err := m.step(sctx, p, stored)
			if err != nil {
				if ctx.Err() != nil {
					return false
				}
				m.nFailures.add(1)
				m.logFailure(p, err)
				again = true
				break
			}
			if !progressed {
				break
			}
		}
	}
	return again
}

// step does the next thing point p needs, if any. It reports whether it
// did something (and the caller should look again). Snapshots read but not
// yet stored go first; when the outbox refuses them, the snapshots that are
// due are taken all the same (on time, kept in memory) and the refusal is
// returned.
func (m *Manager) step(ctx context.Context, p *point, stored map[string]bool) (bool, error) {
	m.mu.Lock()
	var (
		pending   = p.Pending
		sess      = p.Session
		observed  = p.observed
		connected = p.connected
		began     = p.beginTaken
		head      *taken
		inHand    bool // the pending request's snapshot is among unstored
	)
	if sess != nil {
		// A copy: Stop and ObserveCounter change a central session's Auth
		// under mu while this step runs.
		c := *sess
		c.Auth = sess.Auth.clone()
		sess = &c
	}
	if len(p.unstored) > 0 {
		h := p.unstored[0]
		head = &h
	}
	for _, tk := range p.unstored {
		if pending != nil && tk.r == *pending {
			inHand = true
		}
	}
	m.mu.Unlock()
	var storeErr error
	if head != nil {
		if storeErr = m.store(ctx, p, *head); storeErr == nil {
			return true, nil
		}
	}
	now := m.cfg.Clock.Now().UTC()
	switch {
	case pending != nil && !inHand:
		return true, errors.Join(m.resolve(ctx, p, *pending, stored), storeErr)
	case sess == nil && observed && connected && !p.Central:
		m.mu.Lock()
		s := &Session{ID: fmt.Sprintf("%s-%d", p.ID, now.UnixNano()), Point: p.ID, Began: now, BeganWhileDown: !p.sawFree}
		p.Session, p.beginTaken = s, false
		m.mu.Unlock()
		if s.BeganWhileDown {
			m.log.Warn("session: car found connected with no open session: it arrived while the edge was down", "point", p.ID, "session", s.ID)
		}
		m.trySave(ctx)
		return true, storeErr
	case sess == nil:
		return false, storeErr
	case sess.Auth != nil:
		return m.stepCentral(ctx, p, *sess, began, observed, connected, now, storeErr)
	case !began:
		return true, errors.Join(m.request(ctx, p, Request{Session: sess.ID, Kind: string(drivers.SnapshotBegin), At: now}), storeErr)
	case observed && !connected:
		return true, errors.Join(m.request(ctx, p, Request{Session: sess.ID, Kind: string(drivers.SnapshotEnd), At: now}), storeErr)
	}
	return false, storeErr
}

// request saves the request, then asks the meter. When the request cannot
// be saved (a full disk), the meter is asked all the same: a snapshot taken
// on time, kept in memory until the outbox takes it, is worth more than
// what the note would add (recovery after a crash in that window).
func (m *Manager) request(ctx context.Context, p *point, r Request) error {
	m.mu.Lock()
	p.Pending = &r
	m.mu.Unlock()
	m.trySave(ctx)
	cctx, cancel := context.WithTimeout(ctx, m.cfg.IOTimeout)
	defer cancel()
	rec, err := p.Meter.Snapshot(cctx, drivers.SnapshotKind(r.Kind[0]), r.Session)
	if err != nil {
		// Pending stays: the next try reads the meter's last record first,
		// in case it signed after all.
		return fmt.Errorf("snapshot %s of session %s: %w", r.Kind, r.Session, err)
	}
	m.log.Info("OCMF snapshot taken", "point", p.ID, "kind", r.Kind, "session", r.Session)
	m.took(p, taken{r: r, rec: rec})
	return nil
}

// took puts a snapshot read from the meter in line to be stored, and moves
// the session on: its begin is taken, or, at its end, it is closed (the
// end snapshot carries the session-end event).
func (m *Manager) took(p *point, tk taken) {
	m.mu.Lock()
	var ended *Session // a central session closed by this end snapshot
	if s := p.Session; s != nil && s.ID == tk.r.Session {
		switch tk.r.Kind {
		case string(drivers.SnapshotBegin):
			p.beginTaken = true
			tk.beganDown = s.BeganWhileDown
			if s.Auth != nil && p.counterWh >= 0 {
				wh := p.counterWh
				s.Auth.BeginWh = &wh
			}
		case string(drivers.SnapshotEnd):
			tk.endedDown = p.hadOpen && !p.sawCar
			p.Session, p.beginTaken = nil, false
			if s.Auth != nil {
				p.LastCentral, ended = s.ID, s
			}
		}
		tk.auth = s.Auth.clone()
	}
	p.unstored = append(p.unstored, tk)
	m.mu.Unlock()
	m.afterSnapshot(p, tk.r.Kind, ended)
}

// resolve settles a request whose outcome is unknown (a restart, or a
// failed meter call) from the meter's last record.
func (m *Manager) resolve(ctx context.Context, p *point, r Request, stored map[string]bool) error {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.IOTimeout)
	defer cancel()
	rec, err := p.Meter.LastSnapshot(cctx)
	if err != nil {
		return fmt.Errorf("read last snapshot for session %s: %w", r.Session, err)
	}
	m.mu.Lock()
	last := p.LastHash
	m.mu.Unlock()
	f, parsed := parseOCMF(rec)
	switch h := hash(rec); {
	case rec == "" || h == last || !parsed || f.ID != r.Session:
		// The meter did not sign this request (its last record is one
		// stored before, or not this session's): ask again.
		m.mu.Lock()
		p.Pending = nil
		m.mu.Unlock()
		m.trySave(ctx)
		return nil
	case stored[rec]:
		// Stored before the restart; the state file did not say so yet.
		m.log.Info("session: snapshot found in the outbox after a restart", "point", p.ID, "kind", r.Kind, "session", r.Session)
		m.mu.Lock()
		var ended *Session
		if s := p.Session; s != nil && s.ID == r.Session {
			switch r.Kind {
			case string(drivers.SnapshotBegin):
				s.BeginSnap, p.beginTaken = true, true
			case string(drivers.SnapshotEnd):
				p.Session, p.beginTaken = nil, false
				if s.Auth != nil {
					p.LastCentral, ended = s.ID, s
				}
			}
		}
		p.LastHash, p.Pending = h, nil
		m.mu.Unlock()
		m.afterSnapshot(p, r.Kind, ended)
		m.trySave(ctx)
		return nil
	default:
		m.log.Warn("session: the meter signed a snapshot the edge had not stored (restart); storing it now", "point", p.ID, "kind", r.Kind, "session", r.Session)
		m.took(p, taken{r: r, rec: rec, recovered: true})
		return nil
	}
}

// store stores the snapshot tk durably with its events, then notes it.
func (m *Manager) store(ctx context.Context, p *point, tk taken) error {
	now := m.cfg.Clock.Now().UTC()
	r := tk.r
	rs := []reading.Reading{{Time: now, Device: p.Device, Point: p.ID, Quantity: reading.QSnapshot, OCMF: tk.rec, Session: r.Session}}
	var es []reading.Event
	if tk.recovered {
		a := m.attrs(p, r.Session)
		a["kind"] = r.Kind
		es = append(es, reading.Event{Time: now, Kind: EventRecovered, Device: p.Device, Point: p.ID, Attrs: a})
	}
	switch r.Kind {
	case string(drivers.SnapshotBegin):
		a := m.attrs(p, r.Session)
		a["began_while_down"] = strconv.FormatBool(tk.beganDown)
		tk.auth.attrs(a)
		es = append(es, reading.Event{Time: now, Kind: EventBegin, Device: p.Device, Point: p.ID, Attrs: a})
	case string(drivers.SnapshotEnd):
		a := m.attrs(p, r.Session)
		a["ended_while_down"] = strconv.FormatBool(tk.endedDown)
		if tk.auth != nil {
			tk.auth.attrs(a)
			a["reason"] = cmp.Or(tk.auth.Stop, StopUnplugged)
		}
		es = append(es, reading.Event{Time: now, Kind: EventEnd, Device: p.Device, Point: p.ID, Attrs: a})
	}
	release := m.cfg.Journal.Hold()
	defer release()
	seq, err := m.cfg.Journal.Store(ctx, rs, es)
	if err != nil {
		return fmt.Errorf("store snapshot %s of session %s: %w", r.Kind, r.Session, err)
	}
	m.nStored.add(1)
	if tk.recovered {
		m.nRecovered.add(1)
	}
	m.mu.Lock()
	p.unstored = p.unstored[1:]
	p.LastHash = hash(tk.rec)
	if p.Pending != nil && *p.Pending == r {
		p.Pending = nil
	}
	if s := p.Session; s != nil && s.ID == r.Session && r.Kind == string(drivers.SnapshotBegin) {
		s.BeginSnap = true
	}
	m.st.Head = max(m.st.Head, seq)
	m.mu.Unlock()
	m.trySave(ctx)
	return nil
}

// attrs are the attributes every session event carries.
func (m *Manager) attrs(p *point, session string) map[string]string {
	a := map[string]string{"session": session, "meter": p.Device}
	m.mu.Lock()
	if p.counterWh >= 0 {
		a["energy_wh"] = strconv.FormatInt(p.counterWh, 10)
	}
	m.mu.Unlock()
	return a
}
