package ingest

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// open is reading.Open with fewer passes over the message, and it also
// returns the envelope's signature. It makes the same checks in the same
// order with the same errors: size before parsing, the envelope's fields,
// the gateway's key, the Ed25519 signature over the exact body bytes, and
// only then the body (see decodeBody). reading.Open parses the envelope,
// then the body twice (version, then the batch), and ingest used to parse
// the envelope once more for the signature; here the envelope and the body
// are each parsed once.
func open(msg []byte, keys reading.KeyLookup) (b reading.Batch, body, sig []byte, err error) {
	if len(msg) > reading.MaxBodyBytes*2 {
		return reading.Batch{}, nil, nil, fmt.Errorf("%w: %d bytes", reading.ErrTooLarge, len(msg))
	}
	var env reading.Envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		return reading.Batch{}, nil, nil, fmt.Errorf("%w: envelope: %v", reading.ErrMalformed, err)
	}
	if env.Gateway == "" || len(env.Body) == 0 || len(env.Sig) != ed25519.SignatureSize {
		return reading.Batch{}, nil, nil, fmt.Errorf("%w: envelope needs gateway, body and a %d-byte sig", reading.ErrMalformed, ed25519.SignatureSize)
	}
	if len(env.Body) > reading.MaxBodyBytes {
		return reading.Batch{}, nil, nil, fmt.Errorf("%w: body %d bytes, limit %d", reading.ErrTooLarge, len(env.Body), reading.MaxBodyBytes)
	}
	pub, err := keys(env.Gateway)
	if err != nil {
		return reading.Batch{}, nil, nil, fmt.Errorf("gateway %q: %w", env.Gateway, err)
	}
	if !ed25519.Verify(pub, env.Body, env.Sig) {
		return reading.Batch{}, nil, nil, fmt.Errorf("gateway %q: %w", env.Gateway, reading.ErrSignature)
	}
	b, err = decodeBody(env.Body)
	if err != nil {
		return reading.Batch{}, nil, nil, fmt.Errorf("gateway %q: %w", env.Gateway, err)
	}
	if b.Gateway != env.Gateway {
		return reading.Batch{}, nil, nil, fmt.Errorf("%w: body names gateway %q, envelope %q", reading.ErrMalformed, b.Gateway, env.Gateway)
	}
	return b, env.Body, env.Sig, nil
}

// wireBatch is reading.Batch with "v" as a pointer, to tell a missing
// version from zero. The outer field shadows the embedded Batch.Version.
type wireBatch struct {
	V *int `json:"v"`
	reading.Batch
}

// decodeBody is reading.Decode in one parse, for bodies that decode: it
// accepts exactly the bodies reading.Decode accepts, with the same result.
// Whenever anything is wrong (a parse error, a missing or unknown version,
// a missing required field) it returns reading.Decode's own error, so the
// version is still judged first and rejections read the same; that second
// parse happens only for bodies that are rejected anyway, and only after the
// signature verified.
func decodeBody(body []byte) (reading.Batch, error) {
	var w wireBatch
	if json.Unmarshal(body, &w) != nil || !validBody(&w) {
		if _, err := reading.Decode(body); err != nil {
			return reading.Batch{}, err
		}
		// Not reached: reading.Decode refuses everything validBody refuses
		// (TestDecodeBodyMatchesDecode). Refuse it anyway.
		return reading.Batch{}, fmt.Errorf("%w: body does not decode", reading.ErrMalformed)
	}
	b := w.Batch
	b.Version = *w.V
	return b, nil
}

// validBody makes reading.Decode's checks.
func validBody(w *wireBatch) bool {
	if w.V == nil || *w.V < reading.MinVersion || *w.V > reading.CurrentVersion {
		return false
	}
	if w.Site == "" || w.Gateway == "" || w.Seq == 0 {
		return false
	}
	for i := range w.Readings {
		if w.Readings[i].Device == "" || w.Readings[i].Quantity == "" {
			return false
		}
	}
	return true
}
