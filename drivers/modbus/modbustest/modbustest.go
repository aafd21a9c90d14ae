// Package modbustest serves Modbus TCP in-process for tests: a
// github.com/simonvetter/modbus server on a free loopback port that a test
// can stop and start again on the same port (a device going away and coming
// back), and Memory, a register map per unit that tests fill and inspect.
package modbustest

import (
	"fmt"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

// Server is a running in-process Modbus TCP server.
type Server struct {
	Addr string // host:port it listens on

	t   testing.TB
	h   mb.RequestHandler
	mu  sync.Mutex // protects srv
	srv *mb.ModbusServer
}

// NewServer serves h on a free 127.0.0.1 port until the test ends.
func NewServer(t testing.TB, h mb.RequestHandler) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("modbustest: find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{Addr: addr, t: t, h: h}
	if err := s.Start(); err != nil {
		t.Fatalf("modbustest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the server on its address. Right after Stop the port may
// be briefly unavailable, so Start retries for up to 2 s.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	srv, err := mb.NewServer(&mb.ServerConfiguration{
		URL:        "tcp://" + s.Addr,
		Timeout:    time.Minute,
		MaxClients: 64,
		Logger:     log.New(io.Discard, "", 0),
	}, s.h)
	if err != nil {
		return fmt.Errorf("new server on %s: %w", s.Addr, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		err = srv.Start()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("start server on %s: %w", s.Addr, err)
	}
	s.srv = srv
	return nil
}

// Stop closes the listener and every client connection, like a device that
// was switched off.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Stop()
		s.srv = nil
	}
}

// Table is one of the four Modbus data tables.
type Table int

// The Modbus tables.
const (
	Coils Table = iota
	DiscreteInputs
	HoldingRegisters
	InputRegisters
)

type key struct {
	unit  uint8
	table Table
	addr  uint16
}

// Memory is a mb.RequestHandler holding registers and bits per unit in
// memory. Reading or writing an address never set answers with exception 2
// (illegal data address). Safe for concurrent use.
type Memory struct {
	mu   sync.Mutex // protects the fields below
	vals map[key]uint16
	hook func(Request) error
}

// Request describes one request for a Hook.
type Request struct {
	Unit     uint8
	Table    Table
	Addr     uint16
	Quantity uint16
	Write    bool
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{vals: make(map[key]uint16)} }

// SetHook installs f, called before every request is served: an error from
// it is sent as the exception (use the mb.Err… values, e.g.
// mb.ErrServerDeviceBusy); f may also block to make the client time out.
func (m *Memory) SetHook(f func(Request) error) {
	m.mu.Lock()
	m.hook = f
	m.mu.Unlock()
}

// Set stores words (registers) or 0/1 values (bits) from addr on.
func (m *Memory) Set(unit uint8, t Table, addr uint16, vals ...uint16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, v := range vals {
		m.vals[key{unit, t, addr + uint16(i)}] = v
	}
}

// SetBytes stores big-endian register bytes (2 per register, an odd last
// byte padded with 0) from addr on.
func (m *Memory) SetBytes(unit uint8, t Table, addr uint16, b []byte) {
	words := make([]uint16, (len(b)+1)/2)
	for i, c := range b {
		if i%2 == 0 {
			words[i/2] = uint16(c) << 8
		} else {
			words[i/2] |= uint16(c)
		}
	}
	m.Set(unit, t, addr, words...)
}

// Get returns the value at addr and whether it was set.
func (m *Memory) Get(unit uint8, t Table, addr uint16) (uint16, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key{unit, t, addr}]
	return v, ok
}

func (m *Memory) serve(r Request, args []uint16) ([]uint16, error) {
	m.mu.Lock()
	hook := m.hook
	m.mu.Unlock()
	if hook != nil {
		if err := hook(r); err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]uint16, r.Quantity)
	for i := range out {
		k := key{r.Unit, r.Table, r.Addr + uint16(i)}
		v, ok := m.vals[k]
		if !ok {
			return nil, mb.ErrIllegalDataAddress
		}
		out[i] = v
	}
	if r.Write {
		for i, v := range args {
			m.vals[key{r.Unit, r.Table, r.Addr + uint16(i)}] = v
		}
		return nil, nil
	}
	return out, nil
}

func bits(v []uint16) []bool {
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = x != 0
	}
	return out
}

// HandleCoils implements mb.RequestHandler.
func (m *Memory) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	var args []uint16
	for _, a := range req.Args {
		var v uint16
		if a {
			v = 1
		}
		args = append(args, v)
	}
	v, err := m.serve(Request{req.UnitId, Coils, req.Addr, req.Quantity, req.IsWrite}, args)
	return bits(v), err
}

// HandleDiscreteInputs implements mb.RequestHandler.
func (m *Memory) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	v, err := m.serve(Request{req.UnitId, DiscreteInputs, req.Addr, req.Quantity, false}, nil)
	return bits(v), err
}

// HandleHoldingRegisters implements mb.RequestHandler.
func (m *Memory) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	return m.serve(Request{req.UnitId, HoldingRegisters, req.Addr, req.Quantity, req.IsWrite}, req.Args)
}

// HandleInputRegisters implements mb.RequestHandler.
func (m *Memory) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	return m.serve(Request{req.UnitId, InputRegisters, req.Addr, req.Quantity, false}, nil)
}

var _ mb.RequestHandler = (*Memory)(nil)
