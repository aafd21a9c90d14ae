// Package invoicetest is the suite both invoice issuers (PostgreSQL and
// SQLite) pass: gap-free numbers under concurrent completions from two
// replicas, rollbacks that give their number back, one invoice per
// session, independent operators, receipts stored intact.
package invoicetest
