package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// grid.meter_margin_a is kept free below the grid meter's headroom on every
// phase: the other load is the meter's reading minus the chargers' own,
// read at different moments, so it lags what is drawn (loadmgmt.Site's
// MeterMarginMA). The bound is for the meters' timing, not a second fuse.
const (
	DefaultMeterMarginA = 1
	MaxMeterMarginA     = 50
)

// Defaults Load fills in.
const (
	DefaultWatchdog          = 15 * time.Second
	DefaultBusTimeout        = time.Second
	DefaultBaud              = 9600
	DefaultUnbalanceA        = 20
	DefaultMinA              = 6
	DefaultHysteresisC       = 5
	DefaultMaxTTL            = time.Hour
	DefaultControlInterval   = time.Second
	DefaultGridStaleAfter    = 2 * time.Second
	DefaultMaxParallelWrites = 32
	DefaultRaiseEvery        = 10 * time.Second
	DefaultDeadbandA         = 1
	DefaultMinOn             = time.Minute
	DefaultMinOff            = 3 * time.Minute
	DefaultReadingInterval   = 10 * time.Second
	DefaultBatchMaxReadings  = 500
	DefaultBatchMaxDelay     = time.Second
	DefaultOutboxMaxBytes    = 1 << 30
	// DefaultOutboxSegmentBytes is the outbox's segment size.
	DefaultOutboxSegmentBytes = 4 << 20
	// DefaultNoAckAlarm: the uplink alarm is raised when records wait this
	// long without an ack.
	DefaultNoAckAlarm = 2 * time.Minute
	// DefaultDataDir is where the edge keeps its state by default (the
	// systemd unit's StateDirectory).
	DefaultDataDir = "/var/lib/parkgrid"
	// DefaultStateFile is the safety latch's file in the data directory.
	DefaultStateFile = "safety.json"
	// DefaultOfflineResumeAfter: how long a DI module must read healthy
	// before a latch it tripped only by being unreadable releases itself.
	DefaultOfflineResumeAfter = 10 * time.Second
	// MaxChargerA is the largest current a charge controller accepts.
	MaxChargerA = 63
	// MaxDIInput is the highest DI input docs/registers.md defines (0 fire
	// loop, 1 supervision, 2..9 SPD contacts).
	MaxDIInput = 9
)

