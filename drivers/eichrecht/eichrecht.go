// Package eichrecht reads the parkgrid Eichrecht (calibration-law) meter:
// live values, and signed OCMF snapshots for billing.
//
// Register map (holding registers: FC03 read, FC06/FC16 write; integers
// unsigned unless stated, high word first; docs/registers.md):
//
//	addr    regs  value
//	0x0000  4     import energy, Wh (uint64)
//	0x0004  2     active power, W (int32)
//	0x0006  6     current L1, L2, L3, mA (uint32 each)
//	0x000C  3     voltage L1, L2, L3, 0.1 V (uint16 each)
//	0x0010  1     snapshot control/status. Write 1 = begin (TX "B"), 2 = end
//	              ("E"), 3 = intermediate ("C"). Read: 0 idle, 1 busy,
//	              2 ready, 3 error
//	0x0011  1     snapshot length in bytes
//	0x0012  1     snapshot counter (+1 per snapshot, wraps at 65535)
//	0x0014  32    identification (ASCII, 64 bytes, NUL padded), lands in the
//	              OCMF ID field
//	0x0040  1     public key length in bytes
//	0x0041  64    public key, DER SubjectPublicKeyInfo, 2 bytes per register,
//	              zero padded
//	0x0100  ≤1024 last snapshot: the OCMF string, ASCII, 2 characters per
//	              register, NUL padded; read in chunks of ≤125 registers
//
// Snapshot protocol, as Snapshot runs it:
//
//  1. read 0x0010..0x0012 (status, length, counter); a meter busy with
//     another snapshot is an error;
//  2. write the identification (FC16, 32 registers) when one is given;
//  3. write the control register (FC06) with 1, 2 or 3;
//  4. poll 0x0010..0x0012 every Options.PollInterval until status 2 (ready)
//     with a counter different from step 1, or status 3 (error), or
//     Options.SnapshotTimeout;
//  5. read ceil(length/2) registers from 0x0100 in chunks of ≤125;
//  6. check the string: length bytes, starting "OCMF|", no NUL inside.
//
// The OCMF string, `OCMF|{payload}|{"SA":"ECDSA-secp256r1-SHA256","SD":"<hex DER>"}`,
// is returned as the exact bytes the meter signed; the driver never parses
// or re-serialises the JSON.
package eichrecht

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/drivers"
)

// Registers is what the meter needs from a Modbus bus.
type Registers interface {
	ReadHoldingRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	WriteSingleRegister(ctx context.Context, unit uint8, addr, value uint16) error
	WriteMultipleRegisters(ctx context.Context, unit uint8, addr uint16, values []byte) error
}

// Register addresses.
const (
	RegImportWh       uint16 = 0x0000
	RegPowerW         uint16 = 0x0004
	RegCurrentMA      uint16 = 0x0006
	RegVoltageDV      uint16 = 0x000C
	RegSnapshotStatus uint16 = 0x0010
	RegSnapshotLength uint16 = 0x0011
	RegSnapshotCount  uint16 = 0x0012
	RegIdentification uint16 = 0x0014
	RegPublicKeyLen   uint16 = 0x0040
	RegPublicKey      uint16 = 0x0041
	RegSnapshot       uint16 = 0x0100

	SampleRegisters  uint16 = 15   // 0x0000..0x000E, read by Sample
	IdentBytes              = 64   // identification field size
	PublicKeyMax            = 128  // bytes in 64 registers
	SnapshotMaxBytes        = 2048 // 1024 registers
	chunkRegisters   uint16 = 125
)

// Snapshot status values at RegSnapshotStatus.
const (
	StatusIdle  uint16 = 0
	StatusBusy  uint16 = 1
	StatusReady uint16 = 2
	StatusError uint16 = 3
)

// ErrSnapshotFailed: the meter reported status 3 (error) for a snapshot.
var ErrSnapshotFailed = errors.New("meter reported snapshot error")

// ErrBusy: the meter is still working on another snapshot.
var ErrBusy = errors.New("meter busy with another snapshot")

// Options tune the snapshot protocol. Zero fields take the defaults.
type Options struct {
	PollInterval    time.Duration // status poll period, default 50 ms
	SnapshotTimeout time.Duration // whole snapshot, default 10 s
}

// Meter is one Eichrecht meter on a bus.
type Meter struct {
	name string
	unit uint8
	regs Registers
	opts Options
}

var (
	_ drivers.Meter         = (*Meter)(nil)
	_ drivers.EnergyMeter   = (*Meter)(nil)
	_ drivers.SnapshotMeter = (*Meter)(nil)
)

// New returns the meter called name (used in errors) at unit on regs.
func New(name string, regs Registers, unit uint8, opts Options) *Meter {
	if opts.PollInterval <= 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	if opts.SnapshotTimeout <= 0 {
		opts.SnapshotTimeout = 10 * time.Second
	}
	return &Meter{name: name, unit: unit, regs: regs, opts: opts}
}

func (m *Meter) errorf(format string, args ...any) error {
	return fmt.Errorf("eichrecht %q: "+format, append([]any{m.name}, args...)...)
}

