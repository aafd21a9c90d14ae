// Package sessionrun moves central's charging sessions on what the edge
// reports. The edge stores a session's signed begin snapshot when the car
// is plugged in after central's authorisation, and its end snapshot when
// the session stops (the car leaves, central's stop, or the energy cap the
// edge enforces on its own, with or without uplink); ingest stores both
// with the session's id. Runner polls: every Interval it lists the
// sessions that wait on the edge (authorized, charging, stopping) and, from
// their stored snapshots,
//
//	begin snapshot stored            authorized → charging
//	end snapshot stored              charging → stopping → completed → (billed)
//
// Completion (central/session's Complete) measures, prices and bills the
// session from the signed snapshots; a session whose snapshots are missing
// or do not verify is flagged for review there, never billed
// automatically. An end without a begin still moves the session on, so it
// is completed with the begin-missing flag and shown, not left running.
//
// Polling the store makes the runner correct with any number of replicas
// and across restarts of central and of the edge: the state is in the
// stores, and a move is a versioned update (session.ErrConflict: another
// replica moved it first, it is read again at the next pass).
//
// # What is flagged, not moved
//
// A session that waits longer than StaleAfter for its next snapshot (an
// authorised point where no car came, an edge offline for long, a car
// still charging) is reported by Pass as stale and logged, so the operator
// sees it; money is not moved for it here (the hold expiry job decides).
package sessionrun
