// Package store is central's persistence contract: the Store interface that
// ingest (and later sessions, invoices, reports) writes through, the types it
// speaks, and the versioned SQL migrations of both implementations.
//
// Implementations live beside it, one per technology: store/postgres (pgx,
// production) and store/sqlite (modernc.org/sqlite, the default for `make
// run`). Both pass the one conformance suite in store/storetest.
//
// # Durability and idempotency
//
// A batch is identified by (gateway, epoch, seq): the epoch is the random id
// of the edge outbox that wrote it (contract v2; "" for v1 batches), so a
// wiped or replaced outbox starts a new stream at seq 1 that never meets the
// old one. SaveBatches writes a group of batches in one transaction: either
// every new batch of the group, with its readings, OCMF snapshots and
// events, is durable when it returns nil, or none is. A batch whose key is
// already stored with the same body bytes (SHA-256) is a Duplicate and
// writes nothing; with different bytes it is a Conflict and writes nothing.
// Central acknowledges a seq to the edge only after the commit, so a crash
// between receive and commit loses nothing (the broker or the edge sends it
// again) and a redelivery doubles nothing.
//
// HighestContiguousSeq is the largest n such that every seq 1..n of the
// gateway's epoch is stored or declared lost by a stored gap record (a batch
// with Gap set: the edge could not deliver those records and says so, signed).
// It is kept in gateway_seq and advanced in the same transaction as the
// batches (store.AdvanceTx), under a row lock per stream, so replicas that
// store the same stream's batches concurrently never move it backwards.
// gateway_seq also counts, per stream, the batches held, the seqs declared
// lost and when the stream was first and last seen (Progress); gaps keeps
// the gap records (Gaps).
//
// # Tables (migrations/<dialect>/0001_init.sql)
//
//	schema_migrations  version, name, applied_at: one row per applied file
//	gateways           id, site, Ed25519 public key: the enrolled edge gateways
//	meter_keys         (site, device) → the Eichrecht meter's public key (OCMF)
//	batches            (gateway, epoch, seq) → site, version, times, exact
//	                   signed body, its SHA-256, the gateway's signature, counts
//	readings           (gateway, epoch, seq, idx) → one reading.Reading without OCMF
//	snapshots          (gateway, epoch, seq, idx) → OCMF string, meter, session, verified
//	events             (gateway, epoch, seq, idx) → one reading.Event
//	gateway_seq        (gateway, epoch) → highest contiguous seq, highest seq,
//	                   batches held, seqs declared lost, gap records, first and
//	                   last seen (0003_epochs)
//	gaps               (gateway, epoch, gap record seq) → the seqs it declares
//	                   lost, reason, detail, when received (0003_epochs)
//	rejections         every refused message: reason code, detail, size, hash,
//	                   the message (up to MaxRejectionHead); pruned by
//	                   PruneRejections (age, total size)
//
// Migration 0002 (issue 13, keys.go and evidence.go) adds:
//
//	gateways.revoked_at  a revoked gateway is refused until enrolled again
//	gateway_keys         every key of every gateway: valid from/to, revoked;
//	                     a key is unique across all gateways for ever
//	meter_key_history    every key of every meter, with a fingerprint of the
//	                     key's bytes, unique across meters
//	enrolment_audit      every enrolment change: when, who, what, which key
//	evidence             (site, meter, page T<n>) → the accepted OCMF record's
//	                     hash, session, transaction, register, time: what
//	                     evidence binding compares new snapshots with
//
// Times are stored with microsecond precision (PostgreSQL's), in UTC.
package store
