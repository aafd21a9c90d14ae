//go:build race

package e2e

// raceEnabled: the race detector slows the in-process central (the pure-Go
// SQLite above all) about tenfold, so the outage test makes a smaller
// backlog by default.
const raceEnabled = true
