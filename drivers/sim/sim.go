package sim

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/drivers/sim/internal/mbserver"
)

// Options are what New needs besides the config.
type Options struct {
	// Logger receives start/stop and error messages; nil discards them.
	Logger *slog.Logger
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// Manual stops the real-time runner: simulated time then moves only
	// with Step, which makes tests deterministic.
	Manual bool
}

// writeLogSize is how many writes State keeps.
const writeLogSize = 1024

// Sim is a simulated car park serving its devices on Modbus TCP.
type Sim struct {
	cfg    Config
	log    *slog.Logger
	wall   func() time.Time
	manual bool

	// tables maps a listener name to its devices by unit id; fixed after New.
	tables    map[string]*[256]device
	devices   []device // in config order
	byName    map[string]device
	pointByNm map[string]*point

	mu sync.Mutex // protects the fields below and the devices' state
	// clock: simulated now = simStart + offset + speed × (wall − wallStart) while running
	simStart     time.Time
	wallStart    time.Time
	offset       time.Duration
	running      bool
	now          time.Time // physics has advanced to here
	lastEventSec int64
	dirty        bool
	rng          *rand.Rand
	voltage      [3]float64
	freq         float64
	grid         gridState
	gridMeter    *sdmMeter
	subs         []*subDist
	points       []*point
	di           *diModule
	fireOpenedAt *Stamp
	writes       []Write // ring
	writeSeq     uint64
	bound        map[string]string // listener name → bound address, set by Start
	apiAddr      string

	life    sync.Mutex // protects the fields below (Start/Close)
	started bool
	closed  bool
	servers map[string]*mbserver.Server
	httpSrv *http.Server
	httpLn  net.Listener
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New builds the car park described by cfg (checked first). It does not
// listen yet: see Start and Run.
func New(cfg Config, opts Options) (*Sim, error) {
	cfg = cfg.clone()
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("sim config: %w", err)
	}
	s := &Sim{
		cfg:       cfg,
		log:       opts.Logger,
		wall:      opts.Now,
		manual:    opts.Manual,
		tables:    map[string]*[256]device{},
		byName:    map[string]device{},
		pointByNm: map[string]*point{},
		rng:       newRand(cfg.Seed),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.wall == nil {
		s.wall = time.Now
	}
	s.simStart = s.wall()
	if cfg.Start != "" {
		s.simStart, _ = time.Parse(time.RFC3339Nano, cfg.Start) // checked by validate
	}
	s.now = s.simStart
	s.lastEventSec = math.MinInt64

	add := func(d device, dc DeviceConfig, kind string) {
		b := d.base()
		b.name, b.kind, b.unit = dc.Name, kind, uint8(dc.Unit)
		b.listener = dc.Listener
		if b.listener == "" {
			b.listener = MainListener
		}
		tab := s.tables[b.listener]
		if tab == nil {
			tab = new([256]device)
			s.tables[b.listener] = tab
		}
		tab[dc.Unit] = d
		s.devices = append(s.devices, d)
		s.byName[b.name] = d
	}
	s.gridMeter = &sdmMeter{}
	add(s.gridMeter, cfg.Grid.DeviceConfig, KindSDM630)
	if cfg.DI != nil {
		s.di = &diModule{}
		add(s.di, *cfg.DI, KindDI)
	}
	ch := cfg.Chargers
	for i, sc := range cfg.Subs {
		sd := &subDist{name: sc.Name, index: i, humidityPc: 45}
		s.subs = append(s.subs, sd)
		if sc.Meter != nil {
			sd.meter = &sdmMeter{sub: sd}
			add(sd.meter, *sc.Meter, KindSDM630)
		}
		if tc := sc.Temperature; tc != nil {
			sd.thermo = &thermometer{sub: sd, ambientC: tc.AmbientC, risePerA: tc.RiseCPerA, overTempC: math.NaN()}
			sd.tempC = tc.AmbientC
			add(sd.thermo, tc.DeviceConfig, KindXYMD02)
		}
		for _, g := range sc.Points {
			for k := range g.Count {
				name := g.pointName(k)
				rot := g.rotation(k)
				p := &point{name: name, sub: sd, rotation: rot, gridOf: rotations[rot], hwMaxA: g.MaxA, state: StateA}
				p.ctl = &controller{p: p, powerOn: ch}
				p.ctl.reboot()
				ctlAt, meterAt := g.place(k)
				add(p.ctl, ctlAt, KindPhoenix)
				key, err := meterKey(cfg.KeyDir, cfg.Seed, name+".meter")
				if err != nil {
					return nil, err
				}
				der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
				if err != nil {
					return nil, err
				}
				p.meter = &ocmfMeter{p: p, key: key, pubDER: der, serial: fmt.Sprintf("SIM-%s", name)}
				add(p.meter, meterAt, KindEichrecht)
				sd.points = append(sd.points, p)
				s.points = append(s.points, p)
				s.pointByNm[name] = p
			}
		}
	}
	// Voltages, first cars.
	for g := range 3 {
		s.voltage[g] = cfg.Voltage.NominalV
	}
	s.freq = cfg.Voltage.FrequencyHz
	for _, p := range s.points {
		if cfg.Cars.ConnectedAtStart > 0 && s.rng.Float64() < cfg.Cars.ConnectedAtStart {
			p.car = s.randomCar(s.now)
		}
	}
	s.recompute(s.now)
	return s, nil
}

// Config returns the config the simulator runs (defaults filled).
func (s *Sim) Config() Config { return s.cfg.clone() }

// clockNow is the simulated time now. Call with mu held.
func (s *Sim) clockNow() time.Time {
	t := s.simStart.Add(s.offset)
	if s.running && !s.manual {
		t = t.Add(time.Duration(float64(s.wall().Sub(s.wallStart)) * s.cfg.Speed))
	}
	if t.Before(s.now) {
		return s.now
	}
	return t
}

// Now returns the simulated time.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clockNow()
}

