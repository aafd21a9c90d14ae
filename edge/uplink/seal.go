package uplink

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Signer seals the records of one gateway and outbox epoch: batches of
// readings and events, and gap records. What it returns is the exact signed
// envelope the outbox stores and the uplink publishes.
type Signer struct {
	Site    string
	Gateway string
	Epoch   string // the outbox's epoch (outbox.Outbox.Epoch)
	Key     ed25519.PrivateKey
	Now     func() time.Time // the batch's "sent" time; nil: time.Now
}

func (s Signer) check() error {
	var errs []error
	if s.Site == "" || s.Gateway == "" {
		errs = append(errs, fmt.Errorf("signer site %q / gateway %q: both required", s.Site, s.Gateway))
	}
	if len(s.Key) != ed25519.PrivateKeySize {
		errs = append(errs, fmt.Errorf("signer key: %d bytes, want an Ed25519 private key", len(s.Key)))
	}
	if !reading.ValidEpoch(s.Epoch) {
		errs = append(errs, fmt.Errorf("signer epoch %q: not an epoch", s.Epoch))
	}
	return errors.Join(errs...)
}

func (s Signer) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

// Batch seals readings and events as batch seq.
func (s Signer) Batch(seq uint64, rs []reading.Reading, es []reading.Event) ([]byte, error) {
	return reading.Seal(reading.Batch{
		Version: reading.CurrentVersion, Site: s.Site, Gateway: s.Gateway, Epoch: s.Epoch,
		Seq: seq, Sent: s.now(), Readings: rs, Events: es,
	}, s.Key)
}

// Gap seals the gap record seq declaring the outbox hole h lost.
func (s Signer) Gap(seq uint64, h outbox.Hole) ([]byte, error) {
	detail := h.Why
	if h.Segment != "" {
		detail = fmt.Sprintf("%s at offset %d of segment %s", h.Why, h.Offset, h.Segment)
	}
	reason := reading.GapCorrupt
	if h.Reason == outbox.HoleMissing {
		reason = reading.GapMissing
	}
	return reading.Seal(reading.Batch{
		Version: reading.CurrentVersion, Site: s.Site, Gateway: s.Gateway, Epoch: s.Epoch,
		Seq: seq, Sent: s.now(), Gap: &reading.Gap{From: h.From, To: h.To, Reason: reason, Detail: detail},
	}, s.Key)
}

// Store appends readings and events as one signed record and returns once
// it is durable: how the edge stores what must not wait in memory (OCMF
// snapshots, session events).
func (s Signer) Store(ctx context.Context, out Appender, rs []reading.Reading, es []reading.Event) (uint64, error) {
	return out.Append(ctx, func(seq uint64) ([]byte, error) { return s.Batch(seq, rs, es) })
}
