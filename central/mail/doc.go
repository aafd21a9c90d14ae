// Package mail e-mails receipts to drivers: it builds the MIME message
// (a text part and attachments: the receipt PDF, the signed meter data),
// keeps it in an outbox table, and sends it over SMTP with STARTTLS or
// implicit TLS and authentication from config.
//
// # Delivery guarantee
//
// Enqueue stores the complete message bytes under a caller-chosen id
// (e.g. "receipt/<operator>/<number>"); enqueueing the same id again is a
// no-op, so a retried invoice run never queues a receipt twice. Deliver,
// run by a job (central/jobs), leases the due messages, sends each, and
// marks it sent; a message marked sent is never selected again. A failed
// send is retried with exponential backoff (Backoff) until MaxAttempts,
// then left "dead" for an operator to look at; a permanent SMTP refusal
// (5xx) goes dead at once. The lease keeps two replicas from sending one
// message at the same time even without the jobs' lock. The one window
// left is a crash after the server accepted the message and before the
// outbox recorded it: SMTP has no idempotency key, so that message would
// be sent again (at-least-once; the Message-ID header is the same, so mail
// clients can fold the two).
//
// # Secrets
//
// The SMTP password is read from a file or an environment variable named
// in the config, never from the config itself, and never logged:
// SMTPConfig's LogValue leaves it out, and errors never carry it.
// Authentication is refused over an unencrypted connection.
//
// # Schema
//
// The outbox is this package's own migration set
// (migrations/<dialect>/NNNN_name.sql, tracked in mail_schema_migrations),
// like central/invoice's, applied by mail/postgres.Migrate and
// mail/sqlite.Migrate.
package mail
