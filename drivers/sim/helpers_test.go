package sim

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/grid-x/modbus"
)

// fixedStart is the simulated start of the tests.
const fixedStart = "2026-11-25T10:00:00Z"

// startSim builds a manual (Step-driven) simulator from YAML, serving on
// free loopback ports, closed at cleanup.
func startSim(t testing.TB, yml string) *Sim {
	t.Helper()
	cfg, err := ParseConfig([]byte(yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s, err := New(cfg, Options{Manual: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newSim builds a manual simulator without listening.
func newSim(t testing.TB, yml string) *Sim {
	t.Helper()
	cfg, err := ParseConfig([]byte(yml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	s, err := New(cfg, Options{Manual: true})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// client is a grid-x Modbus TCP client for one unit.
type client struct {
	t testing.TB
	h *modbus.TCPClientHandler
	c modbus.Client
}

func dial(t testing.TB, addr string, unit byte) *client {
	t.Helper()
	h := modbus.NewTCPClientHandler(addr)
	h.SlaveID = unit
	h.Timeout = 2 * time.Second
	if err := h.Connect(context.Background()); err != nil {
		t.Fatalf("connect %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &client{t: t, h: h, c: modbus.NewClient(h)}
}

func (c *client) unit(u byte) *client { c.h.SlaveID = u; return c }

func (c *client) holding(addr, n uint16) []uint16 {
	c.t.Helper()
	b, err := c.c.ReadHoldingRegisters(context.Background(), addr, n)
	if err != nil {
		c.t.Fatalf("read holding %d×%d at unit %d: %v", addr, n, c.h.SlaveID, err)
	}
	return words(b)
}

func (c *client) input(addr, n uint16) []uint16 {
	c.t.Helper()
	b, err := c.c.ReadInputRegisters(context.Background(), addr, n)
	if err != nil {
		c.t.Fatalf("read input %d×%d at unit %d: %v", addr, n, c.h.SlaveID, err)
	}
	return words(b)
}

func (c *client) writeReg(addr, v uint16) {
	c.t.Helper()
	if _, err := c.c.WriteSingleRegister(context.Background(), addr, v); err != nil {
		c.t.Fatalf("write %d=%d at unit %d: %v", addr, v, c.h.SlaveID, err)
	}
}

func (c *client) writeRegs(addr uint16, vs []uint16) {
	c.t.Helper()
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint16(b[2*i:], v)
	}
	if _, err := c.c.WriteMultipleRegisters(context.Background(), addr, uint16(len(vs)), b); err != nil {
		c.t.Fatalf("write %d×%d at unit %d: %v", addr, len(vs), c.h.SlaveID, err)
	}
}

func words(b []byte) []uint16 {
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

func pointState(t testing.TB, s *Sim, name string) PointState {
	t.Helper()
	for _, p := range s.State().Points {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no point %s", name)
	return PointState{}
}

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx, cancel
}