// Step advances simulated time by dt at once, running the physics. It is
// how tests move time; with the real-time runner it skips ahead.
func (s *Sim) Step(dt time.Duration) {
	if dt <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += dt
	s.advanceTo(s.clockNow())
	s.recompute(s.now)
}

// refresh brings the instantaneous values up to date. Call with mu held.
func (s *Sim) refresh(t time.Time) {
	if s.dirty {
		s.recompute(t)
	}
}

// Start binds the Modbus listeners and the control API and starts serving;
// unless Options.Manual, it also starts the real-time runner. Use the
// addresses from ModbusAddr and APIAddr (configured ports may be 0).
func (s *Sim) Start(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.started || s.closed {
		return errors.New("sim: already started")
	}
	s.started = true
	s.servers = map[string]*mbserver.Server{}
	names := make([]string, 0, len(s.tables))
	for name := range s.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	bound := map[string]string{}
	fail := func(err error) error {
		for _, srv := range s.servers {
			_ = srv.Close()
		}
		s.servers = nil
		return err
	}
	for _, name := range names {
		addr := s.cfg.listenerAddr(name)
		tab := s.tables[name]
		srv, err := mbserver.Listen(addr, mbserver.HandlerFunc(func(req *mbserver.Request) mbserver.Reply {
			return s.serveModbus(tab, req)
		}))
		if err != nil {
			return fail(fmt.Errorf("sim: listener %q: %w", name, err))
		}
		s.servers[name] = srv
		bound[name] = srv.Addr().String()
		s.log.Info("sim: modbus listening", "listener", name, "addr", srv.Addr().String())
	}
	if s.cfg.API != "off" {
		ln, err := net.Listen("tcp", s.cfg.API)
		if err != nil {
			return fail(fmt.Errorf("sim: control API: %w", err))
		}
		s.httpLn = ln
		s.httpSrv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("sim: control API", "err", err)
			}
		}()
		s.log.Info("sim: control API listening", "addr", ln.Addr().String())
	}
	s.mu.Lock()
	s.bound = bound
	if s.httpLn != nil {
		s.apiAddr = s.httpLn.Addr().String()
	}
	s.wallStart = s.wall()
	if s.cfg.Start == "" && !s.manual {
		// Simulated time is wall time (plus any Step): start counting now,
		// not when New ran.
		s.simStart = s.wallStart
	} else {
		s.simStart = s.clockNow().Add(-s.offset)
	}
	s.running = true
	s.mu.Unlock()
	if !s.manual {
		rctx, cancel := context.WithCancel(ctx)
		s.cancel = cancel
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runClock(rctx)
		}()
	}
	return nil
}

// runClock advances the physics every tick of wall time.
func (s *Sim) runClock(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			s.advanceTo(s.clockNow())
			s.mu.Unlock()
		}
	}
}

// Close stops serving and waits for every goroutine.
func (s *Sim) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	var errs []error
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			_ = s.httpSrv.Close()
		}
		cancel()
	}
	for _, srv := range s.servers {
		if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	s.mu.Lock()
	s.running = false
	s.mu.Unlock()
	return errors.Join(errs...)
}

// Run starts the simulator, serves until ctx ends, then closes it. It is
// what `parkgrid sim --config FILE` calls.
func (s *Sim) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// ModbusAddr returns the bound address of a listener ("main" for Listen),
// or "" when it is not listening.
func (s *Sim) ModbusAddr(listener string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bound[listener]
}

// APIAddr returns the bound address of the control API, or "".
func (s *Sim) APIAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiAddr
}

// serveModbus answers one request for the devices of one listener.
func (s *Sim) serveModbus(tab *[256]device, req *mbserver.Request) mbserver.Reply {
	d := tab[req.Unit]
	if d == nil {
		return exception(mbserver.GatewayTargetNoResponse)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := d.base()
	if b.offline {
		return mbserver.Reply{NoReply: true}
	}
	t := s.clockNow()
	if req.IsWrite() {
		s.advanceTo(t) // integrate at the old values up to the write
	}
	r := d.serve(s, t, req)
	r.Delay = b.slow
	return r
}

// logWrite records a write. Call with mu held.
func (s *Sim) logWrite(t time.Time, device string, unit uint8, what string, value int) SetpointWrite {
	s.writeSeq++
	w := Write{Seq: s.writeSeq, At: t, Wall: s.wall(), Device: device, Unit: int(unit), What: what, Value: value}
	if len(s.writes) < writeLogSize {
		s.writes = append(s.writes, w)
	} else {
		s.writes[int((s.writeSeq-1)%writeLogSize)] = w
	}
	return SetpointWrite{Value: value, At: w.At, Wall: w.Wall}
}
