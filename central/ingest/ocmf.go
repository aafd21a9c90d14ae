package ingest

import (
	"fmt"
	"sync"

	"github.com/parkgrid/parkgrid/central/ocmf"
)

// OCMF is the SnapshotVerifier built on central/ocmf: it parses the record,
// reads the meter's key for the record's algorithm (cached) and verifies the
// signature over the exact payload bytes.
type OCMF struct {
	mu   sync.Mutex // protects keys
	keys map[[2]string]ocmf.PublicKey
}

var _ SnapshotVerifier = (*OCMF)(nil)

// NewOCMF returns a verifier with an empty key cache.
func NewOCMF() *OCMF { return &OCMF{keys: make(map[[2]string]ocmf.PublicKey)} }

// VerifySnapshot implements SnapshotVerifier.
func (v *OCMF) VerifySnapshot(record, meterPubKey string) error {
	rec, err := ocmf.Parse(record)
	if err != nil {
		return fmt.Errorf("parse OCMF: %w", err)
	}
	k := [2]string{meterPubKey, rec.Signature.SA}
	v.mu.Lock()
	pub, ok := v.keys[k]
	v.mu.Unlock()
	if !ok {
		pub, err = ocmf.ParsePublicKey(meterPubKey, rec.Signature.SA)
		if err != nil {
			return fmt.Errorf("meter key: %w", err)
		}
		v.mu.Lock()
		if len(v.keys) >= maxCached {
			clear(v.keys)
		}
		v.keys[k] = pub
		v.mu.Unlock()
	}
	return ocmf.Verify(rec, pub)
}
