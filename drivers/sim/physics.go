package sim

import (
	"math"
	"math/rand/v2"
	"time"
)

// IEC 61851 states the controllers report.
const (
	StateA = 'A' // no car
	StateB = 'B' // car connected, not charging
	StateC = 'C' // charging
	StateF = 'F' // fault
)

// minDrawMA is the least current a car draws before it calls itself full.
const minDrawMA = 500

// car is a connected vehicle.
type car struct {
	phases    int   // 1 or 3
	maxMA     int64 // per phase
	batteryWh int64
	storedMJ  int64 // energy in the battery, mJ (= mWs)
	storedRem int64 // nJ not yet in storedMJ
	arrived   time.Time
	departs   time.Time // zero: stays until unplugged
	manual    bool      // plugged through the API
}

func (c *car) socPct() float64 {
	return 100 * float64(c.storedMJ) / float64(c.batteryWh*3_600_000)
}

// point is a charge point: a controller plus its Eichrecht meter.
type point struct {
	name     string
	sub      *subDist
	rotation string
	gridOf   [3]int // grid phase of charger phase L1, L2, L3
	hwMaxA   int

	ctl   *controller
	meter *ocmfMeter

	car       *car
	evFault   int // error code of an injected EV fault (state F); 0 none
	energy    energy
	currentMA [3]int64   // per charger phase, as of the last recompute
	powerW    [3]float64 // per charger phase
	powerTotW int64
	state     byte
}

// subDist is a sub-distribution.
type subDist struct {
	name   string
	index  int // SPD input 2+index on the DI module
	points []*point
	meter  *sdmMeter
	thermo *thermometer
	spd    bool // SPD contact open (tripped); only reported, the circuit stays on

	// aggregate, per grid phase
	currentA   [3]float64
	powerW     [3]float64
	powerTotW  int64
	energy     energy
	tempC      float64
	humidityPc float64
}

// energy is an exactly integrated import counter.
type energy struct {
	mJ  int64 // millijoule = mWs
	rem int64 // nJ not yet in mJ (< 1e6)
}

// add integrates w watts over dt.
func (e *energy) add(w int64, dt time.Duration) {
	if w <= 0 {
		return
	}
	e.rem += w * int64(dt) // W × ns = nJ
	e.mJ += e.rem / 1_000_000
	e.rem %= 1_000_000
}

// Wh returns the counter in whole watt-hours (rounded down).
func (e energy) Wh() int64 { return e.mJ / 3_600_000 }

// gridState is the grid connection's aggregate, per grid phase.
type gridState struct {
	baseW     [3]float64
	currentA  [3]float64
	powerW    [3]float64
	powerTotW int64
	energy    energy
}

// offeredA is the current the controller offers the car at t (PWM), A:
// its setpoint (holding 528) capped at the hardware maximum while enabled
// (coil 400), 0 below 6 A.
func (p *point) offeredA(time.Time) int {
	c := p.ctl
	if !c.enabled || c.setpointA < 6 {
		return 0
	}
	return min(c.setpointA, p.hwMaxA)
}

// drawMA is what the car draws per phase at t given the offer, mA. A
// controller with the ignore-setpoint fault lets the car draw its maximum
// (up to the hardware limit) whatever it offers.
func (p *point) drawMA(t time.Time, taperFrom float64) int64 {
	if p.car == nil || p.evFault != 0 {
		return 0
	}
	offered := int64(p.offeredA(t)) * 1000
	if p.ctl.ignoreSetpoint {
		offered = int64(p.hwMaxA) * 1000
	}
	if offered == 0 {
		return 0
	}
	c := p.car
	draw := min(offered, c.maxMA)
	soc := c.socPct()
	if soc >= 100 {
		return 0
	}
	if soc > taperFrom {
		taper := int64(math.Round(float64(c.maxMA) * (100 - soc) / (100 - taperFrom)))
		draw = min(draw, taper)
	}
	if draw < minDrawMA {
		return 0
	}
	return draw
}

// recompute derives every instantaneous value (currents, powers, states)
// from the state at t.
func (s *Sim) recompute(t time.Time) {
	v := s.voltage
	taper := s.cfg.Cars.TaperFromPct
	var gridA, gridW [3]float64
	for _, sd := range s.subs {
		sd.currentA, sd.powerW, sd.powerTotW = [3]float64{}, [3]float64{}, 0
	}
	for _, p := range s.points {
		draw := p.drawMA(t, taper)
		p.currentMA = [3]int64{}
		if draw > 0 {
			p.currentMA[0] = draw
			if p.car.phases == 3 {
				p.currentMA[1], p.currentMA[2] = draw, draw
			}
		}
		var tot float64
		for ph := range 3 {
			g := p.gridOf[ph]
			a := float64(p.currentMA[ph]) / 1000
			w := v[g] * a
			p.powerW[ph] = w
			tot += w
			gridA[g] += a
			gridW[g] += w
			p.sub.currentA[g] += a
			p.sub.powerW[g] += w
		}
		p.powerTotW = int64(math.Round(tot))
		switch {
		case p.evFault != 0:
			p.state = StateF
		case p.car == nil:
			p.state = StateA
		case draw > 0:
			p.state = StateC
		default:
			p.state = StateB
		}
	}
	for _, sd := range s.subs {
		sd.powerTotW = int64(math.Round(sd.powerW[0] + sd.powerW[1] + sd.powerW[2]))
	}
	factor := 1.0
	if prof := s.cfg.Grid.Profile; len(prof) == 24 {
		factor = prof[t.UTC().Hour()]
	}
	var tot float64
	for g := range 3 {
		base := s.cfg.Grid.BaseLoadW[g] * factor
		s.grid.baseW[g] = base
		s.grid.currentA[g] = gridA[g] + base/v[g]
		s.grid.powerW[g] = gridW[g] + base
		tot += s.grid.powerW[g]
	}
	s.grid.powerTotW = int64(math.Round(tot))
	s.dirty = false
}

