// Package drivers names what parkgrid needs from field devices: small
// capability interfaces (Meter, EnergyMeter, SnapshotMeter, Charger,
// Failsafe, Contacts, Thermometer) and the integer-unit values they return.
// One package per device family (drivers/sdm630, drivers/eichrecht,
// drivers/phoenix, drivers/diinput, drivers/xymd02) implements them on top
// of a Modbus bus (drivers/modbus); callers depend on these interfaces only.
//
// Units are integers with the unit in the name: voltage in 0.1 V (DV),
// current in mA, power in W, energy in Wh, temperature in 0.1 °C.
//
// Errors that a caller may branch on are the sentinels below; a driver wraps
// them with the device name, the register and, for decoding errors, the raw
// words, e.g. `sdm630 "grid": register 0x0006: NaN (raw 7fc0 0000)`.
package drivers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors shared by the bus and every driver. drivers/modbus
// re-exports ErrTimeout and ErrShortReply, so errors.Is works with either name.
var (
	// ErrTimeout: the device did not answer in time.
	ErrTimeout = errors.New("timeout")
	// ErrShortReply: the reply held fewer bytes than the request asked for.
	ErrShortReply = errors.New("short reply")
	// ErrDecode: the reply arrived but a value in it is not valid for the
	// register (NaN, ±Inf, a state letter outside A..F, a missing OCMF
	// prefix, a length beyond the register block …).
	ErrDecode = errors.New("invalid value")
	// ErrRange: a value the caller wants to write is outside what the device
	// accepts; nothing was written.
	ErrRange = errors.New("value out of range")
)

// Has marks which optional fields of a MeterSample the meter filled in.
type Has uint8

// Optional MeterSample fields.
const (
	HasPhasePower  Has = 1 << iota // PhasePowerW
	HasFrequency                   // FrequencyMilliHz
	HasTotalEnergy                 // TotalWh
)

// MeterSample is one reading of a meter. Phases are L1, L2, L3 in the order
// the meter is wired (phase rotation is the caller's concern).
type MeterSample struct {
	VoltageDV        [3]int64 // phase-to-neutral voltage, 0.1 V
	CurrentMA        [3]int64 // phase current, mA
	PowerW           int64    // total active power, W; negative = export
	ImportWh         int64    // import active energy counter, Wh
	PhasePowerW      [3]int64 // active power per phase, W (Has&HasPhasePower)
	FrequencyMilliHz int64    // grid frequency, mHz (Has&HasFrequency)
	TotalWh          int64    // total (import+export) active energy, Wh (Has&HasTotalEnergy)
	Has              Has      // which optional fields are set
}

// Meter reads a meter's instantaneous values and its import counter.
type Meter interface {
	Sample(ctx context.Context) (MeterSample, error)
}

// EnergyMeter reads only the import energy counter (cheaper than Sample
// where the meter allows it).
type EnergyMeter interface {
	EnergyWh(ctx context.Context) (int64, error) // import register, Wh
}

// SnapshotKind is the OCMF transaction letter (`TX`) of a signed snapshot.
type SnapshotKind byte

// Snapshot kinds a calibrated (Eichrecht) meter signs.
const (
	SnapshotBegin        SnapshotKind = 'B'
	SnapshotIntermediate SnapshotKind = 'C'
	SnapshotEnd          SnapshotKind = 'E'
)

// String returns the OCMF letter.
func (k SnapshotKind) String() string { return string(rune(k)) }

// SnapshotMeter is a calibrated meter that signs its own readings (OCMF).
type SnapshotMeter interface {
	// Snapshot asks the meter for a signed snapshot and returns the OCMF
	// string exactly as the meter produced it ("OCMF|{…}|{…}").
	// identification lands in the OCMF ID field.
	Snapshot(ctx context.Context, kind SnapshotKind, identification string) (string, error)
	// PublicKey returns the meter's public key, DER SubjectPublicKeyInfo.
	PublicKey(ctx context.Context) ([]byte, error)
}

// ChargeState is the IEC 61851 control-pilot state, 'A'..'F'.
type ChargeState byte

// IEC 61851 states.
const (
	StateA ChargeState = 'A' // no vehicle
	StateB ChargeState = 'B' // vehicle connected, not charging
	StateC ChargeState = 'C' // charging
	StateD ChargeState = 'D' // charging, ventilation required
	StateE ChargeState = 'E' // no power / short circuit
	StateF ChargeState = 'F' // charger fault
)

