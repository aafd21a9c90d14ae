package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Function codes the bus speaks.
const (
	fcReadCoils              byte = 0x01
	fcReadDiscreteInputs     byte = 0x02
	fcReadHoldingRegisters   byte = 0x03
	fcReadInputRegisters     byte = 0x04
	fcWriteSingleCoil        byte = 0x05
	fcWriteSingleRegister    byte = 0x06
	fcWriteMultipleRegisters byte = 0x10
)

// Defaults for zero Options fields.
const (
	DefaultTimeout    = time.Second
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
	// DefaultUnitBackoffMin is how long a unit is quarantined after it
	// timed out twice in a row; it doubles per further timeout up to
	// DefaultUnitBackoffMax.
	DefaultUnitBackoffMin = time.Second
	DefaultUnitBackoffMax = 16 * time.Second
	// unitTimeoutsToQuarantine consecutive timeouts quarantine a unit.
	unitTimeoutsToQuarantine = 2
)

// Options tune a Bus. The zero value is usable.
type Options struct {
	// Name identifies the bus in errors, logs and metrics; default
	// "tcp <addr>" or "rtu <device>".
	Name string
	// Timeout bounds each request, dial included (default DefaultTimeout).
	// A caller's context may end a request sooner, never later.
	Timeout time.Duration
	// BackoffMin is the wait after the first failed dial (default
	// DefaultBackoffMin); each further failure doubles it up to BackoffMax
	// (default DefaultBackoffMax).
	BackoffMin, BackoffMax time.Duration
	// Priority lists the units whose requests go first: before any request
	// of another unit waiting for the line (the fire-alarm DI module).
	Priority []uint8
	// PreemptAfter: on a TCP bus, a priority request waiting this long
	// behind a request of another unit interrupts it (that request fails
	// with ErrPreempted and the connection is dialled afresh), so a dead
	// unit cannot hold the priority unit's reads for a whole Timeout.
	// Default Timeout/10, at most 100 ms; negative: never.
	PreemptAfter time.Duration
	// Logger receives connection events (dial failures, reconnects) with the
	// key "bus"; nil discards them. Failed requests are returned, not logged.
	Logger *slog.Logger
	// Now is the clock for backoff, quarantine and latency; nil means
	// time.Now. Request deadlines always use the real clock: they go to the
	// kernel.
	Now func() time.Time
}

// Bus is one Modbus TCP endpoint or RTU line shared by any number of units.
// Its methods are safe for concurrent use. A request runs on its caller's
// goroutine once the caller holds the line (see the package doc).
type Bus struct {
	name         string
	timeout      time.Duration
	backoffMin   time.Duration
	backoffMax   time.Duration
	preemptAfter time.Duration // 0: no preemption
	prio         [256]bool
	log          *slog.Logger
	now          func() time.Time
	realClock    bool // now is time.Now: exec reuses its one reading for the latency start

	link    link
	line    line
	closed  atomic.Bool
	started atomic.Bool

	// Owned by the holder of the line.
	connected     bool
	everConnected bool
	backoff       time.Duration
	nextDial      time.Time
	lastDialErr   error
	units         [256]unitState

	mu    sync.Mutex // protects the field below
	stats Stats
}

// unitState is what the bus remembers of a unit that timed out.
type unitState struct {
	timeouts int           // consecutive
	until    time.Time     // quarantined until
	backoff  time.Duration // last quarantine
}

type request struct {
	ctx  context.Context
	unit byte
	fc   byte
	data []byte // request PDU data
	buf  [4]byte
	f    *flight
}

