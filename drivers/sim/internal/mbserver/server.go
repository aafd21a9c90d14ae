// Package mbserver is a small Modbus TCP server for the simulator: it frames
// and validates requests (function codes 1, 2, 3, 4, 5, 6, 15, 16) and hands
// each one, decoded, to a Handler that may answer, answer late, or not answer
// at all.
//
// The simulator needs the last two per unit id: many simulated devices share
// one TCP connection (one unit id each), and an "offline" device must stay
// silent so that the client times out, while its neighbours on the same
// connection keep answering. General-purpose servers always reply (with an
// exception) or close the connection, so the simulator brings its own.
//
// Requests on one connection are served in order, one at a time, like a real
// gateway; connections are served in parallel.
package mbserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Function codes served.
const (
	ReadCoils              byte = 1
	ReadDiscreteInputs     byte = 2
	ReadHoldingRegisters   byte = 3
	ReadInputRegisters     byte = 4
	WriteSingleCoil        byte = 5
	WriteSingleRegister    byte = 6
	WriteMultipleCoils     byte = 15
	WriteMultipleRegisters byte = 16
)

// Exception codes a Handler may return.
const (
	IllegalFunction         byte = 0x01
	IllegalDataAddress      byte = 0x02
	IllegalDataValue        byte = 0x03
	ServerDeviceFailure     byte = 0x04
	ServerDeviceBusy        byte = 0x06
	GatewayTargetNoResponse byte = 0x0B
)

// Request is one decoded request.
type Request struct {
	Unit     uint8
	Function byte
	Addr     uint16
	Quantity uint16
	// Registers holds the values of a register write (FC06, FC16).
	Registers []uint16
	// Bits holds the values of a coil write (FC05, FC15).
	Bits []bool
}

// IsWrite reports whether the request writes.
func (r *Request) IsWrite() bool {
	switch r.Function {
	case WriteSingleCoil, WriteSingleRegister, WriteMultipleCoils, WriteMultipleRegisters:
		return true
	}
	return false
}

// Reply is a Handler's answer.
type Reply struct {
	// Registers answers a register read; it must hold Quantity values.
	Registers []uint16
	// Bits answers a bit read; it must hold Quantity values.
	Bits []bool
	// Exception, when not 0, is sent instead of data.
	Exception byte
	// NoReply makes the server stay silent: the client times out.
	NoReply bool
	// Delay is waited before the reply is sent (the connection waits too).
	Delay time.Duration
}

