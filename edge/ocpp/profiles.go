package ocpp

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Charging profile purposes (OCPP 1.6 ChargingProfilePurposeType).
const (
	PurposeMax       = "ChargePointMaxProfile"
	PurposeTxDefault = "TxDefaultProfile"
	PurposeTx        = "TxProfile"
)

// Profile kinds and recurrency.
const (
	KindAbsolute  = "Absolute"
	KindRecurring = "Recurring"
	KindRelative  = "Relative"
	Daily         = "Daily"
	Weekly        = "Weekly"
)

// NominalVoltageV converts a power limit (W) into a current per phase.
const NominalVoltageV = 230

// MaxStackLevel is ChargeProfileMaxStackLevel; MaxPeriods is
// ChargingScheduleMaxPeriods; MaxProfiles is MaxChargingProfilesInstalled.
const (
	MaxStackLevel = 10
	MaxPeriods    = 24
	MaxProfiles   = 16
)

// Profile is a charging profile as the point keeps it: integers, times
// resolved. Limits are in milli-units of the profile's rate unit (mA or
// mW), so a CSMS's one decimal survives.
type Profile struct {
	ID         int       `json:"id"`
	TxID       int       `json:"tx,omitempty"` // TxProfile: the CSMS's transaction id
	StackLevel int       `json:"stack"`
	Purpose    string    `json:"purpose"`
	Kind       string    `json:"kind"`
	Recurrency string    `json:"recur,omitempty"`
	ValidFrom  time.Time `json:"from,omitzero"`
	ValidTo    time.Time `json:"to,omitzero"`
	// Start is startSchedule; for an Absolute profile without one, the time
	// it was received.
	Start    time.Time     `json:"start,omitzero"`
	Duration time.Duration `json:"dur,omitempty"` // 0: open-ended
	UnitW    bool          `json:"w,omitempty"`   // limits are power (mW), not current (mA)
	Periods  []Period      `json:"periods"`
}

// Period is one step of a schedule.
type Period struct {
	Start  time.Duration `json:"start"`            // from the schedule's start
	Milli  int64         `json:"milli"`            // mA or mW
	Phases int           `json:"phases,omitempty"` // 0: the point's phases
}

// Tx is what the evaluation needs of the running transaction.
type Tx struct {
	Active bool
	ID     int       // the CSMS's id; 0 while not yet known
	Start  time.Time // for Relative profiles
}

// ErrProfile marks a profile the point refuses (Rejected).
var ErrProfile = errors.New("charging profile rejected")

// Check validates a profile for connector (0 or 1) and tx.
func (p Profile) Check(connector int, tx Tx) error {
	switch {
	case p.StackLevel < 0 || p.StackLevel > MaxStackLevel:
		return fmt.Errorf("%w: stack level %d not in 0..%d", ErrProfile, p.StackLevel, MaxStackLevel)
	case len(p.Periods) == 0 || len(p.Periods) > MaxPeriods:
		return fmt.Errorf("%w: %d periods, want 1..%d", ErrProfile, len(p.Periods), MaxPeriods)
	case p.Periods[0].Start != 0:
		return fmt.Errorf("%w: the first period starts at %s, want 0", ErrProfile, p.Periods[0].Start)
	case !p.ValidTo.IsZero() && !p.ValidFrom.IsZero() && !p.ValidTo.After(p.ValidFrom):
		return fmt.Errorf("%w: validTo is not after validFrom", ErrProfile)
	}
	for i := 1; i < len(p.Periods); i++ {
		if p.Periods[i].Start <= p.Periods[i-1].Start {
			return fmt.Errorf("%w: period %d does not start after period %d", ErrProfile, i, i-1)
		}
	}
	for _, pd := range p.Periods {
		if pd.Milli < 0 || (pd.Phases != 0 && pd.Phases != 1 && pd.Phases != 3) {
			return fmt.Errorf("%w: period limit %d or phases %d out of range", ErrProfile, pd.Milli, pd.Phases)
		}
	}
	switch p.Kind {
	case KindAbsolute, KindRelative:
	case KindRecurring:
		if (p.Recurrency != Daily && p.Recurrency != Weekly) || p.Start.IsZero() {
			return fmt.Errorf("%w: a Recurring profile needs recurrencyKind Daily or Weekly and a startSchedule", ErrProfile)
		}
	default:
		return fmt.Errorf("%w: kind %q", ErrProfile, p.Kind)
	}
	switch p.Purpose {
	case PurposeMax:
		if connector != 0 {
			return fmt.Errorf("%w: a ChargePointMaxProfile goes to connector 0", ErrProfile)
		}
	case PurposeTxDefault:
	case PurposeTx:
		if connector == 0 {
			return fmt.Errorf("%w: a TxProfile goes to a connector, not 0", ErrProfile)
		}
		if !tx.Active || (p.TxID != 0 && p.TxID != tx.ID) {
			return fmt.Errorf("%w: a TxProfile needs its transaction running", ErrProfile)
		}
	default:
		return fmt.Errorf("%w: purpose %q", ErrProfile, p.Purpose)
	}
	return nil
}