func newBus(defaultName string, l link, opts Options) *Bus {
	b := &Bus{
		name:       opts.Name,
		timeout:    opts.Timeout,
		backoffMin: opts.BackoffMin,
		backoffMax: opts.BackoffMax,
		log:        opts.Logger,
		now:        opts.Now,
		link:       l,
		stats:      Stats{Latency: newHistogram()},
	}
	if b.name == "" {
		b.name = defaultName
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	if b.backoffMin <= 0 {
		b.backoffMin = DefaultBackoffMin
	}
	if b.backoffMax <= 0 {
		b.backoffMax = DefaultBackoffMax
	}
	if b.backoffMax < b.backoffMin {
		b.backoffMax = b.backoffMin
	}
	for _, u := range opts.Priority {
		b.prio[u] = true
	}
	switch {
	case opts.PreemptAfter < 0 || !l.interruptible():
	case opts.PreemptAfter > 0:
		b.preemptAfter = opts.PreemptAfter
	default:
		b.preemptAfter = min(b.timeout/10, 100*time.Millisecond)
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
		b.realClock = true
	}
	b.log = b.log.With("bus", b.name)
	return b
}

// Name returns the bus name used in errors, logs and metrics.
func (b *Bus) Name() string { return b.name }

// Run keeps the bus until ctx ends; then it waits for the request in
// flight (its deadline bounds it), closes the connection and returns
// ctx.Err(). Requests made after Run has returned fail with ErrClosed.
// Requests need not wait for Run: they run on their callers' goroutines.
// Run may be called only once.
func (b *Bus) Run(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return fmt.Errorf("modbus %q: Run called twice", b.name)
	}
	<-ctx.Done()
	b.closed.Store(true)
	f := b.line.acquire(context.Background(), true, b)
	b.disconnect()
	b.line.release(f)
	return ctx.Err()
}

// ReadInputRegisters reads qty (1..125) input registers (FC04) from unit,
// starting at addr, and returns their 2*qty bytes, big-endian per register.
func (b *Bus) ReadInputRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	if qty < 1 || qty > 125 {
		return nil, b.wrap(unit, fcReadInputRegisters, addr, qty, invalid("quantity %d not in 1..125", qty))
	}
	return b.call4(ctx, unit, fcReadInputRegisters, addr, qty)
}

// ReadHoldingRegisters reads qty (1..125) holding registers (FC03).
func (b *Bus) ReadHoldingRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	if qty < 1 || qty > 125 {
		return nil, b.wrap(unit, fcReadHoldingRegisters, addr, qty, invalid("quantity %d not in 1..125", qty))
	}
	return b.call4(ctx, unit, fcReadHoldingRegisters, addr, qty)
}

// ReadDiscreteInputs reads qty (1..2000) discrete inputs (FC02) and returns
// them packed as on the wire: ceil(qty/8) bytes, input addr in bit 0 of the
// first byte.
func (b *Bus) ReadDiscreteInputs(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	if qty < 1 || qty > 2000 {
		return nil, b.wrap(unit, fcReadDiscreteInputs, addr, qty, invalid("quantity %d not in 1..2000", qty))
	}
	return b.call4(ctx, unit, fcReadDiscreteInputs, addr, qty)
}

// ReadCoils reads qty (1..2000) coils (FC01), packed like ReadDiscreteInputs.
func (b *Bus) ReadCoils(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error) {
	if qty < 1 || qty > 2000 {
		return nil, b.wrap(unit, fcReadCoils, addr, qty, invalid("quantity %d not in 1..2000", qty))
	}
	return b.call4(ctx, unit, fcReadCoils, addr, qty)
}

// WriteSingleRegister writes one holding register (FC06) and checks the echo.
func (b *Bus) WriteSingleRegister(ctx context.Context, unit uint8, addr, value uint16) error {
	_, err := b.call4(ctx, unit, fcWriteSingleRegister, addr, value)
	return err
}

// WriteMultipleRegisters writes len(values)/2 (1..123) holding registers
// (FC16) starting at addr; values holds 2 bytes per register, big-endian.
func (b *Bus) WriteMultipleRegisters(ctx context.Context, unit uint8, addr uint16, values []byte) error {
	n := len(values) / 2
	if len(values)%2 != 0 || n < 1 || n > 123 {
		return b.wrap(unit, fcWriteMultipleRegisters, addr, uint16(n), invalid("%d bytes is not 1..123 registers", len(values)))
	}
	data := make([]byte, 5+len(values))
	binary.BigEndian.PutUint16(data, addr)
	binary.BigEndian.PutUint16(data[2:], uint16(n))
	data[4] = byte(len(values))
	copy(data[5:], values)
	r := request{ctx: ctx, unit: unit, fc: fcWriteMultipleRegisters, data: data}
	_, err := b.do(&r, addr, uint16(n))
	return err
}

