// Package catalog is what central sells and to whom: operators, their
// sites and charge points, their tariffs (versioned), the operator API
// tokens (hashed), the drivers' session starts (idempotency by a
// client-chosen id, the per-session driver token, hashed) and the log of
// handled payment webhook events.
//
// Every read an operator can cause is scoped by operator in the query
// itself (WHERE operator = ?), so an operator's token can never see or
// change another operator's rows, whatever id it names.
//
// Tariffs are versioned: PutTariff stores a new version and never changes
// an old one; a session stores the whole tariff it started with
// (central/session), so a running session keeps its price.
//
// Stores: central/catalog/sqlstore on PostgreSQL and SQLite (its own
// migration set, tracked in catalog_schema_migrations); both pass the
// conformance suite in central/catalog/catalogtest.
package catalog
