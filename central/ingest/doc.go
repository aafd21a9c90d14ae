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
//  2. reading.Open: size limit, the gateway's enrolled Ed25519 key, the
//     signature over the exact body bytes, and only then decoding (which
//     checks the version and seq ≥ 1);
//  3. the batch's site must equal the topic's and the gateway's enrolled
//     site;
//  4. every OCMF snapshot (a reading with OCMF set) must verify against the
//     enrolled public key of its meter (site, device).
//
// Verification runs on a pool of workers; results are consumed in arrival
// order. The committer groups verified batches (up to MaxGroup batches or
// MaxGroupMiB of messages, or what arrives within Linger) and stores them
// with one SaveBatches transaction.
// After the commit it records the rejections, sends the MQTT PUBACKs in
// arrival order, and publishes on reading.AckTopic(site) one reading.Ack per
// gateway of the group carrying the gateway's highest contiguous stored seq.
// Nothing is acknowledged before the commit: when central dies mid-group the
// broker redelivers the un-acked messages to the session, and the store's
// idempotency on (gateway, seq) drops what had been stored. (A rejection may
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
// A redelivered batch (same gateway, seq and bytes) is not stored again but
// acked again. The same (gateway, seq) with other bytes is rejected
// (replay_conflict) and counted; the first stored version stays. A batch
// after a gap is stored; the ack carries the highest contiguous seq, so the
// gap's batch keeps being resent until it arrives.
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
package ingest