// WriteSingleCoil switches one coil (FC05) on or off and checks the echo.
func (b *Bus) WriteSingleCoil(ctx context.Context, unit uint8, addr uint16, on bool) error {
	var v uint16
	if on {
		v = 0xFF00
	}
	_, err := b.call4(ctx, unit, fcWriteSingleCoil, addr, v)
	return err
}

// block is the 4-byte request data of address and quantity or value.
func block(a, b uint16) []byte {
	return []byte{byte(a >> 8), byte(a), byte(b >> 8), byte(b)}
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
}

// call4 runs a request whose data is two registers: address, then quantity
// or value.
func (b *Bus) call4(ctx context.Context, unit, fc byte, addr, n uint16) ([]byte, error) {
	r := request{ctx: ctx, unit: unit, fc: fc}
	binary.BigEndian.PutUint16(r.buf[:], addr)
	binary.BigEndian.PutUint16(r.buf[2:], n)
	r.data = r.buf[:]
	return b.do(&r, addr, n)
}

// do waits for the line (priority units first), runs r on the caller's
// goroutine and hands the line on.
func (b *Bus) do(r *request, addr, n uint16) ([]byte, error) {
	if b.closed.Load() {
		return nil, b.wrap(r.unit, r.fc, addr, n, ErrClosed)
	}
	f := b.line.acquire(r.ctx, b.prio[r.unit], b)
	if f == nil {
		return nil, b.wrap(r.unit, r.fc, addr, n, fmt.Errorf("not sent: %w", r.ctx.Err()))
	}
	defer b.line.release(f)
	if b.closed.Load() {
		return nil, b.wrap(r.unit, r.fc, addr, n, ErrClosed)
	}
	r.f = f
	data, err := b.exec(r)
	if err != nil {
		return nil, b.wrap(r.unit, r.fc, addr, n, err)
	}
	return data, nil
}

// wrap names the bus, unit, function and register in err.
func (b *Bus) wrap(unit, fc byte, addr, n uint16, err error) error {
	var op string
	switch fc {
	case fcReadCoils:
		op = fmt.Sprintf("read coils 0x%04x+%d", addr, n)
	case fcReadDiscreteInputs:
		op = fmt.Sprintf("read discrete inputs 0x%04x+%d", addr, n)
	case fcReadHoldingRegisters:
		op = fmt.Sprintf("read holding registers 0x%04x+%d", addr, n)
	case fcReadInputRegisters:
		op = fmt.Sprintf("read input registers 0x%04x+%d", addr, n)
	case fcWriteSingleCoil:
		op = fmt.Sprintf("write coil 0x%04x=%t", addr, n != 0)
	case fcWriteSingleRegister:
		op = fmt.Sprintf("write register 0x%04x=%d", addr, n)
	case fcWriteMultipleRegisters:
		op = fmt.Sprintf("write registers 0x%04x+%d", addr, n)
	default:
		op = fmt.Sprintf("function %d at 0x%04x", fc, addr)
	}
	return fmt.Errorf("modbus %q unit %d: %s: %w", b.name, unit, op, err)
}

