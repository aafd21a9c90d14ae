// Package sessiontest holds what tests of central/session share: Run, the
// conformance suite every session.Store passes (PostgreSQL, SQLite and
// Memory); Memory, an in-memory store; hand-written fakes of the service's
// other dependencies (Snapshots, Issuers); and Meter, which signs OCMF
// records like an Eichrecht meter.
package sessiontest