// String returns the letter.
func (s ChargeState) String() string { return string(rune(s)) }

// Valid reports whether s is one of A..F.
func (s ChargeState) Valid() bool { return s >= StateA && s <= StateF }

// ChargerStatus is what a charge controller reports: its IEC 61851 state
// and, read back from the controller itself, what it was told.
type ChargerStatus struct {
	State     ChargeState
	ErrorCode uint16 // vendor fault code, 0 = none (or the map has none)
	// Enabled is the controller's charging enable, as read back.
	Enabled bool
	// MaxCurrentA is the current limit the controller holds, as read back, A.
	MaxCurrentA int
	// OfferedA is what the controller offers the car: MaxCurrentA while
	// enabled and at least 6 A, else 0.
	OfferedA int
}

// OfferedA is what a controller holding maxA, enabled or not, offers a car:
// IEC 61851 has nothing between 0 and 6 A.
func OfferedA(enabled bool, maxA int) int {
	if !enabled || maxA < 6 {
		return 0
	}
	return maxA
}

// Charger is a charge controller the edge steers.
type Charger interface {
	// Status reads the state and reads back enable and current limit.
	Status(ctx context.Context) (ChargerStatus, error)
	SetEnabled(ctx context.Context, on bool) error
	// SetMaxCurrentA sets the charging current limit: 0 (pause) or 6..63 A.
	// A controller without a 0 A setting pauses through its enable.
	SetMaxCurrentA(ctx context.Context, a int) error
}

// Failsafe is a charger with a communication watchdog that its vendor
// documents: when no Modbus request reaches it for watchdog, it falls back
// to fallbackA on its own. watchdog 0 turns the watchdog off. Only drivers
// whose vendor map lists such registers implement it; callers ask with a
// type assertion and report a controller without it (see docs/failsafe.md).
type Failsafe interface {
	SetFailsafe(ctx context.Context, fallbackA int, watchdog time.Duration) error
	// Failsafe reads back what the controller holds now (after a reboot it
	// may be its power-on default).
	Failsafe(ctx context.Context) (fallbackA int, watchdog time.Duration, err error)
}

// ContactStatus is the state of the safety contacts, true = contact closed.
type ContactStatus struct {
	FireLoopClosed    bool   // fire-alarm loop (normally closed): false = alarm
	SupervisionIntact bool   // loop supervision (end-of-line resistor): false = wire break
	SPDClosed         []bool // SPD auxiliary contacts per sub-distribution (normally closed): false = tripped
}

// FireAlarm reports whether the fire-alarm loop is open or its wire broken.
// Both mean alarm: the loop is normally closed.
func (c ContactStatus) FireAlarm() bool { return !c.FireLoopClosed || !c.SupervisionIntact }

// SPDTripped returns the indices of SPD contacts that are open.
func (c ContactStatus) SPDTripped() []int {
	var out []int
	for i, ok := range c.SPDClosed {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// Contacts reads the safety inputs (fire loop, supervision, SPD contacts).
type Contacts interface {
	Contacts(ctx context.Context) (ContactStatus, error)
}

// Thermometer reads a temperature in 0.1 °C.
type Thermometer interface {
	TemperatureDeciC(ctx context.Context) (int64, error)
}

// DecodeError is a value a device sent that is not valid for its register.
// It reads `sdm630 "grid": register 0x0006: NaN (raw 7fc0 0000)` and
// matches ErrDecode with errors.Is.
type DecodeError struct {
	Device   string // driver, e.g. "sdm630"
	Name     string // configured device name, e.g. "grid"
	Register uint16 // first register of the value
	Raw      []byte // the register bytes as received
	What     string // what is wrong, e.g. "NaN"
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s %q: register 0x%04x: %s (raw %s)", e.Device, e.Name, e.Register, e.What, RawWords(e.Raw))
}

// Unwrap makes errors.Is(err, ErrDecode) true.
func (e *DecodeError) Unwrap() error { return ErrDecode }

// RawWords formats register bytes as space-separated 16-bit hex words, for
// error messages: "7fc0 0000". An odd trailing byte is printed alone.
func RawWords(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, len(b)*5/2)
	for i, c := range b {
		if i > 0 && i%2 == 0 {
			out = append(out, ' ')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return string(out)
}
