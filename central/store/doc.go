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
// A batch is identified by (gateway, seq). SaveBatches writes a group of
// batches in one transaction: either every new batch of the group, with its
// readings, OCMF snapshots and events, is durable when it returns nil, or
// none is. A batch whose (gateway, seq) is already stored with the same body
// bytes (SHA-256) is a Duplicate and writes nothing; with different bytes it
// is a Conflict and writes nothing. Central acknowledges a seq to the edge
// only after the commit, so a crash between receive and commit loses nothing
// (the broker or the edge sends it again) and a redelivery doubles nothing.
//
// HighestContiguousSeq is the largest n such that every seq 1..n of the
// gateway is stored. It is kept in gateway_seq and advanced in the same
// transaction as the batches, under a row lock per gateway, so replicas that
// store the same gateway's batches concurrently never move it backwards.
//
// # Tables (migrations/<dialect>/0001_init.sql)
//
//	schema_migrations  version, name, applied_at: one row per applied file
//	gateways           id, site, Ed25519 public key: the enrolled edge gateways
//	meter_keys         (site, device) → the Eichrecht meter's public key (OCMF)
//	batches            (gateway, seq) → site, version, times, exact signed body,
//	                   its SHA-256, the gateway's signature, counts
//	readings           (gateway, seq, idx) → one reading.Reading without OCMF
//	snapshots          (gateway, seq, idx) → OCMF string, meter, session, verified
//	events             (gateway, seq, idx) → one reading.Event
//	gateway_seq        gateway → highest contiguous stored seq
//	rejections         every refused message: reason code, detail, size, hash,
//	                   first bytes
//
// Times are stored with microsecond precision (PostgreSQL's), in UTC.
package store