func (m *Meter) read(ctx context.Context, addr, qty uint16) ([]byte, error) {
	b, err := m.regs.ReadHoldingRegisters(ctx, m.unit, addr, qty)
	if err != nil {
		return nil, m.errorf("read 0x%04x+%d: %w", addr, qty, err)
	}
	if len(b) < 2*int(qty) {
		return nil, m.errorf("read 0x%04x+%d: %w (%d of %d bytes)", addr, qty, drivers.ErrShortReply, len(b), 2*qty)
	}
	return b[:2*qty], nil
}

// Sample reads energy, power, currents and voltages in one request.
func (m *Meter) Sample(ctx context.Context) (drivers.MeterSample, error) {
	b, err := m.read(ctx, RegImportWh, SampleRegisters)
	if err != nil {
		return drivers.MeterSample{}, err
	}
	return DecodeSample(m.name, b)
}

// EnergyWh reads the import energy counter.
func (m *Meter) EnergyWh(ctx context.Context) (int64, error) {
	b, err := m.read(ctx, RegImportWh, 4)
	if err != nil {
		return 0, err
	}
	return decodeEnergy(m.name, b)
}

func decodeEnergy(name string, b []byte) (int64, error) {
	wh := binary.BigEndian.Uint64(b)
	if wh > math.MaxInt64 {
		return 0, &drivers.DecodeError{Device: "eichrecht", Name: name, Register: RegImportWh, Raw: b[:8], What: fmt.Sprintf("energy %d Wh beyond int64", wh)}
	}
	return int64(wh), nil
}

// DecodeSample decodes registers 0x0000..0x000E (30 bytes).
func DecodeSample(name string, b []byte) (drivers.MeterSample, error) {
	var s drivers.MeterSample
	if len(b) != 2*int(SampleRegisters) {
		return s, fmt.Errorf("eichrecht %q: registers 0x0000+%d: %w (%d of %d bytes)", name, SampleRegisters, drivers.ErrShortReply, len(b), 2*SampleRegisters)
	}
	wh, err := decodeEnergy(name, b)
	if err != nil {
		return s, err
	}
	s.ImportWh = wh
	s.PowerW = int64(int32(binary.BigEndian.Uint32(b[2*RegPowerW:])))
	for i := range 3 {
		s.CurrentMA[i] = int64(binary.BigEndian.Uint32(b[2*RegCurrentMA+4*uint16(i):]))
		s.VoltageDV[i] = int64(binary.BigEndian.Uint16(b[2*RegVoltageDV+2*uint16(i):]))
	}
	return s, nil
}

// PublicKey reads the meter's public key (DER SubjectPublicKeyInfo) in one
// request of 65 registers and checks that it parses.
func (m *Meter) PublicKey(ctx context.Context) ([]byte, error) {
	b, err := m.read(ctx, RegPublicKeyLen, 1+PublicKeyMax/2)
	if err != nil {
		return nil, err
	}
	return DecodePublicKey(m.name, b)
}

// DecodePublicKey decodes registers 0x0040..0x0080: the length, then the
// key bytes. It returns a copy of the key.
func DecodePublicKey(name string, b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("eichrecht %q: register 0x%04x: %w (%d bytes)", name, RegPublicKeyLen, drivers.ErrShortReply, len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if n == 0 || n > PublicKeyMax {
		return nil, &drivers.DecodeError{Device: "eichrecht", Name: name, Register: RegPublicKeyLen, Raw: b[:2], What: fmt.Sprintf("public key length %d not in 1..%d", n, PublicKeyMax)}
	}
	if len(b) < 2+n {
		return nil, fmt.Errorf("eichrecht %q: register 0x%04x: %w (%d of %d key bytes)", name, RegPublicKey, drivers.ErrShortReply, len(b)-2, n)
	}
	key := append([]byte(nil), b[2:2+n]...)
	if _, err := x509.ParsePKIXPublicKey(key); err != nil {
		return nil, &drivers.DecodeError{Device: "eichrecht", Name: name, Register: RegPublicKey, Raw: key[:min(8, n)], What: "not a DER SubjectPublicKeyInfo: " + err.Error()}
	}
	return key, nil
}

// control maps a snapshot kind to the control register value.
func control(kind drivers.SnapshotKind) (uint16, bool) {
	switch kind {
	case drivers.SnapshotBegin:
		return 1, true
	case drivers.SnapshotEnd:
		return 2, true
	case drivers.SnapshotIntermediate:
		return 3, true
	}
	return 0, false
}

// EncodeIdentification checks id (printable ASCII, at most 64 bytes) and
// pads it with NUL to the 64 bytes written at 0x0014.
func EncodeIdentification(id string) ([]byte, error) {
	if len(id) > IdentBytes {
		return nil, fmt.Errorf("identification of %d bytes: %w (at most %d)", len(id), drivers.ErrRange, IdentBytes)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return nil, fmt.Errorf("identification byte %d is 0x%02x: %w (printable ASCII only)", i, id[i], drivers.ErrRange)
		}
	}
	out := make([]byte, IdentBytes)
	copy(out, id)
	return out, nil
}

type status struct {
	state, length, counter uint16
}

