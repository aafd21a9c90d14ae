package reading

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Messages from central to the edge (acks on parkgrid/v1/<site>/down/ack,
// commands on …/down/cmd) are signed by central's own Ed25519 key, which the
// edge enrols in its config. On the wire each is a Signed envelope; the
// body's "type" says what it is, so an ack's signature can never pass for a
// command's. The edge verifies the signature over the exact body bytes
// before it decodes anything, and decodes strictly (strict.go).

// DownVersion is the version of down messages this build writes and reads.
// (v1 acks were unsigned; they are refused.)
//
//   - 2: 2026-11-26: signed acks and commands.
const DownVersion = 2

// Errors of down messages; callers branch with errors.Is.
var (
	// ErrCentralSignature: the message is not signed by central's key (or
	// not signed at all).
	ErrCentralSignature = errors.New("central signature does not verify")
	// ErrExpired: a command past its expiry.
	ErrExpired = errors.New("command expired")
	// ErrNotForUs: a message for another gateway.
	ErrNotForUs = errors.New("message for another gateway")
)

// MaxDownBytes bounds a down message.
const MaxDownBytes = 64 << 10

// Body types of down messages.
const (
	TypeAck     = "ack"
	TypeCommand = "cmd"
)

// Signed is a down message on the wire: central's exact body bytes and its
// detached Ed25519 signature over them.
type Signed struct {
	Body []byte `json:"body"` // base64 in JSON
	Sig  []byte `json:"sig"`  // base64 in JSON
}

// Ack says that central durably stored every seq of the gateway's outbox
// epoch up to and including Seq (stored, or declared lost by a gap record it
// stored). Type is TypeAck.
type Ack struct {
	Version int    `json:"v"`
	Type    string `json:"type"`
	Gateway string `json:"gateway"`
	Epoch   string `json:"epoch"`
	Seq     uint64 `json:"seq"`
}

// Command is an order from central to one gateway (authorise a session,
// stop it, set a limit, change config). Type is TypeCommand. It is carried
// out at most once (by ID) and not after Expires.
type Command struct {
	Version int               `json:"v"`
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	Gateway string            `json:"gateway"`
	Kind    string            `json:"kind"`
	Issued  time.Time         `json:"issued"`
	Expires time.Time         `json:"expires"`
	Args    map[string]string `json:"args,omitempty"`
}

var (
	signedShape  = object([]string{"body", "sig"}, nil)
	ackShape     = object([]string{"v", "type", "gateway", "epoch", "seq"}, nil)
	commandShape = object([]string{"v", "type", "id", "gateway", "kind", "issued", "expires", "args"}, map[string]*shape{
		"args": {free: true},
	})
)

// SealAck signs an ack with central's key.
func SealAck(a Ack, key ed25519.PrivateKey) ([]byte, error) {
	a.Version, a.Type = DownVersion, TypeAck
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode ack: %w", err)
	}
	return sealDown(body, key)
}

// SealCommand signs a command with central's key.
func SealCommand(c Command, key ed25519.PrivateKey) ([]byte, error) {
	c.Version, c.Type = DownVersion, TypeCommand
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode command %s: %w", c.ID, err)
	}
	return sealDown(body, key)
}

func sealDown(body []byte, key ed25519.PrivateKey) ([]byte, error) {
	msg, err := json.Marshal(Signed{Body: body, Sig: ed25519.Sign(key, body)})
	if err != nil {
		return nil, fmt.Errorf("encode signed message: %w", err)
	}
	return msg, nil
}

// openDown checks the envelope and central's signature and returns the
// verified body.
func openDown(msg []byte, central ed25519.PublicKey) ([]byte, error) {
	if len(msg) > MaxDownBytes {
		return nil, fmt.Errorf("%w: down message of %d bytes", ErrTooLarge, len(msg))
	}
	if len(central) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: no central key enrolled", ErrCentralSignature)
	}
	if _, err := checkStrict(msg, signedShape); err != nil {
		return nil, fmt.Errorf("%w: not a signed message: %v", ErrCentralSignature, err)
	}
	var s Signed
	if err := json.Unmarshal(msg, &s); err != nil {
		return nil, fmt.Errorf("%w: not a signed message: %v", ErrCentralSignature, err)
	}
	if len(s.Body) == 0 || len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(central, s.Body, s.Sig) {
		return nil, ErrCentralSignature
	}
	return s.Body, nil
}

// decodeDown decodes a verified body of the given type strictly.
func decodeDown(body []byte, sh *shape, typ string, v any) error {
	ver, ok, err := topLevelInt(body, "v")
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, typ, err)
	}
	if !ok || ver != DownVersion {
		return fmt.Errorf("%w: %s v=%d, this build reads %d", ErrVersion, typ, ver, DownVersion)
	}
	if _, err := checkStrict(body, sh); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, typ, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, typ, err)
	}
	return nil
}

// OpenAck verifies an ack with central's public key, then decodes it
// strictly. Unsigned acks and acks signed by any other key are refused with
// ErrCentralSignature. Whether the ack is for this gateway, this epoch and
// within what was sent is the receiver's to judge.
func OpenAck(msg []byte, central ed25519.PublicKey) (Ack, error) {
	body, err := openDown(msg, central)
	if err != nil {
		return Ack{}, err
	}
	var a Ack
	if err := decodeDown(body, ackShape, TypeAck, &a); err != nil {
		return Ack{}, err
	}
	if a.Type != TypeAck || a.Gateway == "" || a.Seq == 0 || !ValidEpoch(a.Epoch) {
		return Ack{}, fmt.Errorf("%w: ack needs type %q, a gateway, a valid epoch and seq ≥ 1", ErrMalformed, TypeAck)
	}
	return a, nil
}

// OpenCommand verifies a command with central's public key, decodes it
// strictly and refuses one for another gateway (ErrNotForUs) or past its
// expiry at now (ErrExpired). With ErrExpired the command is returned
// too (it verified), so the receiver can answer it by id.
func OpenCommand(msg []byte, central ed25519.PublicKey, gateway string, now time.Time) (Command, error) {
	body, err := openDown(msg, central)
	if err != nil {
		return Command{}, err
	}
	var c Command
	if err := decodeDown(body, commandShape, TypeCommand, &c); err != nil {
		return Command{}, err
	}
	switch {
	case c.Type != TypeCommand || c.ID == "" || c.Kind == "" || c.Gateway == "" || c.Expires.IsZero():
		return Command{}, fmt.Errorf("%w: command needs type %q, id, kind, gateway and expires", ErrMalformed, TypeCommand)
	case c.Gateway != gateway:
		return Command{}, fmt.Errorf("%w: command %s is for %q", ErrNotForUs, c.ID, c.Gateway)
	case !now.Before(c.Expires):
		return c, fmt.Errorf("%w: command %s expired at %s", ErrExpired, c.ID, c.Expires.Format(time.RFC3339))
	}
	return c, nil
}

// LegacyAck is the unsigned v1 ack ({"v":1,"gateway":…,"seq":…}) that edges
// built before signed acks understand. Central sends it beside the signed
// ack only to gateways that still send v1 batches, during an upgrade; edges
// of this version ignore it (it is not signed).
func LegacyAck(gateway string, seq uint64) []byte {
	b, _ := json.Marshal(struct {
		V       int    `json:"v"`
		Gateway string `json:"gateway"`
		Seq     uint64 `json:"seq"`
	}{1, gateway, seq})
	return b
}
