package reading

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Command kinds (Command.Kind) and their arguments (Command.Args). Append
// only: a kind or argument name crosses the wire.
const (
	// KindAuthorise lets a charge point with access "central" charge for
	// one session: args point, session, class, cap_wh, hold_expires.
	KindAuthorise = "authorise"
	// KindStop stops a session: args point, session.
	KindStop = "stop"

	ArgPoint       = "point"
	ArgSession     = "session"
	ArgClass       = "class"        // "eco" or "premium"
	ArgCapWh       = "cap_wh"       // energy cap in Wh, decimal; 0: no cap
	ArgHoldExpires = "hold_expires" // RFC 3339: no car plugged in by then ends the authorisation
)

// Classes a session may have (ArgClass).
const (
	ClassEco     = "eco"
	ClassPremium = "premium"
)

// Authorisation is the decoded arguments of an authorise command.
type Authorisation struct {
	Point       string
	Session     string
	Class       string
	CapWh       int64 // 0: no cap
	HoldExpires time.Time
}

// Args encodes a as command arguments.
func (a Authorisation) Args() map[string]string {
	return map[string]string{
		ArgPoint: a.Point, ArgSession: a.Session, ArgClass: a.Class,
		ArgCapWh: strconv.FormatInt(a.CapWh, 10), ArgHoldExpires: a.HoldExpires.UTC().Format(time.RFC3339Nano),
	}
}

// ParseAuthorisation decodes and checks the arguments of an authorise
// command (ErrMalformed names what is wrong).
func ParseAuthorisation(args map[string]string) (Authorisation, error) {
	a := Authorisation{Point: args[ArgPoint], Session: args[ArgSession], Class: args[ArgClass]}
	if a.Point == "" || a.Session == "" {
		return Authorisation{}, fmt.Errorf("%w: authorise needs %s and %s", ErrMalformed, ArgPoint, ArgSession)
	}
	if a.Class != ClassEco && a.Class != ClassPremium {
		return Authorisation{}, fmt.Errorf("%w: authorise %s %q: want %q or %q", ErrMalformed, ArgClass, a.Class, ClassEco, ClassPremium)
	}
	capWh, err := strconv.ParseInt(args[ArgCapWh], 10, 64)
	if err != nil || capWh < 0 {
		return Authorisation{}, fmt.Errorf("%w: authorise %s %q: want an integer ≥ 0", ErrMalformed, ArgCapWh, args[ArgCapWh])
	}
	a.CapWh = capWh
	if v := args[ArgHoldExpires]; v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return Authorisation{}, fmt.Errorf("%w: authorise %s %q: want RFC 3339", ErrMalformed, ArgHoldExpires, v)
		}
		a.HoldExpires = t
	}
	return a, nil
}

// ReplyVersion is the version of replies this build writes and reads.
//
//   - 1: 2026-12-06: the result of a command, signed by the gateway key.
const ReplyVersion = 1

// TypeReply is a reply's body type.
const TypeReply = "reply"

// Reply is the edge's answer to a Command, published on
// parkgrid/v1/<site>/up/reply in an Envelope signed by the gateway's key
// (like a batch), so central can trust it. ID is the command's. OK false
// carries the reason in Error.
type Reply struct {
	Version int               `json:"v"`
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	Site    string            `json:"site"`
	Gateway string            `json:"gateway"`
	At      time.Time         `json:"at"`
	OK      bool              `json:"ok"`
	Error   string            `json:"error,omitempty"`
	Result  map[string]string `json:"result,omitempty"`
}

var replyShape = object([]string{"v", "type", "id", "site", "gateway", "at", "ok", "error", "result"}, map[string]*shape{
	"result": {free: true},
})

// SealReply encodes r and signs it with the gateway's key.
func SealReply(r Reply, key ed25519.PrivateKey) ([]byte, error) {
	r.Version, r.Type = ReplyVersion, TypeReply
	body, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode reply %s: %w", r.ID, err)
	}
	return SealBody(r.Gateway, body, key)
}

// OpenReply checks the envelope, finds the gateway's key, verifies the
// signature over the exact body bytes and only then decodes the reply
// strictly. The reply's gateway must be the envelope's.
func OpenReply(msg []byte, keys KeyLookup) (Reply, error) {
	if len(msg) > MaxDownBytes*2 {
		return Reply{}, fmt.Errorf("%w: reply of %d bytes", ErrTooLarge, len(msg))
	}
	if _, err := checkStrict(msg, envelopeShape); err != nil {
		return Reply{}, fmt.Errorf("%w: reply envelope: %v", ErrMalformed, err)
	}
	var env Envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return Reply{}, fmt.Errorf("%w: reply envelope: %v", ErrMalformed, err)
	}
	if env.Gateway == "" || len(env.Body) == 0 || len(env.Sig) != ed25519.SignatureSize {
		return Reply{}, fmt.Errorf("%w: reply envelope needs gateway, body and a %d-byte sig", ErrMalformed, ed25519.SignatureSize)
	}
	pub, err := keys(env.Gateway)
	if err != nil {
		return Reply{}, fmt.Errorf("reply from gateway %q: %w", env.Gateway, err)
	}
	if !ed25519.Verify(pub, env.Body, env.Sig) {
		return Reply{}, fmt.Errorf("reply from gateway %q: %w", env.Gateway, ErrSignature)
	}
	ver, ok, err := topLevelInt(env.Body, "v")
	if err != nil {
		return Reply{}, fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	if !ok || ver != ReplyVersion {
		return Reply{}, fmt.Errorf("%w: reply v=%d, this build reads %d", ErrVersion, ver, ReplyVersion)
	}
	if _, err := checkStrict(env.Body, replyShape); err != nil {
		return Reply{}, fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	var r Reply
	if err := json.Unmarshal(env.Body, &r); err != nil {
		return Reply{}, fmt.Errorf("%w: reply: %v", ErrMalformed, err)
	}
	switch {
	case r.Type != TypeReply || r.ID == "" || r.Gateway == "":
		return Reply{}, fmt.Errorf("%w: reply needs type %q, id and gateway", ErrMalformed, TypeReply)
	case r.Gateway != env.Gateway:
		return Reply{}, fmt.Errorf("%w: reply body names gateway %q, envelope %q", ErrMalformed, r.Gateway, env.Gateway)
	case !r.OK && r.Error == "":
		return Reply{}, fmt.Errorf("%w: a failed reply needs an error", ErrMalformed)
	}
	return r, nil
}

// SharedReplyTopic is every site's reply topic, for central.
const SharedReplyTopic = "parkgrid/v1/+/up/reply"
