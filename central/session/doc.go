// Package session is central's charging-session state machine: it starts a
// session with a payment hold, follows it through charging, bills it from
// the meter's signed OCMF snapshots, captures exactly the price and issues
// the invoice, and it is the only place where money moves for a session.
//
// # States
//
//	created ──► authorized ──► charging ──► stopping ──► completed ──► invoiced
//	   │            │              │            │
//	   ├─► cancelled◄┘             │            │
//	   └────────────┴──────────────┴────────────┴──► failed
//
// Move is the only way a state changes: it refuses any other move with
// ErrIllegalTransition naming both states. Every move is stored with its
// cause and time (passed in, never read from a clock) in an append-only
// transition log (the databases refuse UPDATE and DELETE on it).
//
// # Concurrency
//
// A session row carries a version, 1 at creation and +1 per stored
// change. A write names the new version and succeeds only if the stored
// one is the version before (UPDATE … WHERE version = n−1); otherwise it
// stores nothing and returns ErrConflict. Two replicas moving one session
// at once: one wins, the other reads again and decides again.
//
// # Money
//
// Start stores the session (created) before asking for the hold, with
// idempotency key payment.Key(id, "authorize"); the energy cap is the
// largest Wh whose price the hold covers (EnergyCapWh). Complete measures
// the session from its snapshots (Measure: end − begin of the signed
// registers, never a sum of samples), prices it with central/tariff and
// stores it as completed with its Billing; sessions with review flags stop
// there. Bill captures exactly the price, key payment.Key(id, "capture"),
// and then moves completed → invoiced and issues the invoice number in one
// transaction (central/invoice's Complete). Failed and cancelled sessions
// are stored first, then their hold is cancelled (key
// payment.Key(id, "cancel")) and the release recorded.
//
// Every step that moves money is preceded by a stored intent and is
// idempotent, so a crash anywhere is finished by Reconcile, which lists
// the sessions with Todo set: created (find the hold again by its key,
// confirm it), completed and not flagged (capture again with the same key,
// which returns the first capture, then invoice), failed or cancelled with
// the hold not yet released. The Crash… constants name the points tests
// kill central at. A capture can therefore never happen twice, and the
// invoice's UNIQUE session and the version check stop a second invoice.
//
// # Schema
//
// The session tables are this package's own migration set
// (migrations/<dialect>/NNNN_name.sql, tracked in session_schema_migrations),
// like central/invoice's and for the same reason: sessions can be deployed,
// migrated and tested without touching the ingest schema of central/store,
// whose owner changes it at its own pace. The session store migrates the
// invoice tables first, because invoices are issued in the same
// transaction and joined for the invoice number.
//
//	sessions             id → operator, state, version, todo, times, the
//	                     whole Session as JSON
//	session_transitions  (session, version) → from, to, cause, at; append only
//
// docs/sessions.md describes the transitions, the billing rule and the
// review flags for operators.
package session
