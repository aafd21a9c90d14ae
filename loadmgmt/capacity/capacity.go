// Package capacity plans grid connections: it runs loadmgmt.Allocate against
// simulated days of arriving and leaving cars, in fast simulated time, and
// reports the energy delivered, the share of demand met, the cars that left
// unsatisfied and the peak load per phase — for one site or for a sweep of
// connection sizes. It is deterministic for a given seed and imports only
// the standard library and loadmgmt.
//
// # Car model
//
// Arrivals are a Poisson process whose rate follows an hour-of-day profile
// (Config.ProfileWeights), scaled to Config.CarsPerDay. An arriving car takes
// a random free point (or is turned away), draws on 1 or 3 phases, accepts
// 16 or 32 A, brings a battery of BatteryWh at a random state of charge and
// wants to reach TargetSoCPerMille before it leaves after a random dwell
// time. It accepts its full current up to 80 % state of charge, then
// linearly less down to a tenth at 100 % (never asking for less than 6 A, but
// drawing only what its curve allows). Energy is current × phases × 230 V ×
// time, without losses. Cars still parked when the simulation ends count as
// leaving then. With Config.Stabilize set, each plan also passes through
// loadmgmt.Stabilize and cars draw at most their setpoint, as on a real site.
package capacity

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Config describes the simulated days. Zero fields take the defaults named.
type Config struct {
	Seed     uint64
	Start    time.Time     // start of the simulation; zero: 2026-01-05 00:00 UTC (a Monday)
	Duration time.Duration // default 24 h
	Step     time.Duration // simulated time per allocation; default 30 s

	CarsPerDay         int              // expected arrivals per 24 h; default 2 per point
	ProfileWeights     [24]int          // relative arrival rate per hour of day; zero: DefaultProfile()
	ThreePhasePerMille int              // share of 3-phase cars; default 600
	Max32APerMille     int              // share of cars accepting 32 A (others 16 A); default 500
	PremiumPerMille    int              // share of premium cars; default 200
	BatteryWh          [2]int64         // range of battery sizes; default 40–80 kWh
	ArrivalSoCPerMille [2]int           // range of the state of charge on arrival; default 200–700
	TargetSoCPerMille  int              // state of charge a car wants; default 800
	Dwell              [2]time.Duration // range of parking times; default 2–10 h

	// Stabilize, if set, passes every plan through loadmgmt.Stabilize with
	// these rules; cars then draw at most their setpoint.
	Stabilize *loadmgmt.Rules
}

// DefaultProfile is a car park near offices and shops: a morning peak, a
// midday plateau and an evening tail.
func DefaultProfile() [24]int {
	return [24]int{1, 1, 1, 1, 1, 2, 6, 12, 14, 10, 7, 6, 6, 6, 6, 6, 7, 8, 7, 5, 4, 3, 2, 1}
}

// Report is the outcome of one simulated run.
type Report struct {
	ConnectionMA      [3]int64 // the grid connection's fuse per phase
	Points            int
	Arrivals          int   // cars that found a free point
	TurnedAway        int   // cars that found none
	EnergyWantedWh    int64 // what the cars that found a point wanted
	EnergyDeliveredWh int64
	DemandMetPerMille int64    // delivered / wanted
	Unsatisfied       int      // cars that left with less than they wanted (by more than 100 Wh)
	PeakLoadMA        [3]int64 // highest EV load at the grid connection, per phase
	ScarceSteps       int      // steps in which some car was paused for lack of capacity
	Steps             int
	// Binding is the limit that held running cars below their maximum
	// most often (in car-steps: one car held back for one step), and
	// BindingPerMille its share of all such car-steps; Binding is zero if
	// the site never held a running car back. It says why a larger
	// connection helps no more: then a distribution or circuit binds.
	Binding         loadmgmt.Reason
	BindingPerMille int64
}

