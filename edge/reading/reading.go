package reading

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// CurrentVersion is the version this build writes.
//
//   - 1: 2026-11-25: signed batches of readings, events and OCMF snapshots.
//   - 2: 2026-11-26: batches name their outbox epoch ("epoch"); a batch may
//     be a gap record ("gap") declaring seqs of its epoch lost; signed
//     bodies are decoded strictly (see strict.go).
const CurrentVersion = 2

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

// Batch is one signed unit of data from an edge gateway. (Gateway, Epoch,
// Seq) names it: Seq is the outbox sequence, gap-free per epoch, and Epoch
// the random id of the outbox that wrote it ("" for v1 batches and for
// outboxes made before epochs existed). Central stores each (gateway,
// epoch, seq) once.
type Batch struct {
	Version  int       `json:"v"`
	Site     string    `json:"site"`
	Gateway  string    `json:"gateway"`
	Epoch    string    `json:"epoch,omitempty"` // v2
	Seq      uint64    `json:"seq"`
	Sent     time.Time `json:"sent"`
	Readings []Reading `json:"readings,omitempty"`
	Events   []Event   `json:"events,omitempty"`
	// Gap (v2), when set, makes this batch a gap record: the edge declares
	// seqs From..To of its epoch lost (they will never be sent) and why. A
	// gap record carries no readings and no events.
	Gap *Gap `json:"gap,omitempty"`
}

// Gap is what a gap record declares lost.
type Gap struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Reason string `json:"reason"` // one of the Gap* codes
	Detail string `json:"detail,omitempty"`
}

// Gap reasons. They cross the wire: append only, never rename or reuse.
const (
	GapCorrupt = "corrupt" // the records failed their checksum on the edge's disk
	GapMissing = "missing" // the records' segment file is gone (deleted by hand, lost)
	GapRepair  = "repair"  // an operator repair dropped the records
)

// GapReasons lists every gap reason.
var GapReasons = []string{GapCorrupt, GapMissing, GapRepair}

// EpochLen is the length of an epoch: 16 random bytes in lower-case hex.
const EpochLen = 32