func (m *Meter) status(ctx context.Context) (status, error) {
	b, err := m.read(ctx, RegSnapshotStatus, 3)
	if err != nil {
		return status{}, err
	}
	return status{binary.BigEndian.Uint16(b), binary.BigEndian.Uint16(b[2:]), binary.BigEndian.Uint16(b[4:])}, nil
}

// Snapshot asks the meter for a signed snapshot of kind and returns the
// OCMF string. identification, when not empty, is written first (it is
// required for a begin snapshot to carry the session's ID).
func (m *Meter) Snapshot(ctx context.Context, kind drivers.SnapshotKind, identification string) (string, error) {
	code, ok := control(kind)
	if !ok {
		return "", m.errorf("snapshot kind %q: %w (want B, C or E)", byte(kind), drivers.ErrRange)
	}
	var ident []byte
	if identification != "" {
		var err error
		if ident, err = EncodeIdentification(identification); err != nil {
			return "", m.errorf("snapshot %s: %w", kind, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, m.opts.SnapshotTimeout)
	defer cancel()

	before, err := m.status(ctx)
	if err != nil {
		return "", m.errorf("snapshot %s: %w", kind, err)
	}
	if before.state == StatusBusy {
		return "", m.errorf("snapshot %s: register 0x%04x: %w", kind, RegSnapshotStatus, ErrBusy)
	}
	if ident != nil {
		if err := m.regs.WriteMultipleRegisters(ctx, m.unit, RegIdentification, ident); err != nil {
			return "", m.errorf("snapshot %s: write identification 0x%04x: %w", kind, RegIdentification, err)
		}
	}
	if err := m.regs.WriteSingleRegister(ctx, m.unit, RegSnapshotStatus, code); err != nil {
		return "", m.errorf("snapshot %s: write control 0x%04x=%d: %w", kind, RegSnapshotStatus, code, err)
	}

	ticker := time.NewTicker(m.opts.PollInterval)
	defer ticker.Stop()
	st := before
	timedOut := func() error {
		return m.errorf("snapshot %s: register 0x%04x: %w (no result within %v, status %d)", kind, RegSnapshotStatus, drivers.ErrTimeout, m.opts.SnapshotTimeout, st.state)
	}
	for {
		next, err := m.status(ctx)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", timedOut()
			}
			return "", m.errorf("snapshot %s: %w", kind, err)
		}
		st = next
		if st.state == StatusError {
			return "", m.errorf("snapshot %s: register 0x%04x: %w", kind, RegSnapshotStatus, ErrSnapshotFailed)
		}
		if st.state == StatusReady && st.counter != before.counter {
			break
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", timedOut()
			}
			return "", m.errorf("snapshot %s: %w", kind, ctx.Err())
		case <-ticker.C:
		}
	}

	n := int(st.length)
	if n < len("OCMF|") || n > SnapshotMaxBytes {
		raw := []byte{byte(st.length >> 8), byte(st.length)}
		return "", &drivers.DecodeError{Device: "eichrecht", Name: m.name, Register: RegSnapshotLength, Raw: raw, What: fmt.Sprintf("snapshot length %d not in 5..%d", n, SnapshotMaxBytes)}
	}
	regs := uint16((n + 1) / 2)
	buf := make([]byte, 0, 2*int(regs))
	for off := uint16(0); off < regs; off += chunkRegisters {
		q := min(chunkRegisters, regs-off)
		b, err := m.read(ctx, RegSnapshot+off, q)
		if err != nil {
			return "", m.errorf("snapshot %s: %w", kind, err)
		}
		buf = append(buf, b...)
	}
	return DecodeOCMF(m.name, buf, n)
}

// DecodeOCMF takes the snapshot registers read from 0x0100 and the length
// from 0x0011 and returns the OCMF string: exactly n bytes, starting
// "OCMF|", with no NUL inside.
func DecodeOCMF(name string, b []byte, n int) (string, error) {
	if n < 0 || n > SnapshotMaxBytes {
		return "", fmt.Errorf("eichrecht %q: register 0x%04x: %w: snapshot length %d not in 0..%d", name, RegSnapshotLength, drivers.ErrDecode, n, SnapshotMaxBytes)
	}
	if len(b) < n {
		return "", fmt.Errorf("eichrecht %q: register 0x%04x: %w (%d of %d snapshot bytes)", name, RegSnapshot, drivers.ErrShortReply, len(b), n)
	}
	s := b[:n]
	if !strings.HasPrefix(string(s), "OCMF|") {
		return "", &drivers.DecodeError{Device: "eichrecht", Name: name, Register: RegSnapshot, Raw: s[:min(6, n)], What: `snapshot does not start with "OCMF|"`}
	}
	if i := strings.IndexByte(string(s), 0); i >= 0 {
		reg := RegSnapshot + uint16(i/2)
		lo := i &^ 1
		return "", &drivers.DecodeError{Device: "eichrecht", Name: name, Register: reg, Raw: s[lo:min(lo+2, n)], What: fmt.Sprintf("NUL at byte %d of the %d-byte snapshot", i, n)}
	}
	return string(s), nil
}
