// Package modbus runs one Modbus bus: a TCP endpoint or an RTU line, shared
// by every device (unit id) behind it. It is built on github.com/grid-x/modbus
// for framing and the connection, and adds what a site needs around it.
//
// A request runs on its caller's goroutine once the caller holds the line,
// a lock with two queues: a line never carries two requests at once.
// Requests of the units listed in Options.Priority (the fire-alarm DI
// module) go before every waiting request of another unit; on TCP, one that
// has waited Options.PreemptAfter behind a request of another unit
// interrupts it (that request fails with ErrPreempted and the connection is
// dialled afresh), so a unit that never answers cannot keep the fire-alarm
// module unread for a whole timeout. On RTU a request on the wire cannot be
// interrupted: the priority request waits at most one Timeout.
//
// Every request carries its unit id and its own context; the bus bounds it
// by Options.Timeout (the caller's deadline, if earlier, wins). Cancelling a
// caller's context abandons its request: while waiting for the line it is
// never sent; in flight on TCP the read is interrupted and the connection
// closed. Run only marks the end: once its context ends it waits for the
// request in flight, closes the connection and makes later requests fail
// with ErrClosed.
//
// A unit that times out twice in a row is quarantined: its requests fail at
// once with ErrUnavailable for DefaultUnitBackoffMin, doubling per further
// timeout up to DefaultUnitBackoffMax, after which one request probes it.
// A dead unit thus costs its line one timeout per quarantine, not one per
// request.
//
// Connection life cycle:
//
//   - The bus dials on the first request (not in Run), so a device that is
//     down at start-up does not stop the edge.
//   - A timeout or any I/O or framing error closes the connection, so a late
//     reply can never be taken for the answer to a later request; the next
//     request dials afresh. A Modbus exception keeps the connection.
//   - An I/O error on a connection that was reused (e.g. the device closed it
//     while idle, or restarted) is retried once on a fresh connection. All
//     functions the bus offers are idempotent "set" or read requests, so a
//     retry cannot apply a change twice.
//   - A failed dial starts exponential backoff (Options.BackoffMin doubling
//     up to Options.BackoffMax). Until the next dial is due, requests fail at
//     once with ErrUnavailable instead of queueing behind dead dials; the first
//     successful dial resets the backoff.
//
// Errors name the bus, the unit and the register, and wrap one of the
// sentinels: ErrTimeout, ErrShortReply, ErrBadReply, ErrException (as
// *ExceptionError with the function and exception code), ErrUnavailable,
// ErrPreempted, ErrClosed; or the caller's own context error when its
// context ended first.
//
// Stats returns counters and a latency histogram; busmetrics.NewCollector
// exposes them to Prometheus (the caller registers it). modbustest serves
// Modbus TCP in-process for tests.
package modbus
