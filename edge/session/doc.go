// Package session is the edge side of a charging session: it watches each
// metered charge point's IEC 61851 state, opens a session when a car is
// connected and closes it when the car leaves, and takes the Eichrecht
// meter's signed begin and end snapshots (OCMF). Every session event and
// every snapshot is stored durably (Journal.Store: the outbox, fsynced)
// before the session moves on, and the sessions are persisted, so they
// survive restarts, crashes and clean stops.
//
// # Rules
//
//   - A car found connected with no open session gets a new session and a
//     begin snapshot. If the point has not been seen free since the edge
//     started, the car arrived while the edge was down: the session-begin
//     event says began_while_down, with the meter's counter in the
//     snapshot, so billing can decide.
//   - A session open when the edge stopped stays open: a car still
//     connected keeps it and gets its end snapshot when it leaves; a car
//     that left while the edge was down gets its end snapshot at the first
//     look (ended_while_down: the counter did not move since the car left).
//   - Each step is stored before the next: the begin snapshot with the
//     session-begin event in one record, then (when the car leaves) the end
//     snapshot with the session-end event in one record.
//
// # Every signed snapshot reaches the outbox once
//
// Before the edge asks a meter for a snapshot it saves the request
// (Pending) in the state file. Once the snapshot is stored it saves the
// meter's last stored record (its SHA-256) and the journal's seq, holding
// the outbox's segments on disk in between (Journal.Hold). After a crash a
// pending request is resolved from the meter itself (LastSnapshot): a
// record other than the last one stored is the requested snapshot, which
// the meter signed while the edge was not there to read it, unless a
// record stored after the saved seq already holds it (the crash came
// between storing and saving). So a snapshot the meter signed is stored
// once, whenever the edge dies. If the meter did not sign, the snapshot is
// asked for again.
//
// # State file
//
// JSON (stateFile), written to a temporary file, fsynced, renamed over the
// old one and the directory fsynced, so it is always one whole version.
// It records, per point, the open session, the pending request and the
// hash of the meter's last stored record, and the outbox epoch and seq it
// accounts for.
//
// # Failures
//
// A meter that does not answer or an outbox that refuses the record (disk
// full) is retried every Config.Retry; a snapshot read from the meter is
// kept in memory until it is stored and never asked for twice. A state file
// that cannot be written (disk full) does not hold a snapshot back: the
// meter is asked on time and the file is written again before the next
// step. Failures are logged at most once per Config.LogEvery, with counts.
//
// # Points central controls
//
// A point with access "central" (Point.Central) opens no session of its
// own: central's authorisation (Authorise, through edge/command) opens one
// with central's session id, and the point gets current only between the
// begin snapshot and the stop. The energy cap is enforced here, from the
// meter's register, with or without uplink. access.go tells the rules.
package session