// ErrConfig is wrapped by errors about the configuration.
var ErrConfig = errors.New("invalid capacity config")

func (c Config) withDefaults(points int) (Config, error) {
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if c.Duration == 0 {
		c.Duration = 24 * time.Hour
	}
	if c.Step == 0 {
		c.Step = 30 * time.Second
	}
	if c.CarsPerDay == 0 {
		c.CarsPerDay = 2 * points
	}
	if c.ProfileWeights == [24]int{} {
		c.ProfileWeights = DefaultProfile()
	}
	if c.ThreePhasePerMille == 0 {
		c.ThreePhasePerMille = 600
	}
	if c.Max32APerMille == 0 {
		c.Max32APerMille = 500
	}
	if c.PremiumPerMille == 0 {
		c.PremiumPerMille = 200
	}
	if c.BatteryWh == [2]int64{} {
		c.BatteryWh = [2]int64{40_000, 80_000}
	}
	if c.ArrivalSoCPerMille == [2]int{} {
		c.ArrivalSoCPerMille = [2]int{200, 700}
	}
	if c.TargetSoCPerMille == 0 {
		c.TargetSoCPerMille = 800
	}
	if c.Dwell == [2]time.Duration{} {
		c.Dwell = [2]time.Duration{2 * time.Hour, 10 * time.Hour}
	}
	switch {
	case c.Duration < 0:
		return c, fmt.Errorf("%w: duration %v is negative", ErrConfig, c.Duration)
	case c.Step <= 0 || c.Step > time.Hour:
		return c, fmt.Errorf("%w: step %v not in (0, 1 h]", ErrConfig, c.Step)
	case c.CarsPerDay < 0:
		return c, fmt.Errorf("%w: cars per day %d is negative", ErrConfig, c.CarsPerDay)
	case c.BatteryWh[0] <= 0 || c.BatteryWh[1] < c.BatteryWh[0]:
		return c, fmt.Errorf("%w: battery range %v Wh", ErrConfig, c.BatteryWh)
	case c.ArrivalSoCPerMille[0] < 0 || c.ArrivalSoCPerMille[1] < c.ArrivalSoCPerMille[0] || c.TargetSoCPerMille > 1000:
		return c, fmt.Errorf("%w: state of charge range %v‰, target %d‰", ErrConfig, c.ArrivalSoCPerMille, c.TargetSoCPerMille)
	case c.Dwell[0] <= 0 || c.Dwell[1] < c.Dwell[0]:
		return c, fmt.Errorf("%w: dwell range %v", ErrConfig, c.Dwell)
	}
	for h, w := range c.ProfileWeights {
		if w < 0 {
			return c, fmt.Errorf("%w: profile weight %d for hour %d is negative", ErrConfig, w, h)
		}
	}
	return c, nil
}

type simCar struct {
	point     int
	phases    int
	maxMA     int64
	class     loadmgmt.Class
	batteryJ  int64 // battery capacity, joules
	storedJ   int64 // energy in the battery, joules
	targetJ   int64
	wantedJ   int64
	gotJ      int64
	leaves    time.Time
	demand    loadmgmt.Demand
	demanding bool
}

// curveMA is the current the car accepts at its state of charge: full up to
// 80 %, then linearly down to a tenth at 100 %.
func (c *simCar) curveMA() int64 {
	soc := c.storedJ * 1000 / c.batteryJ // ‰
	if soc <= 800 {
		return c.maxMA
	}
	f := max(100, 1000-(soc-800)*900/200) // ‰ of max: 1000 at 80 %, 100 at 100 %
	return c.maxMA * f / 1000
}

// joules is the energy drawn at currentMA on phases phases for d.
func joules(currentMA int64, phases int, d time.Duration) int64 {
	return currentMA * int64(phases) * loadmgmt.NominalVoltageV * int64(d/time.Millisecond) / 1_000_000
}

func whFromJoules(j int64) int64 { return j / 3600 }