// exec runs one request; the caller holds the line. Its deadline is the
// earlier of now+Timeout and the caller's. The caller's cancellation
// interrupts a read in progress (TCP), as does a priority request that
// waited PreemptAfter for the line.
func (b *Bus) exec(r *request) ([]byte, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("not sent: %w", err) // the caller gave up while queued
	}
	u := &b.units[r.unit]
	if !u.until.IsZero() {
		if now := b.now(); now.Before(u.until) {
			b.mu.Lock()
			b.stats.Requests++
			b.stats.Errors++
			b.stats.Quarantined++
			b.mu.Unlock()
			return nil, fmt.Errorf("%w: unit %d quarantined for %v after %d timeouts in a row",
				ErrUnavailable, r.unit, u.until.Sub(now).Round(time.Millisecond), u.timeouts)
		}
	}
	// I/O deadlines go to the kernel, so they use the real clock.
	now := time.Now()
	deadline := now.Add(b.timeout)
	if dl, ok := r.ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	lat := time.Duration(-1) // set when a reply arrived
	data, err := b.roundTrip(r, now, deadline, &lat)

	timedOut := errors.Is(err, ErrTimeout)
	switch {
	case timedOut && r.ctx.Err() == nil:
		u.timeouts++
		if u.timeouts >= unitTimeoutsToQuarantine {
			u.backoff = min(max(2*u.backoff, DefaultUnitBackoffMin), DefaultUnitBackoffMax)
			u.until = b.now().Add(u.backoff)
			b.log.Warn("modbus unit quarantined after timeouts in a row", "unit", r.unit, "timeouts", u.timeouts, "for", u.backoff)
		}
	case err == nil || errors.Is(err, ErrException):
		*u = unitState{} // it answers
	}
	b.mu.Lock()
	b.stats.Requests++
	if lat >= 0 {
		b.stats.Latency.observe(lat)
	}
	if err != nil {
		b.stats.Errors++
		switch {
		case timedOut:
			b.stats.Timeouts++
		case errors.Is(err, ErrException):
			b.stats.Exceptions++
		case errors.Is(err, ErrPreempted):
			b.stats.Preempted++
		}
	}
	b.mu.Unlock()
	return data, err
}

// roundTrip sends r and reads its reply. now is the real clock when exec
// started; it stands in for the send time unless a dial came first.
func (b *Bus) roundTrip(r *request, now, deadline time.Time, lat *time.Duration) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		fresh := false
		if !b.connected {
			now = time.Time{}
			if err := b.dial(r.ctx, deadline); err != nil {
				if errors.Is(r.ctx.Err(), context.Canceled) {
					return nil, r.ctx.Err()
				}
				return nil, err
			}
			fresh = true
		}
		var start time.Time
		if b.realClock && !now.IsZero() {
			start = now // the same reading: saves two clock reads per request
		} else {
			start = b.now()
			now = time.Now()
		}
		fc, data, err := b.link.send(r.ctx, deadline, deadline.Sub(now), r.unit, r.fc, r.data)
		now = time.Time{} // a retry reads the clock again
		if err != nil {
			b.disconnect() // a late reply must never answer the next request
			var fe frameError
			switch {
			case r.f != nil && r.f.preempted.Load() && r.ctx.Err() == nil:
				return nil, fmt.Errorf("%w after %v on the line", ErrPreempted, time.Since(r.f.start).Round(time.Millisecond))
			case r.ctx.Err() != nil || isTimeout(err) || !time.Now().Before(deadline):
				return nil, b.ctxErr(r, deadline, err)
			case errors.As(err, &fe):
				return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
			case !fresh && attempt == 0:
				// The connection was reused and broke (device restarted,
				// idle close): retry once on a fresh one.
				b.log.Debug("modbus connection lost, retrying on a new one", "err", err)
				continue
			default:
				return nil, fmt.Errorf("%w: connection lost: %w", ErrUnavailable, err)
			}
		}
		*lat = b.now().Sub(start)
		out, err, desync := check(r, fc, data)
		if desync {
			b.disconnect()
		}
		return out, err
	}
}

