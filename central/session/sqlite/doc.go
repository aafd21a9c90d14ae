// Package sqlite is the session.Store on SQLite (modernc.org/sqlite, no
// cgo): it applies the invoice and session migrations, checks each write
// against the session's version in the UPDATE's WHERE clause, and issues
// invoices with central/invoice/sqlite.Complete in the completion's
// transaction. Open the database as central/store/sqlite does (WAL, busy
// timeout, _txlock=immediate), so every write transaction takes the write
// lock at BEGIN and concurrent writers queue instead of failing.
package sqlite
