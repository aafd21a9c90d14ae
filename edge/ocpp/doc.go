// Package ocpp presents one parkgrid charge point to an OCPP 1.6J central
// system (CSMS) as a standard OCPP charge point with one connector, on
// github.com/lorenzodonini/ocpp-go. Its one job is the OCPP side of a
// point; the edge's control loop keeps the site safe and within its limits.
//
// A Client runs two loops. The point loop (every Tick) looks at the point
// (state letter, setpoint, meter), starts a transaction when the CSMS has
// authorised one and a car is plugged in, stops it (car gone, RemoteStop,
// Reset, an id tag refused), takes the Eichrecht snapshots, samples meter
// values and turns the charging profiles into the control loop's "ocpp"
// limit for the period in force (until its end). The link loop keeps the
// websocket (ws(s)://<url>/<identity>, subprotocol ocpp1.6, basic auth
// with the point's password; TLS with server verification for security
// profile 2) with backoff and jitter, registers (BootNotification until
// Accepted; Pending and Rejected wait the CSMS's interval), sends status
// changes, heartbeats and the queue.
//
// Access: until a transaction starts the point is held at 0 mA (limit
// source "access"); the CSMS's profiles only lower its current (source
// "ocpp"); the control loop never raises a point above its fuse.
//
// Status (ConnectorStatus): A Available, B/C/D without a transaction
// Preparing, with one Charging; 0 A from load management or safety
// SuspendedEVSE; B while offered current (car full) SuspendedEV; E/F or a
// controller that does not answer Faulted with an error code.
//
// Eichrecht: the meter's signed OCMF snapshot at start and end travels as
// a sampled value with format SignedData (the OCMF string as value), in a
// MeterValues with context Transaction.Begin right after StartTransaction
// and in StopTransaction's transactionData with context Transaction.End.
//
// On disk, <state_dir>/<point>.json (written whole: temporary file,
// fsync, rename, directory fsync) holds "<crc32c hex> <json>\n": the
// queue of transaction messages (StartTransaction, MeterValues,
// StopTransaction) in the order they were made, the running transaction,
// the map from local transaction ids to the CSMS's, the installed
// charging profiles and the configuration keys the CSMS changed. A
// message is queued durably before it is sent and leaves the queue only
// when the CSMS answered it; while the CSMS is unreachable the queue
// grows (up to MaxQueue; past it only periodic meter values go, oldest
// first) and is sent in order after the reconnect. A transaction started
// offline is named by its local id until StartTransaction is answered;
// later messages then carry the CSMS's id. A message the CSMS answers with
// a CALLERROR is tried TransactionMessageAttempts times, then dropped and
// logged. A damaged file is never half read (ErrCorrupt): it is kept
// aside as <point>.json.corrupt-<unix time> and the point starts empty.
package ocpp
