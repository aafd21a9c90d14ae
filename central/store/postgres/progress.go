package postgres

import "github.com/parkgrid/parkgrid/central/store"

// pgtx is store.Tx over a transaction or the pool, for the shared progress
// code (store/progress.go); saveTx's own variable is called tx.
type pgtx = tx

var _ store.Tx = pgtx{}
