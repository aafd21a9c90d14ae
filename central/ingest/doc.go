// Package ingest takes signed reading batches from the edges off MQTT,
// verifies them, stores them idempotently and acknowledges them.
//
// # Flow
//
// An Ingester subscribes to reading.SharedBatchTopic
// ($share/central/parkgrid/v1/+/up/batch) at QoS 1 with a persistent session
// (clean session false) and automatic MQTT acknowledgement turned off. Each
// message goes through, in this order:
//
//  1. the topic must be parkgrid/v1/<site>/up/batch;
//  2. reading.OpenEnvelope: size limit, the gateway's enrolled Ed25519 key,
//     the signature over the exact body bytes, and only then decoding,
//     strictly (the version first; then no unknown field, no key twice, none
//     differing only in case, nothing after the body: one signed body has
//     one meaning), seq ≥ 1 and, in v2, a valid epoch and gap record;
//  3. the batch's site must equal the topic's and the gateway's enrolled
//     site;
//  4. every OCMF snapshot (a reading with OCMF set) must verify against the
//     enrolled public key of its meter (site, device), or an earlier key of
//     the meter for a record made before that key was replaced;
//  5. every snapshot must be bound to its session and consistent with the
//     meter's other records (binding.go): its signed identification is the
//     claimed session, one record per meter page, one begin and one end
//     per session, registers never decreasing.
//
// The gateway's key in step 2 is its current key, or an earlier unrevoked
// one for a batch sent before that key was retired (keys.go); a revoked
// gateway's batches are refused.
//
// Verification runs on a pool of workers; results are consumed in arrival
// order. The committer groups verified batches (up to MaxGroup batches or
// MaxGroupMiB of messages, or what arrives within Linger) and stores them
// with one SaveBatches transaction.
// After the commit it records the rejections, sends the MQTT PUBACKs in
// arrival order, and publishes on reading.AckTopic(site) one reading.Ack per
// gateway and outbox epoch of the group, carrying that stream's highest
// contiguous seq (stored, or declared lost by a stored gap record) and
// signed with central's ack key (Config.AckKey): edges ignore unsigned acks.
// Nothing is acknowledged before the commit: when central dies mid-group the
// broker redelivers the un-acked messages to the session, and the store's
// idempotency on (gateway, epoch, seq) drops what had been stored. (A rejection may
// therefore be logged twice; a batch is never stored twice.) A store that
// fails is retried with backoff and nothing is acked meanwhile: ingest
// stalls, it does not drop.
//
// The MQTT handler only queues (paho's router must not block: PUBACKs for
// our own ack publishes arrive on the same path), and the committer never
// waits for the broker: a separate goroutine confirms the ack publishes.
//
// # Policy
//
// A batch is stored whole or not at all. A batch with an OCMF snapshot that
// does not verify is rejected (ocmf_invalid): the gateway signed tampered or
// foreign meter data, and storing the rest would hide it. A snapshot from a
// meter with no enrolled key is rejected too (unknown_meter_key), rather than
// stored as unverified: the edge keeps the batch in its outbox and sends it
// again, so once an operator enrols the key (config meters, or the gateway's
// enrolment) the batch is stored, verified, and nothing was lost. A rejected
// seq is never acked, so that gateway's ack stops advancing at the gap: a
// visible stall (metric and rejection log), which is what tampered meter
// data deserves.
//
// A redelivered batch (same gateway, epoch, seq and bytes) is not stored
// again but acked again. The same (gateway, epoch, seq) with other bytes is
// rejected (replay_conflict) and counted; the first stored version stays. A
// batch after a gap is stored; the ack carries the highest contiguous seq,
// so the gap's batch keeps being resent until it arrives, or until the
// edge's signed gap record declares it lost. A new outbox epoch (the edge's
// outbox was wiped or replaced) is a new stream from seq 1, stored beside
// the old one: never a replay.
//
// # Completeness
//
// ProgressHandler (GET /api/v1/ingest/gateways) and ProgressCollector
// (/metrics) show, per gateway and epoch, what central holds, what the edge
// declared lost, what it still waits for, and when it last heard from the
// gateway, read from the store (the truth every replica shares).
//
// # Rejection reasons
//
// Reasons label the rejected_total counter and the rejection log. They are
// append-only: never rename or reuse one.
//
//	oversized          message larger than reading.MaxBodyBytes allows
//	malformed          not an envelope or not a batch (JSON, fields, seq)
//	version            batch version outside reading.MinVersion..CurrentVersion
//	topic              topic is not parkgrid/v1/<site>/up/batch
//	unknown_gateway    no enrolled gateway of that id
//	signature          the gateway signature does not verify
//	site_mismatch      batch site differs from the topic's or the enrolment's
//	unknown_meter_key  an OCMF snapshot from a meter with no enrolled key
//	ocmf_invalid       an OCMF snapshot that does not parse or verify
//	replay_conflict    the (gateway, seq) is stored with different bytes
//	revoked            the gateway (or every key of it) is revoked
//	session_mismatch   a snapshot's signed identification is not its session
//	evidence_conflict  a meter page, or a session's begin or end, stored with other content
//	evidence_order     a register decreasing, or a session ending before it began
//
// # Bounds
//
// Messages received and not yet committed take at most Config.QueueBytes
// (the MQTT handler waits beyond, so the broker holds the rest); rejections
// are logged at most 10 times a minute per reason, then summed up; every
// rejection is in the store's rejection log (bounds.go).
package ingest
