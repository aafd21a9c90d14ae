// Package reading is the versioned edge↔central wire contract. The edge
// publishes signed batches of readings and events; central verifies the
// gateway signature over the exact bytes received, then decodes them with
// Decode, and answers with acks signed by its own key (down.go). It imports
// only the standard library, because both sides build it. docs/contract.md
// tells the whole contract.
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
// # Identity: gateway, epoch, seq
//
// A batch is named by (gateway, epoch, seq). The epoch is a random id the
// edge's outbox makes when it is created (EpochLen hex digits; "" for v1
// batches and outboxes older than epochs), so a wiped or replaced outbox is
// a new epoch whose seqs start at 1 again without meeting the old ones.
// Within an epoch seqs are gap-free and never reused: a record the edge
// cannot deliver is replaced by a gap record (Batch.Gap) that names the lost
// seqs and why, and central counts them as accounted for.
//
// # Versions and strictness
//
// CurrentVersion is bumped, with a line in its comment, whenever Batch
// changes. Central accepts every version from MinVersion to CurrentVersion
// and rejects others with ErrVersion. Signed bodies are decoded strictly:
// unknown fields, duplicate keys, keys differing only in case and trailing
// data are refused (ErrMalformed), because a signed body must have one
// meaning. This is where the house rule "unknown fields are tolerated" does
// not apply: a field is added with a new version, never silently.
// testdata/ keeps golden files per version.
//
// # Down messages
//
// Acks ({v, type:"ack", gateway, epoch, seq}) and commands ({v, type:"cmd",
// id, gateway, kind, issued, expires, args}) are wrapped as
// {"body":"<base64>","sig":"<base64>"} and signed by central's Ed25519 key;
// OpenAck and OpenCommand verify before they decode.
//
// # Replies
//
// The edge answers a command on parkgrid/v1/<site>/up/reply with a Reply
// ({v, type:"reply", id, site, gateway, at, ok, error, result}) in the
// batch envelope, signed by the gateway key (reply.go); OpenReply verifies
// it with the gateway's enrolled key before it decodes it strictly. The
// command kinds and their arguments are in reply.go too.
package reading
