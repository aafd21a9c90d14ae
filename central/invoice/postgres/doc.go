// Package postgres issues invoices on PostgreSQL (pgx/v5): it applies the
// invoice migrations and allocates gap-free numbers inside the caller's
// transaction, as package invoice describes.
package postgres
