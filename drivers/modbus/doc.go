// Package modbus runs one Modbus bus: a TCP endpoint or an RTU line, shared
// by every device (unit id) behind it. It is built on github.com/grid-x/modbus
// for framing and the connection, and adds what a site needs around it.
//
// One goroutine, started by the caller through Run, owns the connection and
// executes requests one at a time, in the order they arrive: a line never
// carries two requests at once. Every request carries its unit id and its own
// context; the bus bounds it by Options.Timeout (the caller's deadline, if
// earlier, wins). Cancelling a caller's context abandons its request: while
// queued it is never sent; in flight on TCP the read is interrupted and the
// connection closed. Cancelling Run's context stops the bus after the request
// in flight, which its deadline bounds.
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
// ErrClosed; or the caller's own context error when its context ended first.
//
// Stats returns counters and a latency histogram; busmetrics.NewCollector
// exposes them to Prometheus (the caller registers it). modbustest serves
// Modbus TCP in-process for tests.
package modbus