// Run simulates cfg on site.
func Run(cfg Config, site loadmgmt.Site) (Report, error) {
	if err := site.Validate(); err != nil {
		return Report{}, fmt.Errorf("capacity: %w", err)
	}
	cfg, err := cfg.withDefaults(len(site.Points))
	if err != nil {
		return Report{}, fmt.Errorf("capacity: %w", err)
	}
	rep := Report{Points: len(site.Points)}
	root := -1
	nodeIdx := make(map[string]int, len(site.Nodes))
	for i, n := range site.Nodes {
		nodeIdx[n.ID] = i
		if n.Parent == "" {
			root = i
		}
	}
	rep.ConnectionMA = site.Nodes[root].FuseMA

	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed_ca9ac17))
	weightSum := 0
	for _, w := range cfg.ProfileWeights {
		weightSum += w
	}
	occupied := make([]*simCar, len(site.Points))
	var present []*simCar
	leave := func(c *simCar) {
		occupied[c.point] = nil
		if c.gotJ+100*3600 < c.wantedJ {
			rep.Unsatisfied++
		}
	}
	var demands []loadmgmt.Demand
	var owners []*simCar
	var deliveredJ int64
	var setpoints loadmgmt.State
	held := map[loadmgmt.Reason]int64{} // car-steps held back, by limit
	end := cfg.Start.Add(cfg.Duration)
	for now := cfg.Start; now.Before(end); now = now.Add(cfg.Step) {
		rep.Steps++
		// Departures.
		kept := present[:0]
		for _, c := range present {
			if !now.Before(c.leaves) {
				leave(c)
				continue
			}
			kept = append(kept, c)
		}
		present = kept
		// Arrivals: Poisson with the hour's rate.
		if weightSum > 0 {
			perHour := float64(cfg.CarsPerDay) * float64(cfg.ProfileWeights[now.Hour()]) / float64(weightSum)
			for range poisson(r, perHour*cfg.Step.Hours()) {
				c := newCar(r, cfg, now, occupied, site)
				if c == nil {
					rep.TurnedAway++
					continue
				}
				rep.Arrivals++
				occupied[c.point] = c
				present = append(present, c)
				rep.EnergyWantedWh += whFromJoules(c.wantedJ)
			}
		}
		// Allocate for the cars that still want energy.
		demands, owners = demands[:0], owners[:0]
		for _, c := range present {
			if c.storedJ >= c.targetJ {
				continue
			}
			c.demand.MaxCurrentMA = max(loadmgmt.MinCurrentMA, (c.curveMA()+999)/1000*1000)
			demands = append(demands, c.demand)
			owners = append(owners, c)
		}
		plan := loadmgmt.Allocate(now, site, demands)
		if plan.Err != nil {
			return rep, fmt.Errorf("capacity: allocate at %v: %w", now, plan.Err)
		}
		if plan.Scarce {
			rep.ScarceSteps++
		}
		if cfg.Stabilize != nil {
			_, setpoints = loadmgmt.Stabilize(now, setpoints, plan, *cfg.Stabilize)
		}
		var load [3]int64
		for i, a := range plan.Allocations {
			if a.Running && a.Reason.Limit != loadmgmt.LimitCarMax {
				held[a.Reason]++
			}
			c := owners[i]
			c.demand = c.demand.Advance(a, now, cfg.Step)
			granted := a.CurrentMA
			if cfg.Stabilize != nil {
				granted = setpoints.Points[a.Point].SetpointMA
			}
			drawn := min(granted, c.curveMA())
			if drawn <= 0 {
				continue
			}
			e := min(joules(drawn, c.phases, cfg.Step), c.batteryJ-c.storedJ)
			c.storedJ += e
			c.gotJ += e
			deliveredJ += e
			p := site.Points[c.point]
			if c.phases == 1 {
				load[p.Rotation.GridPhase(0)] += drawn
			} else {
				for ph := range 3 {
					load[ph] += drawn
				}
			}
		}
		for ph := range 3 {
			rep.PeakLoadMA[ph] = max(rep.PeakLoadMA[ph], load[ph])
		}
	}
	for _, c := range present {
		leave(c)
	}
	rep.Binding, rep.BindingPerMille = binding(held)
	rep.EnergyDeliveredWh = whFromJoules(deliveredJ)
	if rep.EnergyWantedWh > 0 {
		rep.DemandMetPerMille = min(1000, rep.EnergyDeliveredWh*1000/rep.EnergyWantedWh)
	}
	return rep, nil
}

