package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers/modbus/modbustest"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// run starts b.Run for the duration of the test.
func run(t testing.TB, b *Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newMemoryServer(t testing.TB) (*modbustest.Memory, *modbustest.Server) {
	m := modbustest.NewMemory()
	return m, modbustest.NewServer(t, m)
}

func TestBusFunctions(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 0x1234, 0xabcd, 7)
	m.Set(2, modbustest.InputRegisters, 0, 0x0002)
	m.Set(1, modbustest.HoldingRegisters, 528, 16, 0, 0)
	m.Set(1, modbustest.DiscreteInputs, 0, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0)
	m.Set(1, modbustest.Coils, 400, 0)
	b := NewTCP(srv.Addr, Options{Name: "test"})
	run(t, b)
	ctx := ctxT(t)

	got, err := b.ReadInputRegisters(ctx, 1, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0x12, 0x34, 0xab, 0xcd, 0, 7}, got); diff != "" {
		t.Errorf("input registers unit 1 (-want +got):\n%s", diff)
	}
	got, err = b.ReadInputRegisters(ctx, 2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0, 2}, got); diff != "" {
		t.Errorf("input registers unit 2 (-want +got):\n%s", diff)
	}
	got, err = b.ReadDiscreteInputs(ctx, 1, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0b00001101, 0b00000001}, got); diff != "" {
		t.Errorf("discrete inputs (-want +got):\n%s", diff)
	}
	if err := b.WriteSingleRegister(ctx, 1, 528, 32); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteMultipleRegisters(ctx, 1, 529, []byte{0, 6, 0, 30}); err != nil {
		t.Fatal(err)
	}
	got, err = b.ReadHoldingRegisters(ctx, 1, 528, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0, 32, 0, 6, 0, 30}, got); diff != "" {
		t.Errorf("holding registers (-want +got):\n%s", diff)
	}
	if err := b.WriteSingleCoil(ctx, 1, 400, true); err != nil {
		t.Fatal(err)
	}
	got, err = b.ReadCoils(ctx, 1, 400, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{1}, got); diff != "" {
		t.Errorf("coils (-want +got):\n%s", diff)
	}
	s := b.Stats()
	if s.Requests != 8 || s.Errors != 0 || s.Latency.Count != 8 || s.Reconnects != 0 {
		t.Errorf("stats = %+v, want 8 requests, 8 latencies, no errors or reconnects", s)
	}
}

func TestBusException(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 1)
	b := NewTCP(srv.Addr, Options{Name: "meters"})
	run(t, b)
	ctx := ctxT(t)

	_, err := b.ReadInputRegisters(ctx, 1, 0x0156, 2)
	var ee *ExceptionError
	if !errors.As(err, &ee) || ee.Code != ExceptionIllegalDataAddress || ee.Function != 4 {
		t.Fatalf("err = %v, want exception 2 for function 4", err)
	}
	if !errors.Is(err, ErrException) {
		t.Errorf("errors.Is(%v, ErrException) = false", err)
	}
	want := `modbus "meters" unit 1: read input registers 0x0156+2: modbus exception 2 (illegal data address) for function 4`
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	// An exception is an answer: the connection stays.
	if _, err := b.ReadInputRegisters(ctx, 1, 0, 1); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Exceptions != 1 || s.Errors != 1 || s.Reconnects != 0 {
		t.Errorf("stats = %+v, want 1 exception, 1 error, 0 reconnects", s)
	}
}

func TestBusTimeoutClosesAndRedials(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 42)
	release := make(chan struct{})
	var stall atomic.Bool
	m.SetHook(func(modbustest.Request) error {
		if stall.Load() {
			<-release
		}
		return nil
	})
	defer close(release)
	b := NewTCP(srv.Addr, Options{Name: "slow", Timeout: 50 * time.Millisecond})
	run(t, b)
	ctx := ctxT(t)
	if _, err := b.ReadInputRegisters(ctx, 1, 0, 1); err != nil {
		t.Fatal(err)
	}
	stall.Store(true)
	_, err := b.ReadInputRegisters(ctx, 1, 0, 1)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), `modbus "slow" unit 1: read input registers 0x0000+1: timeout`) {
		t.Errorf("err = %q does not name bus, unit and register", err)
	}
	stall.Store(false)
	got, err := b.ReadInputRegisters(ctx, 1, 0, 1)
	if err != nil {
		t.Fatalf("after timeout: %v", err)
	}
	if diff := cmp.Diff([]byte{0, 42}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The timed-out connection was closed and a new one dialled.
	if s := b.Stats(); s.Timeouts != 1 || s.Reconnects != 1 {
		t.Errorf("stats = %+v, want 1 timeout, 1 reconnect", s)
	}
}

