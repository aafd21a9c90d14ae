package ocmf

import "errors"

// Sentinel errors. Callers branch with errors.Is; the wrapping error names the
// step and the detail.
var (
	// ErrMalformed: the record, its signature section, its SD or a public key
	// is not in a form this package can read.
	ErrMalformed = errors.New("malformed")

	// ErrUnsupportedAlgorithm: SA names no algorithm of OCMF table 22 that
	// this package implements. Such a record is refused by name, never checked
	// as another algorithm.
	ErrUnsupportedAlgorithm = errors.New("unsupported signature algorithm")

	// ErrCurveMismatch: the public key is on another curve than SA names.
	ErrCurveMismatch = errors.New("public key curve does not match SA")

	// ErrBadPublicKey: the key decodes but is not a valid point of its curve.
	ErrBadPublicKey = errors.New("invalid public key")

	// ErrSignatureMissing: the signature section has no SD.
	ErrSignatureMissing = errors.New("invalid: no signature data (SD)")

	// ErrBadSignature: the signature is well formed but does not verify over
	// the payload bytes with the given key: the payload was changed, or it was
	// signed by another key.
	ErrBadSignature = errors.New("invalid: signature does not match payload")

	// ErrNotEnergy: a reading's unit (RU) is not an energy unit.
	ErrNotEnergy = errors.New("not an energy unit")

	// ErrInexact: a value cannot be represented in the requested integer unit
	// without rounding, or overflows int64.
	ErrInexact = errors.New("not representable exactly")
)
