package ingest

import (
	"github.com/parkgrid/parkgrid/edge/reading"
)

// open is reading.OpenEnvelope returning the body and the envelope's
// signature: size before parsing, the envelope's fields, the gateway's key,
// the Ed25519 signature over the exact body bytes, and only then the body,
// decoded strictly (no key twice, none differing only in case, no unknown
// field, nothing after it: one signed body has one meaning).
func open(msg []byte, keys reading.KeyLookup) (b reading.Batch, body, sig []byte, err error) {
	b, env, err := reading.OpenEnvelope(msg, keys)
	if err != nil {
		return reading.Batch{}, nil, nil, err
	}
	return b, env.Body, env.Sig, nil
}
