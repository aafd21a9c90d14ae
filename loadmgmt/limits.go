package loadmgmt

import "time"

// LimitKind names what limits a node or a car. Values are stable strings:
// they appear in plans, logs and the EMS API.
type LimitKind string

// Limit kinds. Node kinds say which input set a node's effective limit;
// car kinds say why a car is at its current.
const (
	LimitNone       LimitKind = ""
	LimitFuse       LimitKind = "fuse"
	LimitMeter      LimitKind = "grid-meter"  // fuse − measured other load
	LimitSafeBudget LimitKind = "safe-budget" // meter stale: configured budget
	LimitEMS        LimitKind = "ems"
	LimitThermal    LimitKind = "thermal"
	LimitPara14a    LimitKind = "§14a"
	LimitUnbalance  LimitKind = "unbalance"
	LimitCarMax     LimitKind = "car max" // the car's (or charger's) maximum
	LimitPaused     LimitKind = "rotation-paused"
	LimitMinOffTime LimitKind = "min-off-time"
	LimitInvalid    LimitKind = "invalid" // unknown point, duplicate demand, invalid site
)

// Limits are the live inputs that may lower a node's static fuse.
type Limits struct {
	Meters       []MeterReading
	EMS          []EMSLimit
	Temperatures []Temperature
	Para14a      *Para14aSignal // DSO reduction at the grid connection; nil: none
}

// MeterReading is the non-EV load measured at a node (the caller subtracts
// the charge points' own currents), per grid phase.
type MeterReading struct {
	Node        string
	OtherLoadMA [3]int64
	At          time.Time
}

// EMSLimit is a limit set by an energy-management system. It applies until
// Expires; at or after Expires it is ignored. A zero field means "no limit".
type EMSLimit struct {
	Node         string // "" means the grid connection
	MaxCurrentMA [3]int64
	MaxPowerW    int64 // over all three phases, at the nominal 230 V
	Expires      time.Time
}

// Temperature is the last reading of a node's temperature sensor.
type Temperature struct {
	Node  string
	DeciC int32 // °C × 10
}

// Para14aSignal is a §14a EnWG reduction from the DSO at the grid connection.
// It never lowers the connection below the floor for Site.Para14aDevices
// devices (see Para14aFloorW).
type Para14aSignal struct {
	MaxPowerW int64
	Expires   time.Time // zero: until withdrawn
}

// NodeLimit is a node's effective limit after composing every input.
type NodeLimit struct {
	Node    string
	LimitMA [3]int64     // per grid phase
	Kind    [3]LimitKind // which input set LimitMA on each phase
	// TotalMA bounds the sum of the three phase currents (power limits);
	// 0 means none.
	TotalMA     int64
	TotalKind   LimitKind
	UnbalanceMA int64 // 0 means none
}

// NominalVoltageV is the phase-to-neutral voltage used to turn power limits
// into currents.
const NominalVoltageV = 230

// currentFromPowerMA is the summed phase current that draws powerW at the
// nominal voltage, rounded down.
func currentFromPowerMA(powerW int64) int64 {
	if powerW <= 0 {
		return 0
	}
	// Above 1 TW the bound means nothing; clamp before multiplying.
	return min(powerW, 1_000_000_000_000) * 1000 / NominalVoltageV
}

// Para14aFloorW is the least power a DSO may leave to n steerable devices
// behind one connection under §14a EnWG (BNetzA BK6-22-300): 4.2 kW for
// the first device plus f·4.2 kW for each further one, with the simultaneity
// factor f falling from 0.8 (n = 2) to 0.45 (n ≥ 9). Check the current ruling.
func Para14aFloorW(n int) int64 {
	if n <= 1 {
		return 4200
	}
	// f in per mille for n = 2..8; 450 from 9 on.
	perMille := []int64{800, 750, 700, 650, 600, 550, 500}
	f := int64(450)
	if n-2 < len(perMille) {
		f = perMille[n-2]
	}
	return 4200 + int64(n-1)*f*4200/1000
}

