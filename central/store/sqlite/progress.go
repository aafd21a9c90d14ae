package sqlite

import "github.com/parkgrid/parkgrid/central/store"

// sqltx is store.Tx over a transaction or a pool, for the shared progress
// code (store/progress.go); saveTx's own variable is called tx.
type sqltx = tx

var _ store.Tx = sqltx{}
