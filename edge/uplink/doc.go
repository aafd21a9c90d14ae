// Package uplink carries the edge's outbox to central over MQTT, and cuts
// the edge's readings into signed batches for the outbox.
//
// # Batcher
//
// A Batcher collects readings and events (Add, AddEvent; never blocking the
// caller) and cuts a batch every MaxReadings items or every MaxDelay,
// whichever comes first. It seals the batch with the gateway key inside
// outbox.Append, where the seq is known, so the exact signed envelope is
// what the outbox stores and what the uplink later publishes, unchanged, as
// often as needed.
//
// # Uplink
//
// One connection at a time, owned by Run: connect (TLS and mTLS optional),
// subscribe to the ack topic, publish the retained status "online" (the LWT
// publishes "offline"), then send. On a lost connection Run reconnects with
// exponential backoff (MinBackoff doubling to MaxBackoff) using a fresh
// client, and sends again from the first unacknowledged seq: redelivery is
// harmless, central stores (gateway, seq) once.
//
// Sending keeps a sliding window of Window outstanding QoS 1 publishes (the
// oldest PUBACK frees a slot; waiting for whole blocks stalls paho, see
// FIELD.md). At each connect the records then pending are the backlog; the
// ones appended after it are live. When both are waiting, the sender
// alternates between them, so a day of backlog drains at full speed while
// fresh data still reaches central within a window's round trip. The backlog
// runs at most MaxAhead records ahead of central's ack; live data is not
// held back by that limit.
//
// Acks ({v, gateway, seq} on parkgrid/v1/<site>/down/ack: highest
// contiguous seq stored at central) move the outbox head. Malformed acks,
// acks for another gateway and acks beyond what was sent are logged and
// ignored. If sent records stay unacknowledged for AckTimeout, the sender
// goes back to the first unacknowledged seq and sends again.
package uplink