// EffectiveLimits composes the site's live limit inputs at now into one
// effective limit per node (in the order of site.Nodes): the least of the
// static fuse, the meter headroom less Site.MeterMarginMA (or the safe
// budget if the meter is stale),
// a live EMS limit, thermal derating and §14a. Inputs naming unknown nodes
// are ignored.
func EffectiveLimits(now time.Time, site Site) []NodeLimit {
	out := make([]NodeLimit, len(site.Nodes))
	idx := make(map[string]int, len(site.Nodes))
	root := -1
	for i, n := range site.Nodes {
		idx[n.ID] = i
		if n.Parent == "" && root < 0 {
			root = i
		}
		out[i] = NodeLimit{Node: n.ID, LimitMA: n.FuseMA, UnbalanceMA: n.UnbalanceMA}
		for ph := range 3 {
			out[i].Kind[ph] = LimitFuse
		}
	}
	lower := func(i int, ph int, ma int64, kind LimitKind) {
		if ma < 0 {
			ma = 0
		}
		if ma < out[i].LimitMA[ph] {
			out[i].LimitMA[ph] = ma
			out[i].Kind[ph] = kind
		}
	}
	lowerTotal := func(i int, ma int64, kind LimitKind) {
		if out[i].TotalMA == 0 || ma < out[i].TotalMA {
			out[i].TotalMA = max(ma, 1) // 0 would mean "none"; 1 mA forbids charging
			out[i].TotalKind = kind
		}
	}

	// Thermal derating, on the fuse.
	for _, t := range site.Limits.Temperatures {
		i, ok := idx[t.Node]
		if !ok || site.Nodes[i].Derating == nil {
			continue
		}
		d := site.Nodes[i].Derating
		for ph := range 3 {
			fuse := site.Nodes[i].FuseMA[ph]
			switch {
			case t.DeciC <= d.StartDeciC:
			case t.DeciC >= d.StopDeciC:
				lower(i, ph, 0, LimitThermal)
			default:
				lower(i, ph, fuse*int64(d.StopDeciC-t.DeciC)/int64(d.StopDeciC-d.StartDeciC), LimitThermal)
			}
		}
	}

	// Meters: headroom while fresh, the safe budget otherwise.
	staleAfter := site.MeterStaleAfter
	if staleAfter <= 0 {
		staleAfter = 3 * time.Second
	}
	fresh := make([]bool, len(site.Nodes))
	for _, m := range site.Limits.Meters {
		i, ok := idx[m.Node]
		if !ok || now.Sub(m.At) > staleAfter {
			continue
		}
		fresh[i] = true
		for ph := range 3 {
			lower(i, ph, site.Nodes[i].FuseMA[ph]-m.OtherLoadMA[ph]-site.MeterMarginMA, LimitMeter)
		}
	}
	for i, n := range site.Nodes {
		if n.Metered && !fresh[i] {
			for ph := range 3 {
				lower(i, ph, n.SafeBudgetMA[ph], LimitSafeBudget)
			}
		}
	}

	// EMS limits while their TTL lasts.
	for _, e := range site.Limits.EMS {
		if !now.Before(e.Expires) {
			continue
		}
		i := root
		if e.Node != "" {
			var ok bool
			if i, ok = idx[e.Node]; !ok {
				continue
			}
		}
		if i < 0 {
			continue
		}
		for ph := range 3 {
			if e.MaxCurrentMA[ph] > 0 {
				lower(i, ph, e.MaxCurrentMA[ph], LimitEMS)
			}
		}
		if e.MaxPowerW > 0 {
			lowerTotal(i, currentFromPowerMA(e.MaxPowerW), LimitEMS)
		}
	}

	// §14a at the grid connection, never below the floor.
	if s := site.Limits.Para14a; s != nil && root >= 0 && (s.Expires.IsZero() || now.Before(s.Expires)) {
		n := site.Para14aDevices
		if n <= 0 {
			n = len(site.Points)
		}
		lowerTotal(root, currentFromPowerMA(max(s.MaxPowerW, Para14aFloorW(n))), LimitPara14a)
	}
	return out
}
