package modbus

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzBusCheck feeds arbitrary reply PDUs to the reply check.
func FuzzBusCheck(f *testing.F) {
	f.Add(byte(4), uint16(2), byte(4), []byte{4, 0, 1, 0, 2})
	f.Add(byte(4), uint16(80), byte(0x84), []byte{2})
	f.Add(byte(2), uint16(10), byte(2), []byte{2, 0xff, 3})
	f.Add(byte(6), uint16(16), byte(6), []byte{2, 0x10, 0, 16})
	f.Add(byte(3), uint16(1), byte(3), []byte{})
	f.Fuzz(func(t *testing.T, fc byte, qty uint16, rfc byte, data []byte) {
		switch fc {
		case fcReadCoils, fcReadDiscreteInputs, fcReadHoldingRegisters, fcReadInputRegisters,
			fcWriteSingleCoil, fcWriteSingleRegister, fcWriteMultipleRegisters:
		default:
			return
		}
		r := &request{fc: fc, data: block(0x0210, qty)}
		out, err, _ := check(r, rfc, data)
		if err != nil {
			if !errors.Is(err, ErrShortReply) && !errors.Is(err, ErrBadReply) && !errors.Is(err, ErrException) {
				t.Fatalf("error %v matches no sentinel", err)
			}
			return
		}
		want := 0
		switch fc {
		case fcReadHoldingRegisters, fcReadInputRegisters:
			want = 2 * int(qty)
		case fcReadCoils, fcReadDiscreteInputs:
			want = (int(qty) + 7) / 8
		}
		if len(out) != want {
			t.Fatalf("accepted %d bytes for fc %d qty %d, want %d", len(out), fc, qty, want)
		}
	})
}

// FuzzBusReply has a TCP server answer every request with arbitrary bytes
// (optionally with the right transaction and unit id, so the PDU is
// reached) and close; the bus must return data of the right size or an
// error, never panic or hang.
func FuzzBusReply(f *testing.F) {
	f.Add(true, []byte{0, 0, 0, 0, 0, 7, 1, 4, 4, 0, 1, 0, 2})
	f.Add(true, []byte{0, 0, 0, 0, 0, 3, 1, 0x84, 2})
	f.Add(false, []byte{0, 9, 0, 0, 0, 7, 1, 4, 4, 0, 1, 0, 2})
	f.Add(true, []byte{0, 0, 0, 0, 0xff, 0xff, 1})
	f.Add(true, []byte{0, 0, 0, 0, 0, 0, 1})
	f.Add(false, []byte{})

	var reply atomic.Pointer[[]byte]
	var fix atomic.Bool
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	var wg sync.WaitGroup
	f.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				req := make([]byte, 12)
				if _, err := io.ReadFull(c, req); err != nil {
					return
				}
				out := append([]byte(nil), *reply.Load()...)
				if fix.Load() && len(out) >= 7 {
					copy(out[:2], req[:2])
					out[6] = req[6]
				}
				_, _ = c.Write(out)
			})
		}
	})
	b := NewTCP(l.Addr().String(), Options{Timeout: 100 * time.Millisecond, BackoffMin: time.Nanosecond, BackoffMax: time.Nanosecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })

	f.Fuzz(func(t *testing.T, fixIDs bool, resp []byte) {
		reply.Store(&resp)
		fix.Store(fixIDs)
		got, err := b.ReadInputRegisters(context.Background(), 1, 0, 2)
		if err == nil && len(got) != 4 {
			t.Fatalf("accepted %d bytes for 2 registers", len(got))
		}
		if err != nil && !errors.Is(err, ErrShortReply) && !errors.Is(err, ErrBadReply) && !errors.Is(err, ErrException) &&
			!errors.Is(err, ErrTimeout) && !errors.Is(err, ErrUnavailable) {
			t.Fatalf("error %v matches no sentinel", err)
		}
	})
}
