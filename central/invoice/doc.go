// Package invoice issues invoices: gap-free numbers per operator, allocated
// in the same database transaction as the caller's completion write, and
// the receipt a driver gets (seller, date, charge point, start and end,
// energy, the price breakdown with VAT, and the signed meter data), which
// invoice/receiptpdf renders as PDF.
//
// # The numbering guarantee
//
// For each operator, the committed invoices carry the numbers 1, 2, 3, …
// with no gap and no duplicate, whatever the number of central replicas
// issuing at once on one database, and whatever transactions roll back.
//
// It holds because the number is taken from a counter row per operator,
// invoice_counters(operator, last_number), incremented with one
//
//	INSERT INTO invoice_counters … VALUES ($1, 1)
//	ON CONFLICT (operator) DO UPDATE SET last_number = invoice_counters.last_number + 1
//	RETURNING last_number
//
// inside the caller's transaction. On PostgreSQL the row stays locked until
// that transaction ends: a concurrent issuer for the same operator waits,
// and then reads the committed value (READ COMMITTED re-evaluates the
// update on the newest row version), or the old one again if the first
// transaction rolled back, so a rollback never burns a number. The first
// invoice of an operator races through ON CONFLICT the same way (the
// second insert waits for the first and then updates). On SQLite every
// write transaction holds the database's write lock (BEGIN IMMEDIATE), so
// issuers are serialised outright. The invoice row is inserted in the same
// transaction, with (operator, number) as its primary key as the last line
// of defence, and a session can be invoiced once (UNIQUE session):
// ErrAlreadyIssued.
//
// The lock is held from the allocation to the commit, so callers allocate
// last: Complete runs the caller's completion write first, then Issue, then
// commits. Issuing is therefore serial per operator (one commit at a time),
// and parallel across operators. Under REPEATABLE READ or SERIALIZABLE a
// concurrent issuer gets a serialization failure instead of waiting; Issue
// is meant for PostgreSQL's default READ COMMITTED.
//
// The proof is the test: 100 concurrent completions through two separate
// connection pools (two replicas) get exactly 1..100, and a completion that
// rolls back leaves no gap (invoice/postgres TestNumbersGapFree…,
// invoice/sqlite the same).
//
// # Schema
//
// The tables are this package's own migration set
// (migrations/<dialect>/NNNN_name.sql, tracked in invoice_schema_migrations),
// so invoicing can be deployed and tested without touching the ingest
// schema of central/store:
//
//	invoice_counters  operator → last issued number
//	invoices          (operator, number) → session, issue time, totals,
//	                  currency, the receipt as JSON; UNIQUE session
package invoice