// Handler serves requests. It is called from one goroutine per connection.
type Handler interface {
	ServeModbus(req *Request) Reply
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(req *Request) Reply

// ServeModbus calls f(req).
func (f HandlerFunc) ServeModbus(req *Request) Reply { return f(req) }

// Server serves one listening socket.
type Server struct {
	h    Handler
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex // protects the fields below
	conns  map[net.Conn]struct{}
	closed bool
}

// Listen binds addr and serves it until Close.
func Listen(addr string, h Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{h: h, ln: ln, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops listening, closes every connection and waits for their
// goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond): // e.g. EMFILE: back off
			}
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	r := bufio.NewReaderSize(c, 1024)
	var hdr [7]byte
	var pdu [256]byte
	out := make([]byte, 0, 300)
	var req Request
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[4:6])) - 1 // the length counts the unit id
		if binary.BigEndian.Uint16(hdr[2:4]) != 0 || n < 1 || n > len(pdu) {
			return // not Modbus: drop the connection
		}
		if _, err := io.ReadFull(r, pdu[:n]); err != nil {
			return
		}
		reply, exc := s.decode(&req, hdr[6], pdu[:n])
		if exc == 0 {
			reply = s.h.ServeModbus(&req)
			if reply.Exception == 0 {
				exc = check(&req, &reply)
			}
		} else {
			reply = Reply{Exception: exc}
		}
		if reply.NoReply {
			continue
		}
		if reply.Delay > 0 {
			t := time.NewTimer(reply.Delay)
			select {
			case <-s.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		if exc == 0 {
			exc = reply.Exception
		}
		out = encode(out[:0], hdr[:], &req, pdu[:n], &reply, exc)
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// decode fills req from a PDU and returns an exception code for a request
// that is malformed.
func (s *Server) decode(req *Request, unit byte, p []byte) (Reply, byte) {
	*req = Request{Unit: unit, Function: p[0], Registers: req.Registers[:0], Bits: req.Bits[:0]}
	d := p[1:]
	switch req.Function {
	case ReadCoils, ReadDiscreteInputs, ReadHoldingRegisters, ReadInputRegisters:
		if len(d) != 4 {
			return Reply{}, IllegalDataValue
		}
		req.Addr, req.Quantity = binary.BigEndian.Uint16(d), binary.BigEndian.Uint16(d[2:])
		limit := uint16(125)
		if req.Function == ReadCoils || req.Function == ReadDiscreteInputs {
			limit = 2000
		}
		if req.Quantity < 1 || req.Quantity > limit {
			return Reply{}, IllegalDataValue
		}
		if int(req.Addr)+int(req.Quantity) > 0x10000 {
			return Reply{}, IllegalDataAddress
		}
	case WriteSingleCoil:
		if len(d) != 4 {
			return Reply{}, IllegalDataValue
		}
		req.Addr, req.Quantity = binary.BigEndian.Uint16(d), 1
		switch binary.BigEndian.Uint16(d[2:]) {
		case 0xFF00:
			req.Bits = append(req.Bits, true)
		case 0x0000:
			req.Bits = append(req.Bits, false)
		default:
			return Reply{}, IllegalDataValue
		}
	case WriteSingleRegister:
		if len(d) != 4 {
			return Reply{}, IllegalDataValue
		}
		req.Addr, req.Quantity = binary.BigEndian.Uint16(d), 1
		req.Registers = append(req.Registers, binary.BigEndian.Uint16(d[2:]))
	case WriteMultipleCoils:
		if len(d) < 5 {
			return Reply{}, IllegalDataValue
		}
		req.Addr, req.Quantity = binary.BigEndian.Uint16(d), binary.BigEndian.Uint16(d[2:])
		nb := (int(req.Quantity) + 7) / 8
		if req.Quantity < 1 || req.Quantity > 1968 || int(d[4]) != nb || len(d) != 5+nb {
			return Reply{}, IllegalDataValue
		}
		if int(req.Addr)+int(req.Quantity) > 0x10000 {
			return Reply{}, IllegalDataAddress
		}
		for i := 0; i < int(req.Quantity); i++ {
			req.Bits = append(req.Bits, d[5+i/8]&(1<<(i%8)) != 0)
		}
	case WriteMultipleRegisters:
		if len(d) < 5 {
			return Reply{}, IllegalDataValue
		}
		req.Addr, req.Quantity = binary.BigEndian.Uint16(d), binary.BigEndian.Uint16(d[2:])
		if req.Quantity < 1 || req.Quantity > 123 || int(d[4]) != 2*int(req.Quantity) || len(d) != 5+2*int(req.Quantity) {
			return Reply{}, IllegalDataValue
		}
		if int(req.Addr)+int(req.Quantity) > 0x10000 {
			return Reply{}, IllegalDataAddress
		}
		for i := 0; i < int(req.Quantity); i++ {
			req.Registers = append(req.Registers, binary.BigEndian.Uint16(d[5+2*i:]))
		}
	default:
		return Reply{}, IllegalFunction
	}
	return Reply{}, 0
}

// check turns a handler's reply of the wrong size into a device failure.
func check(req *Request, r *Reply) byte {
	switch req.Function {
	case ReadHoldingRegisters, ReadInputRegisters:
		if len(r.Registers) != int(req.Quantity) {
			return ServerDeviceFailure
		}
	case ReadCoils, ReadDiscreteInputs:
		if len(r.Bits) != int(req.Quantity) {
			return ServerDeviceFailure
		}
	}
	return 0
}

func encode(out, hdr []byte, req *Request, pdu []byte, r *Reply, exc byte) []byte {
	out = append(out, hdr[0], hdr[1], 0, 0, 0, 0, hdr[6])
	if exc != 0 {
		out = append(out, req.Function|0x80, exc)
	} else {
		switch req.Function {
		case ReadHoldingRegisters, ReadInputRegisters:
			out = append(out, req.Function, byte(2*len(r.Registers)))
			for _, v := range r.Registers {
				out = binary.BigEndian.AppendUint16(out, v)
			}
		case ReadCoils, ReadDiscreteInputs:
			nb := (len(r.Bits) + 7) / 8
			out = append(out, req.Function, byte(nb))
			start := len(out)
			out = append(out, make([]byte, nb)...)
			for i, b := range r.Bits {
				if b {
					out[start+i/8] |= 1 << (i % 8)
				}
			}
		default: // writes echo address and value/quantity
			out = append(out, pdu[:5]...)
		}
	}
	binary.BigEndian.PutUint16(out[4:6], uint16(len(out)-6))
	return out
}
