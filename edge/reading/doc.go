// Package reading is the versioned edge→central wire contract. The edge
// publishes signed batches of readings and events; central verifies the
// gateway signature over the exact bytes received, then decodes them with
// Decode. It imports only the standard library, because both sides build it.
//
// # Envelope
//
// A message on parkgrid/v1/<site>/up/batch is a JSON object
//
//	{"gateway":"<id>","body":"<base64 of the batch JSON>","sig":"<base64 Ed25519 signature over the body bytes>"}
//
// The body travels as the exact bytes that were signed and is verified before
// it is parsed (Open does both in that order).
//
// # Versions
//
// CurrentVersion is bumped, with a line in its comment, whenever Batch changes
// meaning. Central accepts every version from MinVersion to CurrentVersion and
// rejects others with ErrVersion. Unknown fields are tolerated (additive
// changes need no bump). testdata/ keeps one golden file per version.
package reading