// ctxErr turns an error that happened while the caller's context or the
// deadline may have ended into the error the caller should see: the
// caller's cancellation as it is, any deadline as ErrTimeout (which also
// matches context.DeadlineExceeded when it was the caller's deadline).
func (b *Bus) ctxErr(r *request, deadline time.Time, err error) error {
	switch {
	case errors.Is(r.ctx.Err(), context.Canceled):
		return r.ctx.Err()
	case r.ctx.Err() != nil:
		return fmt.Errorf("%w (no reply before the caller's deadline): %w", ErrTimeout, r.ctx.Err())
	case isTimeout(err) || !time.Now().Before(deadline):
		if dl, ok := r.ctx.Deadline(); ok && !dl.After(deadline) {
			// The socket deadline was the caller's and fired before the
			// context's own timer marked it done.
			return fmt.Errorf("%w (no reply before the caller's deadline): %w", ErrTimeout, context.DeadlineExceeded)
		}
		return fmt.Errorf("%w (no reply within %v)", ErrTimeout, b.timeout)
	}
	return err
}

// dial connects unless the backoff after a failed dial is still running.
func (b *Bus) dial(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	now := b.now()
	if now.Before(b.nextDial) {
		return fmt.Errorf("%w: next dial in %v, last error: %v", ErrUnavailable, b.nextDial.Sub(now).Round(time.Millisecond), b.lastDialErr)
	}
	if err := b.link.connect(ctx); err != nil {
		_ = b.link.close()
		if b.backoff == 0 {
			b.backoff = b.backoffMin
		} else {
			b.backoff = min(2*b.backoff, b.backoffMax)
		}
		b.nextDial = b.now().Add(b.backoff)
		b.lastDialErr = err
		b.mu.Lock()
		b.stats.DialErrors++
		b.mu.Unlock()
		b.log.Warn("modbus dial failed", "err", err, "retry_in", b.backoff)
		return fmt.Errorf("%w: dial: %w", ErrUnavailable, err)
	}
	if b.everConnected {
		b.mu.Lock()
		b.stats.Reconnects++
		b.mu.Unlock()
		b.log.Info("modbus reconnected", "after_backoff", b.backoff)
	}
	b.everConnected, b.connected = true, true
	b.backoff, b.nextDial, b.lastDialErr = 0, time.Time{}, nil
	return nil
}

func (b *Bus) disconnect() {
	if b.connected {
		_ = b.link.close()
		b.connected = false
	}
}

// check validates a reply PDU against its request. desync reports a reply
// that does not belong to the request, after which the connection is closed.
func check(r *request, fc byte, data []byte) (out []byte, err error, desync bool) {
	if fc == r.fc|0x80 {
		if len(data) < 1 {
			return nil, fmt.Errorf("%w: exception reply without code", ErrShortReply), false
		}
		return nil, &ExceptionError{Function: r.fc, Code: data[0]}, false
	}
	if fc != r.fc {
		return nil, fmt.Errorf("%w: reply has function %d", ErrBadReply, fc), true
	}
	switch r.fc {
	case fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters:
		qty := int(binary.BigEndian.Uint16(r.data[2:]))
		want := 2 * qty
		if r.fc == fcReadCoils || r.fc == fcReadDiscreteInputs {
			want = (qty + 7) / 8
		}
		if len(data) < 1 {
			return nil, fmt.Errorf("%w: 0 of %d bytes", ErrShortReply, want), false
		}
		count, have := int(data[0]), len(data)-1
		switch {
		case count > have:
			return nil, fmt.Errorf("%w: byte count %d but %d bytes", ErrShortReply, count, have), false
		case count < want:
			return nil, fmt.Errorf("%w: %d of %d bytes", ErrShortReply, count, want), false
		case count > want:
			return nil, fmt.Errorf("%w: %d bytes, asked for %d", ErrBadReply, count, want), false
		}
		// The link hands over a fresh buffer per reply (grid-x allocates
		// one per Send), so the registers are returned in place; the
		// capacity is cut so that an append cannot reach past them.
		return data[1 : 1+want : 1+want], nil, false
	default: // writes echo address and value or quantity
		if len(data) < 4 {
			return nil, fmt.Errorf("%w: %d of 4 bytes", ErrShortReply, len(data)), false
		}
		if string(data[:4]) != string(r.data[:4]) {
			return nil, fmt.Errorf("%w: echo % x, sent % x", ErrBadReply, data[:4], r.data[:4]), false
		}
		return nil, nil, false
	}
}
