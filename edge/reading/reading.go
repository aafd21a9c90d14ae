package reading

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// CurrentVersion is the version this build writes.
//
//   - 1: 2026-11-25: signed batches of readings, events and OCMF snapshots.
const CurrentVersion = 1

// MinVersion is the oldest version central still accepts.
const MinVersion = 1

// MaxBodyBytes bounds a batch body; larger messages are rejected unparsed.
const MaxBodyBytes = 4 << 20

// Errors a decoder returns; callers branch with errors.Is.
var (
	ErrVersion   = errors.New("unsupported batch version")
	ErrMalformed = errors.New("malformed batch")
	ErrSignature = errors.New("gateway signature does not verify")
	ErrTooLarge  = errors.New("batch too large")
)

// Batch is one signed unit of data from an edge gateway. Seq is the outbox
// sequence, gap-free per gateway; central stores (gateway, seq) once.
type Batch struct {
	Version  int       `json:"v"`
	Site     string    `json:"site"`
	Gateway  string    `json:"gateway"`
	Seq      uint64    `json:"seq"`
	Sent     time.Time `json:"sent"`
	Readings []Reading `json:"readings,omitempty"`
	Events   []Event   `json:"events,omitempty"`
}

// Reading is one sample of one device quantity. Values are integers in the
// unit named by Quantity (see the Q* constants). Stale marks a failed read:
// the value is absent, never a copy of the last good one.
type Reading struct {
	Time     time.Time `json:"t"`
	Device   string    `json:"device"`          // device id from the site config
	Point    string    `json:"point,omitempty"` // charge point, if any
	Quantity string    `json:"q"`
	Value    int64     `json:"val"`
	Stale    bool      `json:"stale,omitempty"`
	// OCMF carries a meter's signed snapshot unchanged (opaque string), with
	// the session it belongs to.
	OCMF    string `json:"ocmf,omitempty"`
	Session string `json:"session,omitempty"`
}

// Quantities and their integer units.
const (
	QEnergyWh    = "energy_wh" // import register, Wh
	QPowerW      = "power_w"   // active power, W
	QCurrentL1MA = "current_l1_ma"
	QCurrentL2MA = "current_l2_ma"
	QCurrentL3MA = "current_l3_ma"
	QVoltageL1DV = "voltage_l1_dv" // 0.1 V
	QVoltageL2DV = "voltage_l2_dv"
	QVoltageL3DV = "voltage_l3_dv"
	QTempDC      = "temp_dc"    // 0.1 °C
	QSetpointA   = "setpoint_a" // charger setpoint, A
	QSnapshot    = "ocmf"       // OCMF snapshot, Value unused
	QStateLetter = "state"      // IEC 61851 letter as its ASCII code
)