// Install adds p to ps: a profile with the same id, or with the same
// purpose and stack level, is replaced.
func Install(ps []Profile, p Profile) ([]Profile, error) {
	out := slices.DeleteFunc(slices.Clone(ps), func(q Profile) bool {
		return q.ID == p.ID || (q.Purpose == p.Purpose && q.StackLevel == p.StackLevel)
	})
	if len(out) >= MaxProfiles {
		return ps, fmt.Errorf("%w: %d profiles installed already", ErrProfile, len(out))
	}
	return append(out, p), nil
}

// ClearFilter selects profiles to clear (ClearChargingProfile); nil
// fields match all.
type ClearFilter struct {
	ID         *int
	Purpose    string
	StackLevel *int
}

// Clear removes the profiles f selects; it reports how many.
func Clear(ps []Profile, f ClearFilter) ([]Profile, int) {
	n := len(ps)
	out := slices.DeleteFunc(slices.Clone(ps), func(q Profile) bool {
		if f.ID != nil {
			return q.ID == *f.ID
		}
		return (f.Purpose == "" || q.Purpose == f.Purpose) && (f.StackLevel == nil || q.StackLevel == *f.StackLevel)
	})
	return out, n - len(out)
}

// DropTx removes the TxProfiles (a transaction ended).
func DropTx(ps []Profile) []Profile {
	return slices.DeleteFunc(slices.Clone(ps), func(q Profile) bool { return q.Purpose == PurposeTx })
}

// MilliToMA converts a period's limit to a current per phase (mA):
// power at NominalVoltageV on phases (1 or 3), rounded down.
func MilliToMA(milli int64, unitW bool, phases int) int64 {
	if !unitW {
		return milli
	}
	if phases != 1 {
		phases = 3
	}
	// mW / V = mA over all phases; per phase divide by phases.
	return milli / int64(NominalVoltageV*phases)
}

// MAToMilli converts a current per phase back to the unit asked for.
func MAToMilli(mA int64, unitW bool, phases int) int64 {
	if !unitW {
		return mA
	}
	if phases != 1 {
		phases = 3
	}
	return mA * int64(NominalVoltageV*phases)
}

