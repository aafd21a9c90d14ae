package eichrecht

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/driverstest"
	"github.com/parkgrid/parkgrid/drivers/modbus"
)

const unit = 3

func testKey(t testing.TB) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// fakeMeter is a driverstest.Bus that behaves like the meter: a write to
// the control register makes a snapshot after busyPolls status reads.
type fakeMeter struct {
	*driverstest.Bus
	ocmf      func(kind byte, id string) string
	busyPolls int
	fail      bool // end in status 3
}

func newFakeMeter(t testing.TB) *fakeMeter {
	f := &fakeMeter{Bus: driverstest.New()}
	f.ocmf = func(kind byte, id string) string {
		payload := fmt.Sprintf(`{"FV":"1.0","ID":%q,"RD":[{"TX":"%c","RV":12.345,"RU":"kWh","ST":"G"}],"PAD":"%s"}`, id, kind, strings.Repeat("x", 400))
		return "OCMF|" + payload + `|{"SA":"ECDSA-secp256r1-SHA256","SD":"3045022100aa"}`
	}
	b := f.Bus
	b.Set(unit, driverstest.HoldingRegisters, 0, make([]uint16, 0x100)...)
	b.Set(unit, driverstest.HoldingRegisters, RegSnapshot, make([]uint16, 1024)...)
	// 12345678 Wh, -1500 W, currents, voltages
	b.Set(unit, driverstest.HoldingRegisters, 0, 0, 0, 0x00bc, 0x614e, 0xffff, 0xfa24, 0, 16000, 0, 15999, 0, 0, 2301, 2299, 2310)
	der := testKey(t)
	b.Set(unit, driverstest.HoldingRegisters, RegPublicKeyLen, uint16(len(der)))
	b.SetBytes(unit, driverstest.HoldingRegisters, RegPublicKey, der)
	var pending byte
	polls := 0
	b.OnWrite = func(c driverstest.Call) {
		if c.Addr != RegSnapshotStatus {
			return
		}
		pending = map[uint16]byte{1: 'B', 2: 'E', 3: 'C'}[c.Vals[0]]
		polls = 0
		b.Set(unit, driverstest.HoldingRegisters, RegSnapshotStatus, StatusBusy)
	}
	b.Reply = func(c driverstest.Call, p []byte) []byte {
		if c.Addr != RegSnapshotStatus || c.Write || pending == 0 {
			return p
		}
		polls++
		if polls <= f.busyPolls {
			return p
		}
		if f.fail {
			b.Set(unit, driverstest.HoldingRegisters, RegSnapshotStatus, StatusError)
			binary.BigEndian.PutUint16(p, StatusError)
			pending = 0
			return p
		}
		idb := make([]byte, 64)
		for i := range 32 {
			v, _ := b.Get(unit, driverstest.HoldingRegisters, RegIdentification+uint16(i))
			binary.BigEndian.PutUint16(idb[2*i:], v)
		}
		s := f.ocmf(pending, strings.TrimRight(string(idb), "\x00"))
		pending = 0
		b.Set(unit, driverstest.HoldingRegisters, RegSnapshot, make([]uint16, 1024)...)
		b.SetBytes(unit, driverstest.HoldingRegisters, RegSnapshot, []byte(s))
		cnt, _ := b.Get(unit, driverstest.HoldingRegisters, RegSnapshotCount)
		st := []uint16{StatusReady, uint16(len(s)), cnt + 1}
		b.Set(unit, driverstest.HoldingRegisters, RegSnapshotStatus, st...)
		for i, v := range st {
			binary.BigEndian.PutUint16(p[2*i:], v)
		}
		return p
	}
	return f
}

func fastOpts() Options {
	return Options{PollInterval: time.Millisecond, SnapshotTimeout: 2 * time.Second}
}

