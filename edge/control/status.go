package control

import (
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Status is the loop's view after its last step, for the EMS API, the
// dashboard and logs.
type Status struct {
	At           time.Time
	StepDuration time.Duration
	Grid         *GridStatus // nil: no grid meter
	EVCurrentMA  [3]int64    // metered charge-point current per grid phase
	EVPowerW     int64
	Charging     int  // points with a setpoint above 0
	Scarce       bool // some car paused because not all fit at 6 A
	Limits       []NodeLimitStatus
	EMS          *Effective // the EMS limit in force, if any
	Points       []PointStatus
}

// GridStatus is the grid connection as measured.
type GridStatus struct {
	Meter       string
	At          time.Time
	Stale       bool // older than the stale limit: the safe budget applies
	CurrentMA   [3]int64
	PowerW      int64
	OtherLoadMA [3]int64 // grid current minus metered charge points
	// Reversed: a phase reads a negative current (a current transformer
	// mounted the wrong way round): the reading is not used; the safe
	// budget applies (Stale is set too). An alarm.
	Reversed bool
}

// NodeLimitStatus is a node's effective limit and the planned load on it.
type NodeLimitStatus struct {
	loadmgmt.NodeLimit
	Load [3]int64 // planned, mA per grid phase
	// ReservedMA is current the loop cannot steer (silent controllers,
	// points safety holds that still draw), subtracted from every limit.
	ReservedMA [3]int64
}

// PointStatus is one charge point.
type PointStatus struct {
	ID              string
	State           string // IEC 61851 letter, "?" if never read
	ControllerStale bool
	MeterStale      bool
	OfferedA        int
	ErrorCode       uint16
	CurrentMA       [3]int64 // metered, per grid phase
	PowerW          int64
	EnergyWh        int64
	SetpointMA      int64  // last commanded (0 while safety holds the point)
	HeldMA          int64  // what the charger offered at its last read-back
	SetpointKnown   bool   // a read-back confirms SetpointMA; false while safety holds the point
	Unconfirmed     bool   // counts at what it may draw, not at its plan: cut not confirmed, read-back pending, drawing more than offered
	Blocked         string // what safety holds the point at 0 A for; "" if nothing
	TargetMA        int64  // what the plan allocates (0 without a car)
	Reason          string
	LastError       string
	// Failsafe is the controller's own fallback: FailsafeNone (it has no
	// documented watchdog), FailsafeOK, FailsafePending or FailsafeFailed.
	Failsafe string
	// CarPhases is how many phases the connected car draws on as its meter
	// showed it (1 or 3); 0 while not known (no car, or not drawing yet).
	CarPhases int
}

// Status returns the state after the last step (zero before the first).
func (l *Loop) Status() Status {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

// Point returns one point's status.
func (l *Loop) Point(id string) (PointStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.status.Points {
		if p.ID == id {
			return p, true
		}
	}
	return PointStatus{}, false
}
