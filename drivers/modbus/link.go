package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	gridx "github.com/grid-x/modbus"
	"github.com/grid-x/serial"
)

// link is one physical connection: grid-x frames, sends and receives; the
// bus interprets the PDU.
type link interface {
	connect(ctx context.Context) error
	close() error
	// send transmits one request PDU to unit and returns the reply PDU. The
	// read ends at deadline, which is timeout from now (the caller has just
	// read the clock), or earlier when ctx is cancelled. The reply PDU must
	// be a fresh buffer that the link does not touch again: the bus returns
	// registers from it without copying.
	// Transport errors are returned as they are; a reply that cannot be
	// decoded is a frameError.
	send(ctx context.Context, deadline time.Time, timeout time.Duration, unit, fc byte, data []byte) (byte, []byte, error)
	// interruptible reports whether interrupt can unblock a read.
	interruptible() bool
	// interrupt makes a read in progress fail at once (no-op if it cannot).
	interrupt()
}

// frameError: bytes arrived but do not form a valid reply frame for the
// request (transaction or unit id mismatch, bad length, CRC).
type frameError struct{ err error }

func (e frameError) Error() string { return e.err.Error() }
func (e frameError) Unwrap() error { return e.err }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, serial.ErrTimeout) || (errors.As(err, &ne) && ne.Timeout())
}

// isIO reports an error of the connection itself, as opposed to bytes that
// arrived but make no valid reply.
func isIO(err error) bool {
	var (
		opErr   *net.OpError
		pathErr *os.PathError
		sysErr  *os.SyscallError
		errno   syscall.Errno
	)
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &opErr) || errors.As(err, &pathErr) || errors.As(err, &sysErr) || errors.As(err, &errno)
}

// gridxLink adapts a grid-x handler (TCP or RTU).
type gridxLink struct {
	h           gridx.ClientHandler
	setTimeout  func(time.Duration)
	setSlave    func(byte)
	interruptFn func() // unblocks a read in progress; may be nil
	// openTimeout, if set, is the timeout in force while connecting: a
	// serial port keeps the per-read timeout it was opened with.
	openTimeout time.Duration
}

func (l *gridxLink) connect(ctx context.Context) error {
	if l.openTimeout > 0 {
		l.setTimeout(l.openTimeout)
	}
	return l.h.Connect(ctx)
}
func (l *gridxLink) close() error { return l.h.Close() }

func (l *gridxLink) interruptible() bool { return l.interruptFn != nil }

func (l *gridxLink) interrupt() {
	if l.interruptFn != nil {
		l.interruptFn()
	}
}

func (l *gridxLink) send(ctx context.Context, deadline time.Time, timeout time.Duration, unit, fc byte, data []byte) (byte, []byte, error) {
	if timeout <= 0 {
		return 0, nil, context.DeadlineExceeded
	}
	l.setTimeout(timeout)
	l.setSlave(unit)
	adu, err := l.h.Encode(&gridx.ProtocolDataUnit{FunctionCode: fc, Data: data})
	if err != nil {
		return 0, nil, fmt.Errorf("encode: %w", err)
	}
	if l.interruptFn != nil && ctx.Done() != nil {
		done := make(chan struct{})
		stop := context.AfterFunc(ctx, func() { defer close(done); l.interruptFn() })
		defer func() {
			if !stop() {
				<-done // never let a late interrupt hit the next request's read
			}
		}()
	}
	resp, err := l.h.Send(ctx, adu)
	if err != nil {
		if isTimeout(err) || isIO(err) {
			return 0, nil, err
		}
		return 0, nil, frameError{err} // grid-x checks ids and lengths inside Send
	}
	if err := l.h.Verify(adu, resp); err != nil {
		return 0, nil, frameError{err}
	}
	pdu, err := l.h.Decode(resp)
	if err != nil {
		return 0, nil, frameError{err}
	}
	return pdu.FunctionCode, pdu.Data, nil
}

// NewTCP returns a bus for the Modbus TCP endpoint addr (host:port). It does
// not dial until the first request; start it with Run.
func NewTCP(addr string, opts Options) *Bus {
	t := &tcpConn{}
	h := gridx.NewTCPClientHandler(addr, gridx.WithDialer(t.dial))
	h.IdleTimeout = -1 // the bus decides when to close, not a timer
	h.LinkRecoveryTimeout = 0
	h.ProtocolRecoveryTimeout = 0
	l := &gridxLink{
		h:           h,
		setTimeout:  func(d time.Duration) { h.Timeout = d },
		setSlave:    h.SetSlave,
		interruptFn: t.interrupt,
	}
	return newBus("tcp "+addr, l, opts)
}

// tcpConn remembers the current connection so that a cancelled request can
// unblock grid-x's read (grid-x watches the context only while dialling).
type tcpConn struct {
	mu   sync.Mutex // protects conn
	conn net.Conn
}

func (t *tcpConn) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.conn = c
	t.mu.Unlock()
	return c, nil
}

func (t *tcpConn) interrupt() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		_ = t.conn.SetDeadline(time.Unix(1, 0)) // error: already closed, fine
	}
}

// NewRTU returns a bus for the serial line device (e.g. /dev/ttyUSB0) at
// baud, with framing such as "8N1", "8E1", "8O1" or "8N2". It does not open
// the port until the first request; start it with Run.
//
// On a serial line the wait for each byte is fixed when the port is opened
// (Options.Timeout), so a caller's deadline shorter than that may be
// overrun by up to Options.Timeout. A unit that does not answer costs the
// line one Timeout; the port is then reopened, which drops any late bytes.
func NewRTU(device string, baud int, framing string, opts Options) (*Bus, error) {
	dataBits, parity, stopBits, err := parseFraming(framing)
	if err != nil {
		return nil, fmt.Errorf("modbus rtu %s: %w", device, err)
	}
	if baud < 300 || baud > 921600 {
		return nil, fmt.Errorf("modbus rtu %s: baud rate %d not in 300..921600", device, baud)
	}
	h := gridx.NewRTUClientHandler(device)
	h.BaudRate = baud
	h.DataBits = dataBits
	h.Parity = parity
	h.StopBits = stopBits
	h.IdleTimeout = 0 // no idle timer: the bus decides when to close
	h.LinkRecoveryTimeout = 0
	h.Timeout = opts.Timeout
	if h.Timeout <= 0 {
		h.Timeout = DefaultTimeout
	}
	l := &gridxLink{
		h:           h,
		setTimeout:  func(d time.Duration) { h.Timeout = d },
		setSlave:    h.SetSlave,
		openTimeout: h.Timeout,
	}
	return newBus("rtu "+device, l, opts), nil
}

// parseFraming reads "8N1"-style serial framing.
func parseFraming(s string) (dataBits int, parity string, stopBits int, err error) {
	s = strings.ToUpper(s)
	if len(s) != 3 || s[0] < '5' || s[0] > '8' || !strings.ContainsRune("NEO", rune(s[1])) || (s[2] != '1' && s[2] != '2') {
		return 0, "", 0, fmt.Errorf("framing %q is not like 8N1, 8E1, 8O1 or 8N2", s)
	}
	return int(s[0] - '0'), string(s[1]), int(s[2] - '0'), nil
}