func TestSample(t *testing.T) {
	f := newFakeMeter(t)
	m := New("ev-12", f, unit, fastOpts())
	got, err := m.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := drivers.MeterSample{
		ImportWh:  12345678,
		PowerW:    -1500,
		CurrentMA: [3]int64{16000, 15999, 0},
		VoltageDV: [3]int64{2301, 2299, 2310},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wh, err := m.EnergyWh(context.Background())
	if err != nil || wh != 12345678 {
		t.Errorf("EnergyWh = %d, %v", wh, err)
	}
}

func TestSampleEnergyBeyondInt64(t *testing.T) {
	f := newFakeMeter(t)
	f.Set(unit, driverstest.HoldingRegisters, 0, 0x8000, 0, 0, 1)
	_, err := New("ev-12", f, unit, fastOpts()).Sample(context.Background())
	want := `eichrecht "ev-12": register 0x0000: energy 9223372036854775809 Wh beyond int64 (raw 8000 0000 0000 0001)`
	if err == nil || err.Error() != want || !errors.Is(err, drivers.ErrDecode) {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
}

func TestPublicKey(t *testing.T) {
	f := newFakeMeter(t)
	der := testKey(t)
	f.Set(unit, driverstest.HoldingRegisters, RegPublicKeyLen, uint16(len(der)))
	f.SetBytes(unit, driverstest.HoldingRegisters, RegPublicKey, der)
	got, err := New("ev-12", f, unit, fastOpts()).PublicKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(der, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestPublicKeyErrors(t *testing.T) {
	tests := []struct {
		name string
		regs []uint16 // from 0x0040
		want string
	}{
		{"zero length", []uint16{0}, `eichrecht "ev-12": register 0x0040: public key length 0 not in 1..128 (raw 0000)`},
		{"too long", []uint16{129}, `eichrecht "ev-12": register 0x0040: public key length 129 not in 1..128 (raw 0081)`},
		{"garbage", []uint16{4, 0xdead, 0xbeef}, `eichrecht "ev-12": register 0x0041: not a DER SubjectPublicKeyInfo`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMeter(t)
			f.Set(unit, driverstest.HoldingRegisters, RegPublicKeyLen, tt.regs...)
			_, err := New("ev-12", f, unit, fastOpts()).PublicKey(context.Background())
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, drivers.ErrDecode) {
				t.Errorf("err = %v\nwant  %s…", err, tt.want)
			}
		})
	}
}

func TestSnapshot(t *testing.T) {
	for _, kind := range []drivers.SnapshotKind{drivers.SnapshotBegin, drivers.SnapshotIntermediate, drivers.SnapshotEnd} {
		t.Run(kind.String(), func(t *testing.T) {
			f := newFakeMeter(t)
			f.busyPolls = 3
			m := New("ev-12", f, unit, fastOpts())
			got, err := m.Snapshot(context.Background(), kind, "04E1A2B3C4D5E6")
			if err != nil {
				t.Fatal(err)
			}
			want := f.ocmf(byte(kind), "04E1A2B3C4D5E6")
			if got != want {
				t.Errorf("snapshot = %q\nwant       %q", got, want)
			}
			// Chunks of at most 125 registers cover ceil(len/2) registers.
			var chunks []uint16
			for _, c := range f.Calls() {
				if c.Addr >= RegSnapshot {
					chunks = append(chunks, c.Qty)
				}
			}
			regs := (len(want) + 1) / 2
			wantChunks := []uint16{125, 125, uint16(regs - 250)}
			if diff := cmp.Diff(wantChunks, chunks); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			// Identification first, then control.
			w := f.Writes()
			if len(w) != 2 || w[0].Addr != RegIdentification || w[0].Qty != 32 || w[1].Addr != RegSnapshotStatus {
				t.Errorf("writes = %+v, want identification then control", w)
			}
		})
	}
}

func TestSnapshotWithoutIdentificationWritesOnlyControl(t *testing.T) {
	f := newFakeMeter(t)
	if _, err := New("ev-12", f, unit, fastOpts()).Snapshot(context.Background(), drivers.SnapshotEnd, ""); err != nil {
		t.Fatal(err)
	}
	w := f.Writes()
	if len(w) != 1 || w[0].Addr != RegSnapshotStatus || w[0].Vals[0] != 2 {
		t.Errorf("writes = %+v, want control=2 only", w)
	}
}

func TestSnapshotErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*fakeMeter)
		kind  drivers.SnapshotKind
		id    string
		is    error
		want  string
	}{
		{"meter error", func(f *fakeMeter) { f.fail = true }, 'B', "x", ErrSnapshotFailed,
			`eichrecht "ev-12": snapshot B: register 0x0010: meter reported snapshot error`},
		{"timeout", func(f *fakeMeter) { f.busyPolls = 1 << 30 }, 'B', "x", drivers.ErrTimeout,
			`eichrecht "ev-12": snapshot B: register 0x0010: timeout (no result within 50ms, status 1)`},
		{"busy before", func(f *fakeMeter) { f.Set(unit, driverstest.HoldingRegisters, RegSnapshotStatus, StatusBusy) }, 'E', "", ErrBusy,
			`eichrecht "ev-12": snapshot E: register 0x0010: meter busy with another snapshot`},
		{"bad kind", func(*fakeMeter) {}, 'X', "", drivers.ErrRange,
			`eichrecht "ev-12": snapshot kind 'X': value out of range (want B, C or E)`},
		{"identification too long", func(*fakeMeter) {}, 'B', strings.Repeat("a", 65), drivers.ErrRange,
			`eichrecht "ev-12": snapshot B: identification of 65 bytes: value out of range (at most 64)`},
		{"identification not ASCII", func(*fakeMeter) {}, 'B', "Jürgen", drivers.ErrRange,
			`eichrecht "ev-12": snapshot B: identification byte 1 is 0xc3: value out of range (printable ASCII only)`},
		{"no OCMF prefix", func(f *fakeMeter) { f.ocmf = func(byte, string) string { return "OCMX|{}|{}" } }, 'B', "x", drivers.ErrDecode,
			`eichrecht "ev-12": register 0x0100: snapshot does not start with "OCMF|" (raw 4f43 4d58 7c7b)`},
		{"NUL inside", func(f *fakeMeter) { f.ocmf = func(byte, string) string { return "OCMF|{\x00}|{}" } }, 'B', "x", drivers.ErrDecode,
			`eichrecht "ev-12": register 0x0103: NUL at byte 6 of the 11-byte snapshot (raw 007d)`},
		{"length too large", func(f *fakeMeter) { f.ocmf = func(byte, string) string { return "OCMF|" + strings.Repeat("a", 2044) } }, 'B', "x", drivers.ErrDecode,
			`eichrecht "ev-12": register 0x0011: snapshot length 2049 not in 5..2048 (raw 0801)`},
		{"exception on control", func(f *fakeMeter) {
			f.Fail = func(c driverstest.Call) error {
				if c.Write && c.Addr == RegSnapshotStatus {
					return &modbus.ExceptionError{Function: 6, Code: modbus.ExceptionIllegalDataValue}
				}
				return nil
			}
		}, 'B', "x", modbus.ErrException,
			`eichrecht "ev-12": snapshot B: write control 0x0010=1: modbus exception 3 (illegal data value) for function 6`},
		{"timeout on chunk", func(f *fakeMeter) {
			f.Fail = func(c driverstest.Call) error {
				if c.Addr == RegSnapshot+125 {
					return modbus.ErrTimeout
				}
				return nil
			}
		}, 'B', "x", drivers.ErrTimeout,
			`eichrecht "ev-12": snapshot B: eichrecht "ev-12": read 0x017d+125: timeout`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeMeter(t)
			tt.setup(f)
			opts := fastOpts()
			opts.SnapshotTimeout = 50 * time.Millisecond
			_, err := New("ev-12", f, unit, opts).Snapshot(context.Background(), tt.kind, tt.id)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if err.Error() != tt.want {
				t.Errorf("err = %q\nwant  %q", err, tt.want)
			}
		})
	}
}

