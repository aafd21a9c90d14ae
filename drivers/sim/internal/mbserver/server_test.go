package mbserver

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"testing"
	"time"
)

func serve(t *testing.T, h HandlerFunc) net.Conn {
	t.Helper()
	s, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func roundTrip(t *testing.T, c net.Conn, reqHex string) string {
	t.Helper()
	req, _ := hex.DecodeString(reqHex)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	hdr := make([]byte, 6)
	if _, err := io.ReadFull(c, hdr); err != nil {
		t.Fatalf("request %s: %v", reqHex, err)
	}
	rest := make([]byte, int(hdr[4])<<8|int(hdr[5]))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(append(hdr, rest...))
}

func TestFramesAndExceptions(t *testing.T) {
	var got []Request
	c := serve(t, func(r *Request) Reply {
		cp := *r
		cp.Registers = append([]uint16(nil), r.Registers...)
		cp.Bits = append([]bool(nil), r.Bits...)
		got = append(got, cp)
		switch {
		case r.Unit == 9:
			return Reply{NoReply: true}
		case r.Function == ReadInputRegisters:
			out := make([]uint16, r.Quantity)
			for i := range out {
				out[i] = 0x0100 + uint16(i)
			}
			return Reply{Registers: out}
		case r.Function == ReadDiscreteInputs:
			return Reply{Bits: []bool{true, false, true, true, false, false, false, false, true}[:r.Quantity]}
		case r.Function == ReadHoldingRegisters:
			return Reply{Registers: []uint16{1}} // wrong size on purpose
		}
		return Reply{}
	})
	for _, tc := range []struct{ name, req, want string }{
		{"read input", "0001000000060104000a0002", "00010000000701040401000101"},
		{"read bits", "000200000006010200000009", "0002000000050102020d01"},
		{"quantity 0", "000300000006010400000000", "000300000003018403"},
		{"quantity 126", "00040000000601040000007e", "000400000003018403"},
		{"unknown function", "000500000002012b", "00050000000301ab01"},
		{"handler size mismatch", "000600000006010300000002", "000600000003018304"},
		{"write coil", "000700000006010501900000", "000700000006010501900000"},
		{"bad coil value", "000800000006010501901234", "000800000003018503"},
		{"write registers", "00090000000b01100210000204001e0005", "000900000006011002100002"},
		{"write coils", "000a00000009010f0000000a020501", "000a00000006010f0000000a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := roundTrip(t, c, tc.req); got != tc.want {
				t.Errorf("request %s: reply %s, want %s", tc.req, got, tc.want)
			}
		})
	}
	if last := got[len(got)-1]; !bytes.Equal(boolBytes(last.Bits), boolBytes([]bool{true, false, true, false, false, false, false, false, true, false})) {
		t.Errorf("coils decoded as %v", last.Bits)
	}
	if w := got[len(got)-2]; w.Addr != 0x210 || len(w.Registers) != 2 || w.Registers[0] != 0x1e || w.Registers[1] != 5 {
		t.Errorf("registers decoded as %+v", w)
	}
	// No reply for unit 9; the next request on the connection is answered.
	req, _ := hex.DecodeString("001000000006090400000001")
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if got := roundTrip(t, c, "0011000000060104000a0001"); got != "0011000000050104020100" {
		t.Errorf("after a silent unit: %s", got)
	}
}

func boolBytes(b []bool) []byte {
	out := make([]byte, len(b))
	for i, v := range b {
		if v {
			out[i] = 1
		}
	}
	return out
}

func TestNotModbusClosesTheConnection(t *testing.T) {
	c := serve(t, func(r *Request) Reply { return Reply{} })
	req, _ := hex.DecodeString("000100010006010400000001") // protocol id 1
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after a bad protocol id: %v, want EOF", err)
	}
}

func TestDelayAndClose(t *testing.T) {
	called := make(chan struct{}, 1)
	s, err := Listen("127.0.0.1:0", HandlerFunc(func(r *Request) Reply {
		called <- struct{}{}
		return Reply{Registers: make([]uint16, r.Quantity), Delay: time.Hour}
	}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := hex.DecodeString("000100000006010400000001")
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	<-called // the server is now (about to be) waiting out the delay
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a delayed reply")
	}
}

// FuzzDecode feeds arbitrary PDUs to the request decoder and the encoder:
// no panic, and a decoded request is within the Modbus limits.
func FuzzDecode(f *testing.F) {
	for _, h := range []string{"0400000050", "0f0000000a020501", "1002100002041e0005", "0501900000", "2b"} {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, pdu []byte) {
		if len(pdu) == 0 || len(pdu) > 253 {
			return
		}
		var s Server
		var req Request
		_, exc := s.decode(&req, 1, pdu)
		if exc != 0 {
			out := encode(nil, make([]byte, 7), &req, pdu, &Reply{}, exc)
			if len(out) != 9 {
				t.Fatalf("exception frame of %d bytes", len(out))
			}
			return
		}
		if int(req.Addr)+int(req.Quantity) > 0x10000 || req.Quantity == 0 {
			t.Fatalf("accepted %+v", req)
		}
		r := Reply{Registers: make([]uint16, req.Quantity), Bits: make([]bool, req.Quantity)}
		if req.Quantity > 125 && (req.Function == ReadHoldingRegisters || req.Function == ReadInputRegisters) {
			t.Fatalf("register read of %d accepted", req.Quantity)
		}
		if check(&req, &r) != 0 {
			t.Fatalf("reply of the right size rejected")
		}
		pad := append(append([]byte(nil), pdu...), 0, 0, 0, 0, 0)
		_ = encode(nil, make([]byte, 7), &req, pad, &r, 0)
	})
}
