package ocpp

// Connector statuses (OCPP 1.6 ChargePointStatus) and the error codes
// parkgrid reports (ChargePointErrorCode).
const (
	StatusAvailable     = "Available"
	StatusPreparing     = "Preparing"
	StatusCharging      = "Charging"
	StatusSuspendedEVSE = "SuspendedEVSE"
	StatusSuspendedEV   = "SuspendedEV"
	StatusFinishing     = "Finishing"
	StatusUnavailable   = "Unavailable"
	StatusFaulted       = "Faulted"

	ErrNone       = "NoError"
	ErrEVComm     = "EVCommunicationError"
	ErrInternal   = "InternalError"
	ErrOther      = "OtherError"
	ErrPowerMeter = "PowerMeterFailure"
)

// PointView is what the edge knows of a charge point at one moment (the
// control loop's view: state letter, setpoint, metered values).
type PointView struct {
	State           string // IEC 61851 letter A..F; "?" never read
	ControllerStale bool   // the charge controller does not answer
	MeterStale      bool   // its meter does not answer (or it has none)
	HasMeter        bool
	Blocked         string // what safety holds the point at 0 A for ("" nothing)
	SetpointMA      int64  // what the charger is allowed to offer now
	CurrentMA       [3]int64
	PowerW          int64
	EnergyWh        int64
	MaxMA           int64 // the point's own maximum (fuse, max_a)
	Phases          int
}

// Observed is the input of ConnectorStatus.
type Observed struct {
	PointView
	InTx        bool // a transaction runs on the connector
	Unavailable bool // ChangeAvailability Inoperative
	// Finishing: a transaction ended and the car is still plugged in.
	Finishing bool
}

// ConnectorStatus maps the edge's view of a point to the OCPP status,
// error code and info (max 50 characters) of its connector:
// A → Available, B → Preparing (waiting for authorisation), C/D → Charging,
// held at 0 A by load management or safety → SuspendedEVSE, a car that
// draws nothing while offered current (full) → SuspendedEV, E/F or a
// controller that does not answer → Faulted with an error code.
func ConnectorStatus(o Observed) (status, errorCode, info string) {
	errorCode = ErrNone
	if o.HasMeter && o.MeterStale {
		errorCode, info = ErrPowerMeter, "Eichrecht meter does not answer"
	}
	switch {
	case o.ControllerStale || o.State == "" || o.State == "?":
		return StatusFaulted, ErrInternal, "charge controller offline"
	case o.State == "E":
		return StatusFaulted, ErrEVComm, "IEC 61851 state E (no control pilot)"
	case o.State == "F":
		return StatusFaulted, ErrOther, "IEC 61851 state F (EVSE fault)"
	case o.Blocked != "" && o.State != "A":
		if o.InTx {
			return StatusSuspendedEVSE, ErrOther, trim50("held by safety: " + o.Blocked)
		}
		return StatusFaulted, ErrOther, trim50("held by safety: " + o.Blocked)
	case o.Unavailable && !o.InTx:
		return StatusUnavailable, errorCode, info
	case o.State == "A":
		return StatusAvailable, errorCode, info
	case !o.InTx && o.Finishing:
		return StatusFinishing, errorCode, info
	case !o.InTx:
		return StatusPreparing, errorCode, info
	case o.SetpointMA <= 0:
		return StatusSuspendedEVSE, errorCode, info
	case o.State == "B":
		return StatusSuspendedEV, errorCode, info
	}
	return StatusCharging, errorCode, info
}

func trim50(s string) string {
	if len(s) > 50 {
		return s[:50]
	}
	return s
}