func TestDecodeOCMFShort(t *testing.T) {
	if _, err := DecodeOCMF("m", []byte("OCMF|"), 8); !errors.Is(err, drivers.ErrShortReply) {
		t.Errorf("err = %v, want ErrShortReply", err)
	}
}

func FuzzEichrechtDecodeSample(f *testing.F) {
	f.Add(make([]byte, 30))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeSample("fuzz", b)
		if err != nil {
			return
		}
		if s.ImportWh < 0 {
			t.Fatalf("negative energy %d", s.ImportWh)
		}
	})
}

func FuzzEichrechtDecodeOCMF(f *testing.F) {
	f.Add([]byte(`OCMF|{"FV":"1.0"}|{"SD":"00"}`+"\x00"), 27)
	f.Add([]byte("OCMF|\x00"), 6)
	f.Add([]byte(""), 0)
	f.Add([]byte("OCMF"), 5000)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		s, err := DecodeOCMF("fuzz", b, n)
		if err != nil {
			return
		}
		if len(s) != n || !strings.HasPrefix(s, "OCMF|") || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("accepted %q for length %d", s, n)
		}
	})
}

func FuzzEichrechtDecodePublicKey(f *testing.F) {
	der := testKey(f)
	b := make([]byte, 2+len(der))
	binary.BigEndian.PutUint16(b, uint16(len(der)))
	copy(b[2:], der)
	f.Add(b)
	f.Add([]byte{0, 200})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := DecodePublicKey("fuzz", b)
		if err != nil {
			return
		}
		if _, err := x509.ParsePKIXPublicKey(key); err != nil {
			t.Fatalf("returned a key that does not parse: %v", err)
		}
	})
}
