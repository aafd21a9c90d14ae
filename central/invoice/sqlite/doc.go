// Package sqlite issues invoices on SQLite (modernc.org/sqlite through
// database/sql): it applies the invoice migrations and allocates gap-free
// numbers inside the caller's transaction, as package invoice describes.
//
// SQLite serialises writers on the database's write lock. Transactions
// that issue must start as writers (BEGIN IMMEDIATE: open the database
// with _txlock=immediate, as central/store/sqlite does), so two issuers
// never both read the counter and then fight over the upgrade.
package sqlite