// ValidEpoch reports whether e is an epoch: "" (the legacy epoch) or
// EpochLen lower-case hex digits.
func ValidEpoch(e string) bool {
	if e == "" {
		return true
	}
	if len(e) != EpochLen {
		return false
	}
	for i := 0; i < len(e); i++ {
		if c := e[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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

var envelopeShape = object([]string{"gateway", "body", "sig"}, nil)

// Open checks the envelope's size, finds the gateway's key, verifies the
// signature over the exact body bytes and only then decodes the batch
// (strictly, see Decode). The batch's gateway must equal the envelope's.
func Open(msg []byte, keys KeyLookup) (Batch, []byte, error) {
	b, env, err := OpenEnvelope(msg, keys)
	if err != nil {
		return Batch{}, nil, err
	}
	return b, env.Body, nil
}

// OpenEnvelope is Open returning the whole envelope (body and signature).
func OpenEnvelope(msg []byte, keys KeyLookup) (Batch, Envelope, error) {
	if len(msg) > MaxBodyBytes*2 {
		return Batch{}, Envelope{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(msg))
	}
	var env Envelope
	if _, err := checkStrict(msg, envelopeShape); err != nil {
		return Batch{}, Envelope{}, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if err := json.Unmarshal(msg, &env); err != nil {
		return Batch{}, Envelope{}, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Gateway == "" || len(env.Body) == 0 || len(env.Sig) != ed25519.SignatureSize {
		return Batch{}, Envelope{}, fmt.Errorf("%w: envelope needs gateway, body and a %d-byte sig", ErrMalformed, ed25519.SignatureSize)
	}
	if len(env.Body) > MaxBodyBytes {
		return Batch{}, Envelope{}, fmt.Errorf("%w: body %d bytes, limit %d", ErrTooLarge, len(env.Body), MaxBodyBytes)
	}
	pub, err := keys(env.Gateway)
	if err != nil {
		return Batch{}, Envelope{}, fmt.Errorf("gateway %q: %w", env.Gateway, err)
	}
	if !ed25519.Verify(pub, env.Body, env.Sig) {
		return Batch{}, Envelope{}, fmt.Errorf("gateway %q: %w", env.Gateway, ErrSignature)
	}
	b, err := Decode(env.Body)
	if err != nil {
		return Batch{}, Envelope{}, fmt.Errorf("gateway %q: %w", env.Gateway, err)
	}
	if b.Gateway != env.Gateway {
		return Batch{}, Envelope{}, fmt.Errorf("%w: body names gateway %q, envelope %q", ErrMalformed, b.Gateway, env.Gateway)
	}
	return b, env, nil
}

// The shapes of signed batch bodies (strict.go). Index order matters for
// the presence bits Decode reads: batchFields[i] is bit i.
var (
	batchFields = []string{"v", "site", "gateway", "seq", "sent", "readings", "events", "epoch", "gap"}
	batchShape  = object(batchFields, map[string]*shape{
		"readings": {elem: object([]string{"t", "device", "point", "q", "val", "stale", "ocmf", "session"}, nil)},
		"events": {elem: object([]string{"t", "kind", "device", "point", "msg", "attrs"}, map[string]*shape{
			"attrs": {free: true},
		})},
		"gap": object([]string{"from", "to", "reason", "detail"}, nil),
	})
	// v2Only are the presence bits of fields v1 does not have.
	v2Only = uint64(1)<<7 | uint64(1)<<8
)

// Decode parses a batch body. It judges the version first (ErrVersion for
// one it does not know), then the body strictly: no key its version does not
// define, none twice, none differing from a defined one only in case, nothing
// after the object (ErrMalformed; see strict.go). Then the fields: site,
// gateway and seq ≥ 1 always; every reading needs device and q; in v2 a
// valid epoch, and a gap record covers seqs below its own and carries nothing
// else.
func Decode(body []byte) (Batch, error) {
	v, ok, err := topLevelInt(body, "v")
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !ok {
		return Batch{}, fmt.Errorf("%w: no \"v\" field", ErrMalformed)
	}
	if v < MinVersion || v > CurrentVersion {
		return Batch{}, fmt.Errorf("%w: v=%d, this build reads %d..%d", ErrVersion, v, MinVersion, CurrentVersion)
	}
	present, err := checkStrict(body, batchShape)
	if err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v == 1 && present&v2Only != 0 {
		return Batch{}, fmt.Errorf("%w: epoch and gap are not part of v1", ErrMalformed)
	}
	var b Batch
	if err := json.Unmarshal(body, &b); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := b.check(); err != nil {
		return Batch{}, err
	}
	return b, nil
}

// check makes Decode's field checks.
func (b *Batch) check() error {
	if b.Site == "" || b.Gateway == "" || b.Seq == 0 {
		return fmt.Errorf("%w: site, gateway and seq ≥ 1 are required", ErrMalformed)
	}
	for i, r := range b.Readings {
		if r.Device == "" || r.Quantity == "" {
			return fmt.Errorf("%w: reading %d: device and q are required", ErrMalformed, i)
		}
	}
	if !ValidEpoch(b.Epoch) {
		return fmt.Errorf("%w: epoch %q: want %d lower-case hex digits", ErrMalformed, b.Epoch, EpochLen)
	}
	if g := b.Gap; g != nil {
		switch {
		case g.From == 0 || g.From > g.To || g.To >= b.Seq:
			return fmt.Errorf("%w: gap %d..%d in gap record seq %d: want 1 ≤ from ≤ to < seq", ErrMalformed, g.From, g.To, b.Seq)
		case !slices.Contains(GapReasons, g.Reason):
			return fmt.Errorf("%w: gap reason %q: want one of %v", ErrMalformed, g.Reason, GapReasons)
		case len(b.Readings) > 0 || len(b.Events) > 0:
			return fmt.Errorf("%w: a gap record carries no readings or events", ErrMalformed)
		}
	}
	return nil
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