// window is where a profile's schedule stands at t: the period in force
// (index, -1 for none) and the next time anything about it changes.
func (p Profile) window(t time.Time, tx Tx) (idx int, next time.Time) {
	never := time.Time{}
	if !p.ValidFrom.IsZero() && t.Before(p.ValidFrom) {
		return -1, p.ValidFrom
	}
	if !p.ValidTo.IsZero() && !t.Before(p.ValidTo) {
		return -1, never
	}
	capNext := func(n time.Time) time.Time {
		if !p.ValidTo.IsZero() && (n.IsZero() || p.ValidTo.Before(n)) {
			return p.ValidTo
		}
		return n
	}
	var start time.Time
	var cycle time.Duration
	switch p.Kind {
	case KindRelative:
		if !tx.Active || tx.Start.IsZero() {
			return -1, capNext(never)
		}
		start = tx.Start
	case KindRecurring:
		cycle = 24 * time.Hour
		if p.Recurrency == Weekly {
			cycle = 7 * 24 * time.Hour
		}
		start = p.Start
		if t.Before(start) {
			return -1, capNext(start)
		}
		start = start.Add(t.Sub(start) / cycle * cycle)
	default:
		start = p.Start
	}
	if t.Before(start) {
		return -1, capNext(start)
	}
	el := t.Sub(start)
	end := time.Duration(math.MaxInt64)
	if p.Duration > 0 {
		end = p.Duration
	}
	if cycle > 0 && cycle < end {
		end = cycle
	}
	if el >= end {
		if cycle > 0 {
			return -1, capNext(start.Add(cycle))
		}
		return -1, capNext(never)
	}
	idx = -1
	for i, pd := range p.Periods {
		if pd.Start <= el {
			idx = i
		}
	}
	nextAt := end
	if idx+1 < len(p.Periods) && p.Periods[idx+1].Start < nextAt {
		nextAt = p.Periods[idx+1].Start
	}
	if nextAt == time.Duration(math.MaxInt64) {
		return idx, capNext(never)
	}
	return idx, capNext(start.Add(nextAt))
}

// applies reports whether p can govern the point now (TxProfiles only
// their own running transaction).
func (p Profile) applies(tx Tx) bool {
	if p.Purpose != PurposeTx {
		return true
	}
	return tx.Active && (p.TxID == 0 || p.TxID == tx.ID)
}

// Limit is the composite limit at t: the lowest of the ChargePointMax
// profile and the transaction's profile (TxProfile over TxDefaultProfile),
// each the highest stack level with a period in force. ok is false when no
// profile limits the point; until is when the result may change (zero:
// never, as far as the profiles know).
func Limit(ps []Profile, t time.Time, tx Tx, phases int) (mA int64, until time.Time, ok bool) {
	earliest := func(n time.Time) {
		if !n.IsZero() && n.After(t) && (until.IsZero() || n.Before(until)) {
			until = n
		}
	}
	best := func(purpose string) (int64, bool) {
		level, found := -1, false
		var v int64
		for _, p := range ps {
			if p.Purpose != purpose || !p.applies(tx) {
				continue
			}
			idx, next := p.window(t, tx)
			earliest(next)
			if idx < 0 || p.StackLevel < level {
				continue
			}
			pd := p.Periods[idx]
			ph := pd.Phases
			if ph == 0 {
				ph = phases
			}
			m := MilliToMA(pd.Milli, p.UnitW, ph)
			if p.StackLevel == level { // Install keeps one per level; else the lower
				m = min(m, v)
			}
			level, found, v = p.StackLevel, true, m
		}
		return v, found
	}
	maxV, maxOK := best(PurposeMax)
	txV, txOK := best(PurposeTx)
	if !txOK {
		txV, txOK = best(PurposeTxDefault)
	}
	switch {
	case maxOK && txOK:
		return min(maxV, txV), until, true
	case maxOK:
		return maxV, until, true
	case txOK:
		return txV, until, true
	}
	return 0, until, false
}

// Composite is GetCompositeSchedule's answer: periods from start over
// duration, in the unit asked for; a stretch without any profile gets no
// period of its own (the point's own maximum applies there) unless
// maxMA > 0, which fills it.
func Composite(ps []Profile, start time.Time, duration time.Duration, tx Tx, phases int, unitW bool, maxMA int64) []Period {
	var out []Period
	end := start.Add(duration)
	for t := start; t.Before(end); {
		mA, until, ok := Limit(ps, t, tx, phases)
		if maxMA > 0 && (!ok || mA > maxMA) {
			mA, ok = maxMA, true
		}
		if ok {
			v := MAToMilli(mA, unitW, phases)
			if n := len(out); n == 0 || out[n-1].Milli != v {
				out = append(out, Period{Start: t.Sub(start), Milli: v})
			}
		}
		if until.IsZero() || !until.Before(end) {
			break
		}
		t = until
	}
	return out
}
