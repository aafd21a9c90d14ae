// Package postgres is the session.Store on PostgreSQL (pgx/v5): it applies
// the invoice and session migrations, checks each write against the
// session's version in the UPDATE's WHERE clause, and issues invoices with
// central/invoice/postgres.Complete in the completion's transaction.
package postgres