func newCar(r *rand.Rand, cfg Config, now time.Time, occupied []*simCar, site loadmgmt.Site) *simCar {
	free := 0
	for _, c := range occupied {
		if c == nil {
			free++
		}
	}
	if free == 0 {
		return nil
	}
	k := r.IntN(free)
	point := -1
	for i, c := range occupied {
		if c == nil {
			if k == 0 {
				point = i
				break
			}
			k--
		}
	}
	c := &simCar{point: point, phases: 1, maxMA: 16_000}
	if r.IntN(1000) < cfg.ThreePhasePerMille {
		c.phases = 3
	}
	if r.IntN(1000) < cfg.Max32APerMille {
		c.maxMA = 32_000
	}
	if r.IntN(1000) < cfg.PremiumPerMille {
		c.class = loadmgmt.Premium
	}
	batteryWh := cfg.BatteryWh[0] + r.Int64N(cfg.BatteryWh[1]-cfg.BatteryWh[0]+1)
	c.batteryJ = batteryWh * 3600
	soc := int64(cfg.ArrivalSoCPerMille[0] + r.IntN(cfg.ArrivalSoCPerMille[1]-cfg.ArrivalSoCPerMille[0]+1))
	c.storedJ = c.batteryJ * soc / 1000
	c.targetJ = c.batteryJ * int64(cfg.TargetSoCPerMille) / 1000
	c.wantedJ = max(0, c.targetJ-c.storedJ)
	c.leaves = now.Add(cfg.Dwell[0] + time.Duration(r.Int64N(int64(cfg.Dwell[1]-cfg.Dwell[0])+1)))
	c.demand = loadmgmt.Demand{
		Point: site.Points[point].ID,
		Class: c.class, Phases: c.phases, MaxCurrentMA: c.maxMA, ConnectedSince: now,
		EnergyWantedWh: whFromJoules(c.wantedJ),
	}
	return c
}

// binding is the limit with the most car-steps held back, ties broken by
// name, and its share in per mille.
func binding(held map[loadmgmt.Reason]int64) (loadmgmt.Reason, int64) {
	var best loadmgmt.Reason
	var most, all int64
	for r, n := range held {
		all += n
		if n > most || (n == most && r.String() < best.String()) {
			best, most = r, n
		}
	}
	if all == 0 {
		return loadmgmt.Reason{}, 0
	}
	return best, most * 1000 / all
}

// poisson draws from a Poisson distribution with the given mean (Knuth's
// method; fine for the small means of one step).
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// Sweep runs cfg on site once per grid connection size (per phase, mA),
// with the distributions below left as they are.
func Sweep(cfg Config, site loadmgmt.Site, connectionsMA []int64) (Reports, error) {
	out := make(Reports, 0, len(connectionsMA))
	for _, c := range connectionsMA {
		s := site
		s.Nodes = append([]loadmgmt.Node(nil), site.Nodes...)
		for i := range s.Nodes {
			if s.Nodes[i].Parent == "" {
				s.Nodes[i].FuseMA = [3]int64{c, c, c}
			}
		}
		rep, err := Run(cfg, s)
		if err != nil {
			return out, fmt.Errorf("sweep at %d mA: %w", c, err)
		}
		out = append(out, rep)
	}
	return out, nil
}