// DefaultPoll is the poll interval of a device whose entry names none.
func DefaultPoll(d Driver) time.Duration {
	switch d {
	case DIInput:
		return 100 * time.Millisecond
	case XYMD02:
		return 10 * time.Second
	}
	return time.Second
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

var bauds = []int{1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200}

type validator struct {
	file  string
	lines map[string]int
	site  *Site
	errs  []*FieldError
}

// line returns the line of path, or of its nearest enclosing element.
func (v *validator) line(path string) int {
	for p := path; p != ""; {
		if l, ok := v.lines[p]; ok {
			return l
		}
		if i := strings.LastIndexAny(p, ".["); i >= 0 {
			p = p[:i]
		} else {
			break
		}
	}
	return v.lines[""]
}

func (v *validator) errf(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{File: v.file, Line: v.line(path), Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) warnf(path, format string, args ...any) {
	fe := FieldError{File: v.file, Line: v.line(path), Field: path, Msg: fmt.Sprintf(format, args...)}
	v.site.Warnings = append(v.site.Warnings, fe.Error())
}

func (v *validator) has(path string) bool { _, ok := v.lines[path]; return ok }

func (v *validator) checkID(path, what, id string) bool {
	if id == "" {
		v.errf(path, "%s id is missing", what)
		return false
	}
	if !idPattern.MatchString(id) {
		v.errf(path, "%s id %q: use letters, digits, '_', '.', '-'", what, id)
		return false
	}
	return true
}

// nodeInfo is a node of the site tree, for the checks that walk it.
type nodeInfo struct {
	id     string
	path   string
	limit  PhaseAmps
	parent int // -1 for the grid
}

func (v *validator) run() {
	s := v.site
	v.checkID("site", "site", s.ID)
	v.checkID("gateway", "gateway", s.Gateway)
	switch {
	case s.Watchdog == 0 && !v.has("watchdog"):
		s.Watchdog = DefaultWatchdog
	case s.Watchdog < time.Second || s.Watchdog > 65535*time.Second || s.Watchdog%time.Second != 0:
		v.errf("watchdog", "watchdog %s must be whole seconds in 1s..65535s", s.Watchdog)
	}
	v.buses()
	nodes := v.tree()
	v.chargePoints(nodes)
	v.safety()
	v.ems()
	v.control()
	v.uplink()
	v.influx()
	v.ocpp()
	v.unusedDevices()
}

func (v *validator) buses() {
	s := v.site
	s.devices = map[string]*Device{}
	if len(s.Buses) == 0 {
		v.errf("buses", "no buses: a site needs at least one Modbus bus")
	}
	busIDs := map[string]string{}
	devPaths := map[string]string{}
	for bi := range s.Buses {
		b := &s.Buses[bi]
		bp := fmt.Sprintf("buses[%d]", bi)
		if v.checkID(bp+".id", "bus", b.ID) {
			if prev, dup := busIDs[b.ID]; dup {
				v.errf(bp+".id", "bus id %q used twice (first at line %d)", b.ID, v.line(prev))
			}
			busIDs[b.ID] = bp + ".id"
		}
		switch {
		case b.TCP != "" && b.RTU != nil:
			v.errf(bp, "bus %q: set either tcp or rtu, not both", b.ID)
		case b.TCP != "":
			host, port, err := net.SplitHostPort(b.TCP)
			if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
				v.errf(bp+".tcp", "bus %q: tcp %q is not host:port", b.ID, b.TCP)
			}
		case b.RTU != nil:
			v.rtu(bp+".rtu", b)
		default:
			v.errf(bp, "bus %q: set tcp (host:port) or rtu (serial line)", b.ID)
		}
		switch {
		case b.Timeout == 0 && !v.has(bp+".timeout"):
			b.Timeout = DefaultBusTimeout
		case b.Timeout <= 0:
			v.errf(bp+".timeout", "bus %q: timeout %s must be > 0", b.ID, b.Timeout)
		}
		if len(b.Devices) == 0 {
			v.warnf(bp, "bus %q has no devices", b.ID)
		}
		units := map[int]string{}
		for di := range b.Devices {
			d := &b.Devices[di]
			dp := fmt.Sprintf("%s.devices[%d]", bp, di)
			d.Bus = b.ID
			if v.checkID(dp+".id", "device", d.ID) {
				if prev, dup := devPaths[d.ID]; dup {
					v.errf(dp+".id", "device id %q used twice (first at line %d)", d.ID, v.line(prev))
				} else {
					devPaths[d.ID] = dp + ".id"
					s.devices[d.ID] = d
				}
			}
			if !slices.Contains(drivers, d.Driver) {
				v.errf(dp+".driver", "device %q: unknown driver %q (want one of %s)", d.ID, d.Driver, driverList())
			}
			switch {
			case d.Unit == 255 && d.Driver == Phoenix:
			case d.Unit == 255:
				v.errf(dp+".unit", "device %q: modbus unit 255 is only for phoenix controllers; want 1..247", d.ID)
			case d.Unit < 1 || d.Unit > 247:
				v.errf(dp+".unit", "device %q: modbus unit %d not in 1..247", d.ID, d.Unit)
			}
			if prev, dup := units[d.Unit]; dup && d.Unit != 0 {
				v.errf(dp+".unit", "bus %q: modbus unit %d used twice (devices %q and %q)", b.ID, d.Unit, prev, d.ID)
			}
			units[d.Unit] = d.ID
			switch {
			case d.Poll == 0 && !v.has(dp+".poll"):
				d.Poll = DefaultPoll(d.Driver)
			case d.Poll <= 0:
				v.errf(dp+".poll", "device %q: poll interval %s must be > 0", d.ID, d.Poll)
			}
		}
	}
}

func driverList() string {
	ss := make([]string, len(drivers))
	for i, d := range drivers {
		ss[i] = string(d)
	}
	return strings.Join(ss, ", ")
}

func (v *validator) rtu(p string, b *Bus) {
	r := b.RTU
	if r.Port == "" {
		v.errf(p+".port", "bus %q: rtu port is missing (e.g. /dev/ttyUSB0)", b.ID)
	}
	if r.Baud == 0 && !v.has(p+".baud") {
		r.Baud = DefaultBaud
	} else if !slices.Contains(bauds, r.Baud) {
		v.errf(p+".baud", "bus %q: baud %d not one of %v", b.ID, r.Baud, bauds)
	}
	switch strings.ToLower(r.Parity) {
	case "":
		r.Parity = "even" // the Modbus RTU default
	case "none", "n":
		r.Parity = "none"
	case "even", "e":
		r.Parity = "even"
	case "odd", "o":
		r.Parity = "odd"
	default:
		v.errf(p+".parity", "bus %q: parity %q: want none, even or odd", b.ID, r.Parity)
	}
	if r.DataBits == 0 && !v.has(p+".data_bits") {
		r.DataBits = 8
	} else if r.DataBits != 7 && r.DataBits != 8 {
		v.errf(p+".data_bits", "bus %q: data_bits %d: want 7 or 8", b.ID, r.DataBits)
	}
	if r.StopBits == 0 && !v.has(p+".stop_bits") {
		r.StopBits = 1
	} else if r.StopBits != 1 && r.StopBits != 2 {
		v.errf(p+".stop_bits", "bus %q: stop_bits %d: want 1 or 2", b.ID, r.StopBits)
	}
}

// device checks a reference to a device and its driver.
func (v *validator) device(path, what, id string, want ...Driver) (Device, bool) {
	if id == "" {
		v.errf(path, "%s: device is missing", what)
		return Device{}, false
	}
	d, ok := v.site.devices[id]
	if !ok {
		v.errf(path, "%s: unknown device %q", what, id)
		return Device{}, false
	}
	if !slices.Contains(want, d.Driver) {
		ws := make([]string, len(want))
		for i, w := range want {
			ws[i] = string(w)
		}
		v.errf(path, "%s: device %q is a %s, want %s", what, id, d.Driver, strings.Join(ws, " or "))
		return Device{}, false
	}
	return *d, true
}

func (v *validator) limit(path, what string, l PhaseAmps) {
	for ph, a := range l {
		if a <= 0 {
			v.errf(path, "%s: limit on L%d is %d A, must be > 0", what, ph+1, a)
			return
		}
	}
}

func (v *validator) temperature(path, what string, t *Temperature) {
	if t == nil {
		return
	}
	if len(t.Sensors) == 0 {
		v.errf(path+".sensors", "%s: temperature needs at least one sensor", what)
	}
	for i, id := range t.Sensors {
		v.device(fmt.Sprintf("%s.sensors[%d]", path, i), what+" temperature sensor", id, XYMD02)
	}
	if t.StopAboveC <= t.DerateAboveC {
		v.errf(path+".stop_above_c", "%s: stop_above_c %d °C must be above derate_above_c %d °C", what, t.StopAboveC, t.DerateAboveC)
	}
	if t.HysteresisC == 0 && !v.has(path+".hysteresis_c") {
		t.HysteresisC = DefaultHysteresisC
	} else if t.HysteresisC <= 0 {
		v.errf(path+".hysteresis_c", "%s: hysteresis_c %d must be > 0", what, t.HysteresisC)
	}
	if t.LostC == nil {
		c := t.DerateAboveC + (t.StopAboveC-t.DerateAboveC)/2
		t.LostC = &c
	} else if *t.LostC < -40 || *t.LostC > 125 {
		v.errf(path+".lost_c", "%s: lost_c %d °C not in -40..125", what, *t.LostC)
	}
}

func (v *validator) input(path, what string, in *Input) {
	if in == nil {
		return
	}
	v.device(path+".device", what, in.Device, DIInput)
	if in.Input < 0 || in.Input > MaxDIInput {
		v.errf(path+".input", "%s: input %d not in 0..%d", what, in.Input, MaxDIInput)
	}
}

// tree checks the grid, distributions and circuits and returns them as a
// flat list (grid first).
func (v *validator) tree() []nodeInfo {
	g := &v.site.Grid
	if g.ID == "" && !v.has("grid.id") {
		g.ID = "grid"
	}
	if !v.has("grid") {
		v.errf("grid", "grid is missing: the site tree starts at the grid connection")
		return nil
	}
	ids := map[string]string{}
	nodeID := func(path, what, id string) {
		if !v.checkID(path, what, id) {
			return
		}
		if prev, dup := ids[id]; dup {
			v.errf(path, "node id %q used twice (first at line %d)", id, v.line(prev))
			return
		}
		ids[id] = path
	}
	nodeID("grid.id", "grid", g.ID)
	what := fmt.Sprintf("grid %q", g.ID)
	v.limit("grid.limit_a", what, g.Limit)
	if g.Unbalance == nil {
		u := DefaultUnbalanceA
		g.Unbalance = &u
	} else if *g.Unbalance < 0 {
		v.errf("grid.unbalance_a", "%s: unbalance_a %d must be >= 0", what, *g.Unbalance)
	}
	if g.Meter != "" {
		v.device("grid.meter", what+" meter", g.Meter, SDM630, Eichrecht)
		if !v.has("grid.safe_budget_a") {
			v.errf("grid.safe_budget_a", "%s: safe_budget_a is missing: the budget used while the grid meter is stale", what)
		}
		for ph := range 3 {
			if g.SafeBudget[ph] < 0 || g.SafeBudget[ph] > g.Limit[ph] {
				v.errf("grid.safe_budget_a", "%s: safe budget on L%d is %d A, want 0..%d A (the grid limit)", what, ph+1, g.SafeBudget[ph], g.Limit[ph])
				break
			}
		}
	} else if v.has("grid.safe_budget_a") {
		v.warnf("grid.safe_budget_a", "%s: safe_budget_a is set but there is no grid meter; it is not used", what)
	}
	switch {
	case g.MeterMargin == nil && g.Meter != "":
		m := DefaultMeterMarginA
		g.MeterMargin = &m
	case g.MeterMargin == nil:
	case *g.MeterMargin < 0 || *g.MeterMargin > MaxMeterMarginA:
		v.errf("grid.meter_margin_a", "%s: meter_margin_a %d A, want 0..%d A", what, *g.MeterMargin, MaxMeterMarginA)
	case g.Meter == "":
		v.warnf("grid.meter_margin_a", "%s: meter_margin_a is set but there is no grid meter; it is not used", what)
	}
	v.temperature("grid.temperature", what, g.Temperature)
	nodes := []nodeInfo{{id: g.ID, path: "grid", limit: g.Limit, parent: -1}}
	if len(g.Distributions) == 0 {
		v.errf("grid.distributions", "%s: no distributions", what)
	}
	for di := range g.Distributions {
		d := &g.Distributions[di]
		dp := fmt.Sprintf("grid.distributions[%d]", di)
		nodeID(dp+".id", "distribution", d.ID)
		dwhat := fmt.Sprintf("distribution %q", d.ID)
		v.limit(dp+".limit_a", dwhat, d.Limit)
		if d.Unbalance < 0 {
			v.errf(dp+".unbalance_a", "%s: unbalance_a %d must be >= 0", dwhat, d.Unbalance)
		}
		v.input(dp+".spd", dwhat+" spd", d.SPD)
		v.temperature(dp+".temperature", dwhat, d.Temperature)
		v.aboveParent(dp+".limit_a", dwhat, d.Limit, nodes[0])
		di := len(nodes)
		nodes = append(nodes, nodeInfo{id: d.ID, path: dp, limit: d.Limit, parent: 0})
		if len(d.Circuits) == 0 {
			v.warnf(dp, "%s has no circuits", dwhat)
		}
		for ci := range d.Circuits {
			c := &d.Circuits[ci]
			cp := fmt.Sprintf("%s.circuits[%d]", dp, ci)
			nodeID(cp+".id", "circuit", c.ID)
			cwhat := fmt.Sprintf("circuit %q", c.ID)
			v.limit(cp+".limit_a", cwhat, c.Limit)
			if c.Unbalance < 0 {
				v.errf(cp+".unbalance_a", "%s: unbalance_a %d must be >= 0", cwhat, c.Unbalance)
			}
			v.temperature(cp+".temperature", cwhat, c.Temperature)
			v.aboveParent(cp+".limit_a", cwhat, c.Limit, nodes[di])
			nodes = append(nodes, nodeInfo{id: c.ID, path: cp, limit: c.Limit, parent: di})
		}
	}
	return nodes
}

// aboveParent warns when a node's limit exceeds its parent's on some phase:
// legal (the parent still bounds it) but usually a typo.
func (v *validator) aboveParent(path, what string, l PhaseAmps, parent nodeInfo) {
	for ph := range 3 {
		if l[ph] > parent.limit[ph] && parent.limit[ph] > 0 {
			v.warnf(path, "%s: limit %d A on L%d is above its parent %q's %d A", what, l[ph], ph+1, parent.id, parent.limit[ph])
			return
		}
	}
}

func (v *validator) chargePoints(nodes []nodeInfo) {
	s := v.site
	circuit := map[string]int{} // circuit id → index in nodes
	for i, n := range nodes {
		if strings.Contains(n.path, ".circuits[") {
			circuit[n.id] = i
		}
	}
	if len(s.ChargePoints) == 0 {
		v.warnf("charge_points", "no charge points")
	}
	ids := map[string]string{}
	usedBy := map[string]string{} // device → charge point
	fallback := make([][3]int, len(nodes))
	contrib := make([][]string, len(nodes))
	for i := range s.ChargePoints {
		c := &s.ChargePoints[i]
		p := fmt.Sprintf("charge_points[%d]", i)
		if v.checkID(p+".id", "charge point", c.ID) {
			if prev, dup := ids[c.ID]; dup {
				v.errf(p+".id", "charge point id %q used twice (first at line %d)", c.ID, v.line(prev))
			}
			ids[c.ID] = p + ".id"
		}
		what := fmt.Sprintf("charge point %q", c.ID)
		ni, onCircuit := circuit[c.Circuit]
		switch {
		case c.Circuit == "":
			v.errf(p+".circuit", "%s is on no circuit (circuit is missing)", what)
		case !onCircuit:
			v.errf(p+".circuit", "%s: unknown circuit %q", what, c.Circuit)
		}
		use := func(field, dev string) {
			if prev, dup := usedBy[dev]; dup {
				v.errf(p+"."+field, "%s: device %q is already used by %s", what, dev, prev)
				return
			}
			usedBy[dev] = what
		}
		if _, ok := v.device(p+".controller", what+" controller", c.Controller, Phoenix); ok {
			use("controller", c.Controller)
		}
		if c.Meter != "" {
			if _, ok := v.device(p+".meter", what+" meter", c.Meter, SDM630, Eichrecht); ok {
				if c.Meter == s.Grid.Meter {
					v.errf(p+".meter", "%s: meter %q is the grid meter", what, c.Meter)
				}
				use("meter", c.Meter)
			}
		}
		switch {
		case c.Phases == 0 && !v.has(p+".phases"):
			c.Phases = 3
		case c.Phases != 1 && c.Phases != 3:
			v.errf(p+".phases", "%s: phases %d: want 1 or 3", what, c.Phases)
		}
		if r := canonicalRotation(c.Rotation); c.Rotation != "" && r == "" {
			v.errf(p+".rotation", "%s: rotation %q: want L1L2L3, L2L3L1, L3L1L2, L1L3L2, L2L1L3 or L3L2L1 (or L1/L2/L3 for one phase)", what, c.Rotation)
		} else {
			if r == "" {
				r = RotationL1L2L3
			}
			c.Rotation = r
		}
		switch c.Access {
		case "", AccessFree:
		case AccessCentral:
			if dev, ok := v.site.devices[c.Meter]; !ok || dev.Driver != Eichrecht {
				v.errf(p+".access", "%s: access central needs an eichrecht meter (its signed snapshots bill the session)", what)
			}
			if s.IsOCPP(c.ID) {
				v.errf(p+".access", "%s: access central and an OCPP central system exclude each other (the CSMS authorises its transactions)", what)
			}
		case AccessOCPP: // the point must be listed under ocpp: (ocpp.go)
		default:
			v.errf(p+".access", "%s: access %q: want free or central (or ocpp, for a point the ocpp: section lists)", what, c.Access)
		}
		if c.MinA == 0 && !v.has(p+".min_a") {
			c.MinA = DefaultMinA
		}
		currentsOK := true
		switch {
		case c.MinA < DefaultMinA:
			v.errf(p+".min_a", "%s: min_a %d A below the IEC 61851 minimum of 6 A", what, c.MinA)
			currentsOK = false
		case c.MaxA < c.MinA || c.MaxA > MaxChargerA:
			v.errf(p+".max_a", "%s: max_a %d A not in min_a..%d (%d..%d A)", what, c.MaxA, MaxChargerA, c.MinA, MaxChargerA)
			currentsOK = false
		case c.FallbackA != 0 && (c.FallbackA < c.MinA || c.FallbackA > c.MaxA):
			v.errf(p+".fallback_a", "%s: fallback_a %d A: want 0 or %d..%d A (min_a..max_a)", what, c.FallbackA, c.MinA, c.MaxA)
			currentsOK = false
		}
		if !onCircuit || !currentsOK || canonicalRotation(c.Rotation) == "" {
			continue
		}
		for ph := range 3 {
			if c.MaxA > nodes[ni].limit[ph] {
				v.warnf(p+".max_a", "%s: max_a %d A is above circuit %q's limit of %d A on L%d", what, c.MaxA, c.Circuit, nodes[ni].limit[ph], ph+1)
				break
			}
		}
		if c.FallbackA == 0 {
			continue
		}
		for n := ni; n >= 0; n = nodes[n].parent {
			for _, ph := range c.GridPhases() {
				fallback[n][ph] += c.FallbackA
			}
			contrib[n] = append(contrib[n], c.ID)
		}
	}
	for i, n := range nodes {
		for ph := range 3 {
			if fallback[i][ph] > n.limit[ph] {
				v.errf(n.path+".limit_a", "node %q: fallback currents of its charge points add up to %d A on L%d, above the node's limit of %d A (charge points %s): a silent edge would overload it",
					n.id, fallback[i][ph], ph+1, n.limit[ph], shortList(contrib[i]))
				break
			}
		}
	}
	// A silent edge reads no grid meter: what the chargers fall back to
	// must fit the budget the site runs on without one.
	if g := s.Grid; g.Meter != "" && len(nodes) > 0 {
		for ph := range 3 {
			if fallback[0][ph] > g.SafeBudget[ph] {
				v.errf("grid.safe_budget_a", "node %q: fallback currents of its charge points add up to %d A on L%d, above its safe budget of %d A (charge points %s): a silent edge with no grid meter reading would exceed it",
					nodes[0].id, fallback[0][ph], ph+1, g.SafeBudget[ph], shortList(contrib[0]))
				break
			}
		}
	}
}

func shortList(ids []string) string {
	if len(ids) > 6 {
		return strings.Join(ids[:6], ", ") + fmt.Sprintf(" and %d more", len(ids)-6)
	}
	return strings.Join(ids, ", ")
}