// advanceTo moves the physics to target: energy integrates exactly over
// each segment, and the random events (arrivals, departures, voltage and
// temperature noise) happen at whole simulated seconds, so the outcome does
// not depend on how time was cut into steps.
func (s *Sim) advanceTo(target time.Time) {
	for s.now.Before(target) {
		if s.now.Equal(s.now.Truncate(time.Second)) && s.now.Unix() > s.lastEventSec {
			s.lastEventSec = s.now.Unix()
			s.events(s.now)
		}
		end := s.now.Truncate(time.Second).Add(time.Second)
		if end.After(target) {
			end = target
		}
		s.integrate(s.now, end)
		s.now = end
	}
}

// integrate moves energy over [t0, t1) at the power of t0.
func (s *Sim) integrate(t0, t1 time.Time) {
	s.recompute(t0)
	dt := t1.Sub(t0)
	for _, p := range s.points {
		p.energy.add(p.powerTotW, dt)
		if p.car != nil && p.powerTotW > 0 {
			e := energy{mJ: p.car.storedMJ, rem: p.car.storedRem}
			e.add(p.powerTotW, dt)
			p.car.storedMJ, p.car.storedRem = e.mJ, e.rem
		}
	}
	for _, sd := range s.subs {
		sd.energy.add(sd.powerTotW, dt)
		if sd.thermo != nil {
			target := sd.thermo.ambientC + sd.thermo.risePerA*max(sd.currentA[0], sd.currentA[1], sd.currentA[2])
			k := 1 - math.Exp(-dt.Seconds()/thermalTau.Seconds())
			sd.tempC += (target - sd.tempC) * k
		}
	}
	s.grid.energy.add(s.grid.powerTotW, dt)
	s.dirty = true
}

// thermalTau is the time constant of a sub-distribution's temperature.
const thermalTau = 10 * time.Minute

// events runs once per simulated second at t.
func (s *Sim) events(t time.Time) {
	vc := s.cfg.Voltage
	for g := range 3 {
		v := vc.NominalV
		if vc.NoiseV > 0 {
			v += s.rng.NormFloat64() * vc.NoiseV
		}
		s.voltage[g] = math.Round(v*100) / 100
	}
	s.freq = vc.FrequencyHz
	if vc.NoiseV > 0 {
		s.freq = math.Round((vc.FrequencyHz+s.rng.NormFloat64()*0.01)*1000) / 1000
	}
	if vc.NoiseV > 0 {
		for _, sd := range s.subs {
			sd.humidityPc = math.Round((45+s.rng.NormFloat64()*0.5)*10) / 10
		}
	}
	cc := s.cfg.Cars
	pArrive := cc.ArrivalsPerHour / 3600
	for _, p := range s.points {
		if p.car == nil {
			if pArrive > 0 && s.rng.Float64() < pArrive {
				p.car = s.randomCar(t)
			}
			continue
		}
		if !p.car.departs.IsZero() && !t.Before(p.car.departs) {
			p.car = nil
		}
	}
	s.dirty = true
}

// randomCar draws a car arriving at t.
func (s *Sim) randomCar(t time.Time) *car {
	cc := s.cfg.Cars
	r := s.rng
	c := &car{phases: 1, maxMA: 16000, arrived: t}
	if r.Float64() < cc.ThreePhaseShare {
		c.phases = 3
	}
	if r.Float64() < cc.Share32A {
		c.maxMA = 32000
	}
	c.batteryWh = cc.BatteryWh[0]
	if d := cc.BatteryWh[1] - cc.BatteryWh[0]; d > 0 {
		c.batteryWh += r.Int64N(d + 1)
	}
	soc := cc.SocPct[0] + r.Float64()*(cc.SocPct[1]-cc.SocPct[0])
	c.storedMJ = int64(soc / 100 * float64(c.batteryWh) * 3_600_000)
	stay := time.Duration(r.ExpFloat64() * float64(cc.MeanStay))
	c.departs = t.Add(max(stay, cc.MinStay))
	return c
}

func newRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), 0x70a7_6172_6b67_7269)) // "parkgri"
}