// Event is something that happened at the edge: an alarm, a trip, a reset,
// a device going silent, a session transition.
type Event struct {
	Time    time.Time         `json:"t"`
	Kind    string            `json:"kind"`
	Device  string            `json:"device,omitempty"`
	Point   string            `json:"point,omitempty"`
	Message string            `json:"msg,omitempty"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// Envelope is the message on the wire: the exact signed body bytes and the
// gateway's detached Ed25519 signature.
type Envelope struct {
	Gateway string `json:"gateway"`
	Body    []byte `json:"body"` // base64 in JSON
	Sig     []byte `json:"sig"`  // base64 in JSON
}

// Ack is central's reply on parkgrid/v1/<site>/down/ack: every seq up to and
// including Seq is durably stored.
type Ack struct {
	Version int    `json:"v"`
	Gateway string `json:"gateway"`
	Seq     uint64 `json:"seq"`
}

// Seal encodes b, signs the exact body bytes with key and returns the
// envelope message to publish.
func Seal(b Batch, key ed25519.PrivateKey) ([]byte, error) {
	if b.Version == 0 {
		b.Version = CurrentVersion
	}
	body, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode batch seq %d: %w", b.Seq, err)
	}
	return SealBody(b.Gateway, body, key)
}

// SealBody signs body (already encoded Batch bytes) and wraps it.
func SealBody(gateway string, body []byte, key ed25519.PrivateKey) ([]byte, error) {
	env := Envelope{Gateway: gateway, Body: body, Sig: ed25519.Sign(key, body)}
	msg, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("encode envelope: %w", err)
	}
	return msg, nil
}

// KeyLookup returns the enrolled public key of a gateway, or an error when
// the gateway is unknown.
type KeyLookup func(gateway string) (ed25519.PublicKey, error)

// Open checks the envelope's size, finds the gateway's key, verifies the
// signature over the exact body bytes and only then decodes the batch. The
// batch's gateway must equal the envelope's.
func Open(msg []byte, keys KeyLookup) (Batch, []byte, error) {
	if len(msg) > MaxBodyBytes*2 {
		return Batch{}, nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	var env Envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return Batch{}, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Gateway == "" || len(env.Body) == 0 || len(env.Sig) != ed25519.SignatureSize {
		return Batch{}, nil, fmt.Errorf("%w: envelope needs gateway, body and a %d-byte sig", ErrMalformed, ed25519.SignatureSize)
	}
	if len(env.Body) > MaxBodyBytes {
		return Batch{}, nil, fmt.Errorf("%w: body %d bytes, limit %d", ErrTooLarge, len(env.Body), MaxBodyBytes)
	}
	pub, err := keys(env.Gateway)
	if err != nil {
		return Batch{}, nil, fmt.Errorf("gateway %q: %w", env.Gateway, err)
	}
	if !ed25519.Verify(pub, env.Body, env.Sig) {
		return Batch{}, nil, fmt.Errorf("gateway %q: %w", env.Gateway, ErrSignature)
	}
	b, err := Decode(env.Body)
	if err != nil {
		return Batch{}, nil, fmt.Errorf("gateway %q: %w", env.Gateway, err)
	}
	if b.Gateway != env.Gateway {
		return Batch{}, nil, fmt.Errorf("%w: body names gateway %q, envelope %q", ErrMalformed, b.Gateway, env.Gateway)
	}
	return b, env.Body, nil
}

// Decode parses a batch body. It checks the version before anything else
// and rejects versions it does not know.
func Decode(body []byte) (Batch, error) {
	var head struct {
		Version *int `json:"v"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if head.Version == nil {
		return Batch{}, fmt.Errorf("%w: no \"v\" field", ErrMalformed)
	}
	if v := *head.Version; v < MinVersion || v > CurrentVersion {
		return Batch{}, fmt.Errorf("%w: v=%d, this build reads %d..%d", ErrVersion, v, MinVersion, CurrentVersion)
	}
	var b Batch
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if b.Site == "" || b.Gateway == "" || b.Seq == 0 {
		return Batch{}, fmt.Errorf("%w: site, gateway and seq ≥ 1 are required", ErrMalformed)
	}
	for i, r := range b.Readings {
		if r.Device == "" || r.Quantity == "" {
			return Batch{}, fmt.Errorf("%w: reading %d: device and q are required", ErrMalformed, i)
		}
	}
	return b, nil
}

// DecodeAck parses an ack message.
func DecodeAck(msg []byte) (Ack, error) {
	var a Ack
	if err := json.Unmarshal(msg, &a); err != nil {
		return Ack{}, fmt.Errorf("%w: ack: %v", ErrMalformed, err)
	}
	if a.Version < MinVersion || a.Version > CurrentVersion {
		return Ack{}, fmt.Errorf("%w: ack v=%d", ErrVersion, a.Version)
	}
	return a, nil
}

// Topics of the contract.
func BatchTopic(site string) string { return "parkgrid/v1/" + site + "/up/batch" }
func AckTopic(site string) string   { return "parkgrid/v1/" + site + "/down/ack" }
func CmdTopic(site string) string   { return "parkgrid/v1/" + site + "/down/cmd" }
func ReplyTopic(site string) string { return "parkgrid/v1/" + site + "/up/reply" }
func StatusTopic(site string) string {
	return "parkgrid/v1/" + site + "/status"
}

// SharedBatchTopic is what central replicas subscribe to, sharing the load.
const SharedBatchTopic = "$share/central/parkgrid/v1/+/up/batch"
