// Package uplink carries the edge's outbox to central over MQTT, and cuts
// the edge's readings into signed batches for the outbox.
//
// # Signer and Batcher
//
// A Signer seals records for one gateway and outbox epoch: batches of
// readings and events, and gap records (outbox holes declared lost). Its
// Store appends one record and returns once it is durable; the edge stores
// OCMF snapshots and session events that way, never holding them in memory.
//
// A Batcher collects plain readings and events (Add, AddEvent; never
// blocking the caller) and cuts a batch every MaxReadings items or every
// MaxDelay (1 s by default), whichever comes first. It seals the batch
// inside outbox.Append, where the seq is known, so the exact signed envelope
// is what the outbox stores and what the uplink later publishes, unchanged,
// as often as needed. While the outbox refuses batches (disk full) it keeps
// them in memory, bounded: plain readings beyond MaxBuffered are dropped
// oldest first and counted; OCMF snapshots and events are never dropped.
// Failures are logged at most once per LogEvery, with counts.
//
// # Uplink
//
// One connection at a time, owned by Run: connect (TLS and mTLS optional),
// subscribe to the ack topic, publish the retained status "online" (the LWT
// publishes "offline"), then send. On a lost connection Run reconnects with
// exponential backoff (MinBackoff doubling to MaxBackoff, 3 s by default and
// at most 10 s, each delay jittered to 50–100 %) using a fresh client, and sends again from the
// first unacknowledged seq: redelivery is harmless, central stores
// (gateway, epoch, seq) once.
//
// Sending keeps a sliding window of Window outstanding QoS 1 publishes (the
// oldest PUBACK frees a slot; waiting for whole blocks stalls paho, see
// FIELD.md). Gap records go first: central cannot acknowledge past a hole
// before its gap record arrives. At each connect the records then pending are
// the backlog; the ones appended after it are live. When both are waiting,
// the sender alternates between them, so a day of backlog drains at full
// speed while fresh data still reaches central within a window's round trip.
// The backlog runs at most MaxAhead records ahead of central's ack; live data
// is not held back by that limit.
//
// Acks (reading.Ack on parkgrid/v1/<site>/down/ack: the highest contiguous
// seq central holds of the gateway's epoch) move the outbox's acked head,
// which deletes data, so an ack counts only when it is signed by central's
// key (Config.CentralKey), names this gateway and this outbox's epoch, and
// does not go beyond the highest seq this uplink published. Others are
// counted (Status.AcksIgnored), logged at most every 10 s and ignored. If
// sent records stay unacknowledged for AckTimeout, the sender goes back to
// the first unacknowledged seq and sends again.
//
// Status says whether the uplink is connected, when an ack last moved the
// outbox and how many acks were ignored, for the edge's metrics and alarms.
package uplink
