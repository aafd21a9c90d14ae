package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// SignP256 signs payload, a JSON object, with an ECDSA P-256 key and returns
// the record OCMF|<payload>|{"SA":"ECDSA-secp256r1-SHA256","SD":"<hex DER>"}.
// The payload bytes are used as given, never re-serialised. It is meant for
// tests and the meter simulator; real records are signed by the meter.
func SignP256(payload []byte, key *ecdsa.PrivateKey) (string, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return "", fmt.Errorf("sign OCMF payload: %w: key is not an ECDSA P-256 key", ErrUnsupportedAlgorithm)
	}
	if end, err := objectEnd(payload, 0); err != nil || end != len(payload) {
		return "", fmt.Errorf("sign OCMF payload: %w: payload must be exactly one JSON object", ErrMalformed)
	}
	digest := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign OCMF payload: %w", err)
	}
	var b strings.Builder
	b.WriteString(header)
	b.Write(payload)
	b.WriteString(`|{"SA":"ECDSA-secp256r1-SHA256","SD":"`)
	b.WriteString(strings.ToUpper(hex.EncodeToString(sig)))
	b.WriteString(`"}`)
	return b.String(), nil
}
