package modbus

import (
	"errors"
	"fmt"

	"github.com/parkgrid/parkgrid/drivers"
)

// Sentinel errors. ErrTimeout and ErrShortReply are the drivers package's
// own, so drivers and callers may test either name.
var (
	// ErrTimeout: no complete reply within the request's timeout.
	ErrTimeout = drivers.ErrTimeout
	// ErrShortReply: the reply held fewer bytes than requested.
	ErrShortReply = drivers.ErrShortReply
	// ErrBadReply: the reply did not fit the request (wrong function, wrong
	// byte count, echo of a write not matching).
	ErrBadReply = errors.New("malformed reply")
	// ErrException: the device answered with a Modbus exception; errors.As
	// gives the *ExceptionError with the code.
	ErrException = errors.New("modbus exception")
	// ErrUnavailable: the bus has no connection and is waiting out its
	// reconnect backoff, or the dial failed.
	ErrUnavailable = errors.New("bus unavailable")
	// ErrPreempted: the request was interrupted on the line so that a
	// priority unit's request (the fire-alarm module) could go first; it
	// may or may not have reached the device.
	ErrPreempted = errors.New("preempted by a priority request")
	// ErrClosed: the bus is not running any more (Run returned).
	ErrClosed = errors.New("bus closed")
	// ErrInvalidRequest: the request itself is not valid Modbus (quantity
	// out of range, odd number of bytes); nothing was sent.
	ErrInvalidRequest = errors.New("invalid request")
)

// ExceptionError is a Modbus exception reply. It matches ErrException.
type ExceptionError struct {
	Function byte // function code of the request (without the 0x80 bit)
	Code     byte // exception code, e.g. 2 = illegal data address
}

// Exception codes (Modbus Application Protocol 1.1b, section 7).
const (
	ExceptionIllegalFunction     byte = 1
	ExceptionIllegalDataAddress  byte = 2
	ExceptionIllegalDataValue    byte = 3
	ExceptionServerDeviceFailure byte = 4
	ExceptionAcknowledge         byte = 5
	ExceptionServerDeviceBusy    byte = 6
	ExceptionGatewayPath         byte = 10
	ExceptionGatewayTarget       byte = 11
)

func (e *ExceptionError) Error() string {
	var name string
	switch e.Code {
	case ExceptionIllegalFunction:
		name = "illegal function"
	case ExceptionIllegalDataAddress:
		name = "illegal data address"
	case ExceptionIllegalDataValue:
		name = "illegal data value"
	case ExceptionServerDeviceFailure:
		name = "server device failure"
	case ExceptionAcknowledge:
		name = "acknowledge"
	case ExceptionServerDeviceBusy:
		name = "server device busy"
	case ExceptionGatewayPath:
		name = "gateway path unavailable"
	case ExceptionGatewayTarget:
		name = "gateway target device failed to respond"
	default:
		name = "unknown"
	}
	return fmt.Sprintf("modbus exception %d (%s) for function %d", e.Code, name, e.Function)
}

// Is makes errors.Is(err, ErrException) true.
func (e *ExceptionError) Is(target error) bool { return target == ErrException }