func TestBusCallerCancelIsNotATimeout(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 42)
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	m.SetHook(func(modbustest.Request) error {
		entered <- struct{}{}
		<-release
		return nil
	})
	b := NewTCP(srv.Addr, Options{Timeout: time.Minute})
	run(t, b)
	ctx, cancel := context.WithCancel(ctxT(t))
	go func() { <-entered; cancel() }()
	start := time.Now()
	_, err := b.ReadInputRegisters(ctx, 1, 0, 1)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v: the read was not interrupted", d)
	}
}

func TestBusDeviceGoneAndBack(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 1)
	clock := newFakeClock()
	b := NewTCP(srv.Addr, Options{Name: "grid", Timeout: time.Second, BackoffMin: time.Second, BackoffMax: 4 * time.Second, Now: clock.Now})
	run(t, b)
	ctx := ctxT(t)
	if _, err := b.ReadInputRegisters(ctx, 1, 0, 1); err != nil {
		t.Fatal(err)
	}

	srv.Stop() // the device is switched off mid-poll
	_, err := b.ReadInputRegisters(ctx, 1, 0, 1)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("device gone: err = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), `modbus "grid" unit 1: read input registers 0x0000+1`) {
		t.Errorf("err = %q does not name bus, unit and register", err)
	}
	dialErrors := b.Stats().DialErrors
	if dialErrors != 1 {
		t.Fatalf("dial errors = %d, want 1", dialErrors)
	}
	// Within the backoff, requests fail at once without dialling.
	_, err = b.ReadInputRegisters(ctx, 1, 0, 1)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "next dial in 1s") {
		t.Fatalf("in backoff: err = %v, want ErrUnavailable with next dial in 1s", err)
	}
	if got := b.Stats().DialErrors; got != dialErrors {
		t.Errorf("dialled during backoff: dial errors %d → %d", dialErrors, got)
	}
	// Backoff doubles per failed dial, capped at BackoffMax.
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		clock.Advance(b.backoff)
		if _, err := b.ReadInputRegisters(ctx, 1, 0, 1); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if b.backoff != want {
			t.Errorf("backoff = %v, want %v", b.backoff, want)
		}
	}

	if err := srv.Start(); err != nil { // the device is back
		t.Fatal(err)
	}
	clock.Advance(b.backoff)
	got, err := b.ReadInputRegisters(ctx, 1, 0, 1)
	if err != nil {
		t.Fatalf("device back: %v", err)
	}
	if diff := cmp.Diff([]byte{0, 1}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if s := b.Stats(); s.Reconnects != 1 || s.DialErrors != 4 {
		t.Errorf("stats = %+v, want 1 reconnect, 4 dial errors", s)
	}
	if b.backoff != 0 {
		t.Errorf("backoff = %v after a good dial, want 0", b.backoff)
	}
}

func TestBusRetriesOnceOnBrokenReusedConnection(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 5)
	b := NewTCP(srv.Addr, Options{})
	run(t, b)
	ctx := ctxT(t)
	if _, err := b.ReadInputRegisters(ctx, 1, 0, 1); err != nil {
		t.Fatal(err)
	}
	srv.Stop() // a quick restart: the old connection is dead, the port is back
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadInputRegisters(ctx, 1, 0, 1); err != nil {
		t.Fatalf("first read after restart: %v (want a transparent retry)", err)
	}
	if s := b.Stats(); s.Reconnects != 1 || s.Errors != 0 {
		t.Errorf("stats = %+v, want 1 reconnect, 0 errors", s)
	}
}

func TestBusSerialisesRequests(t *testing.T) {
	m, srv := newMemoryServer(t)
	for u := uint8(1); u <= 4; u++ {
		m.Set(u, modbustest.InputRegisters, 0, uint16(u))
	}
	var inFlight, maxInFlight atomic.Int32
	m.SetHook(func(modbustest.Request) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := maxInFlight.Load()
			if n <= old || maxInFlight.CompareAndSwap(old, n) {
				break
			}
		}
		return nil
	})
	b := NewTCP(srv.Addr, Options{})
	run(t, b)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 80)
	for g := range 16 {
		unit := uint8(g%4 + 1)
		wg.Go(func() {
			for range 5 {
				got, err := b.ReadInputRegisters(ctx, unit, 0, 1)
				if err == nil && got[1] != unit {
					err = errors.New("reply for the wrong unit")
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := maxInFlight.Load(); n != 1 {
		t.Errorf("up to %d requests in flight, want 1", n)
	}
}

func TestBusClosed(t *testing.T) {
	b := NewTCP("127.0.0.1:1", Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Run(ctx) }()
	cancel()
	<-done
	_, err := b.ReadInputRegisters(context.Background(), 1, 0, 1)
	if !errors.Is(err, ErrClosed) {
		t.Errorf("err = %v, want ErrClosed", err)
	}
	if err := b.Run(context.Background()); err == nil {
		t.Error("second Run returned nil")
	}
}

func TestBusInvalidRequest(t *testing.T) {
	b := NewTCP("127.0.0.1:1", Options{})
	ctx := ctxT(t)
	for name, err := range map[string]error{
		"read 0":      func() error { _, err := b.ReadInputRegisters(ctx, 1, 0, 0); return err }(),
		"read 126":    func() error { _, err := b.ReadHoldingRegisters(ctx, 1, 0, 126); return err }(),
		"bits 2001":   func() error { _, err := b.ReadCoils(ctx, 1, 0, 2001); return err }(),
		"write odd":   b.WriteMultipleRegisters(ctx, 1, 0, []byte{1, 2, 3}),
		"write empty": b.WriteMultipleRegisters(ctx, 1, 0, nil),
	} {
		if !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
}

// rawServer answers every request ADU with reply(request); a nil reply
// closes the connection. It returns the address.
func rawServer(t testing.TB, reply func(req []byte) []byte) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				for {
					hdr := make([]byte, 7)
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					n := int(binary.BigEndian.Uint16(hdr[4:])) - 1
					if n < 0 {
						return
					}
					body := make([]byte, n)
					if _, err := io.ReadFull(c, body); err != nil {
						return
					}
					out := reply(append(hdr, body...))
					if out == nil {
						return
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}

// answer builds a reply ADU to req carrying pdu.
func answer(req, pdu []byte) []byte {
	out := make([]byte, 7, 7+len(pdu))
	copy(out, req[:4])
	binary.BigEndian.PutUint16(out[4:], uint16(len(pdu)+1))
	out[6] = req[6]
	return append(out, pdu...)
}

func TestBusBadReplies(t *testing.T) {
	tests := []struct {
		name string
		pdu  []byte // reply PDU to a read of 2 input registers
		want error
	}{
		{"short", []byte{4, 2, 0, 1}, ErrShortReply},
		{"count beyond data", []byte{4, 4, 0, 1}, ErrShortReply},
		{"long", []byte{4, 6, 0, 1, 0, 2, 0, 3}, ErrBadReply},
		{"wrong function", []byte{3, 4, 0, 1, 0, 2}, ErrBadReply},
		{"exception", []byte{0x84, 4}, ErrException},
		{"exception without code", []byte{0x84}, ErrShortReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, func(req []byte) []byte { return answer(req, tt.pdu) })
			b := NewTCP(addr, Options{Name: "raw", Timeout: time.Second})
			run(t, b)
			_, err := b.ReadInputRegisters(ctxT(t), 7, 0x0006, 2)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), `modbus "raw" unit 7: read input registers 0x0006+2: `) {
				t.Errorf("err = %q does not name bus, unit and register", err)
			}
		})
	}
}

func TestBusWriteEchoMismatch(t *testing.T) {
	addr := rawServer(t, func(req []byte) []byte { return answer(req, []byte{6, 0x02, 0x10, 0, 7}) })
	b := NewTCP(addr, Options{})
	run(t, b)
	err := b.WriteSingleRegister(ctxT(t), 255, 528, 16)
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("err = %v, want ErrBadReply", err)
	}
}

func TestBusWrongUnitInReplyIsBadReply(t *testing.T) {
	addr := rawServer(t, func(req []byte) []byte {
		out := answer(req, []byte{4, 2, 0, 1})
		out[6]++
		return out
	})
	b := NewTCP(addr, Options{})
	run(t, b)
	_, err := b.ReadInputRegisters(ctxT(t), 1, 0, 1)
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("err = %v, want ErrBadReply", err)
	}
}

func TestParseFraming(t *testing.T) {
	for _, s := range []string{"8N1", "8e1", "7O2"} {
		if _, _, _, err := parseFraming(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"", "8X1", "9N1", "8N3", "8N11"} {
		if _, _, _, err := parseFraming(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
	if _, err := NewRTU("/dev/null", 9600, "8Z1", Options{}); err == nil {
		t.Error("NewRTU accepted framing 8Z1")
	}
}

func TestBusCallerDeadlineIsATimeout(t *testing.T) {
	m, srv := newMemoryServer(t)
	m.Set(1, modbustest.InputRegisters, 0, 42)
	release := make(chan struct{})
	defer close(release)
	m.SetHook(func(modbustest.Request) error { <-release; return nil })
	b := NewTCP(srv.Addr, Options{Timeout: time.Minute})
	run(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := b.ReadInputRegisters(ctx, 1, 0, 1)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	if s := b.Stats(); s.Timeouts != 1 {
		t.Errorf("timeouts = %d, want 1", s.Timeouts)
	}
}
