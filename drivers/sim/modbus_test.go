package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grid-x/modbus"
)

// TestControllerServesTheEVETHMap: the simulated controller answers the
// registers of the EV-ETH map evcc uses, and exception 02 for every other
// address, so a driver that strays from the vendor map fails against it.
func TestControllerServesTheEVETHMap(t *testing.T) {
	s := startSim(t, quietSite)
	ctl := dial(t, s.ModbusAddr(MainListener), 11) // p1's controller, wired L1L2L3
	if err := s.PlugCar("p1", Car{Phases: 3, MaxA: 32}); err != nil {
		t.Fatal(err)
	}
	ctl.writeReg(regMaxA, 20)
	s.Step(100 * time.Second)
	in := ctl.input(regState, 1)
	if in[0] != 'C' {
		t.Errorf("input 100 = %#04x, want 'C' in the low byte", in[0])
	}
	// 102–103: charge time, low word first.
	if got := ctl.input(regChargeTime, 2); got[0] != 100 || got[1] != 0 {
		t.Errorf("charge time %v, want [100 0] (s, low word first)", got)
	}
	if got := ctl.input(regFirmware, 2); !slicesEqual(got, simFirmware[:]) {
		t.Errorf("firmware %v", got)
	}
	// 108..121: voltages, currents, power, low word first.
	m := ctl.input(regVoltages, 14)
	want := []uint16{230, 0, 230, 0, 230, 0, 20, 0, 20, 0, 20, 0, 13800, 0}
	if !slicesEqual(m, want) {
		t.Errorf("input 108..121 = %v, want %v", m, want)
	}
	if got := ctl.holding(regMaxA, 1); got[0] != 20 {
		t.Errorf("holding 528 = %d, want 20", got[0])
	}
	if got := ctl.holding(phxEnergyWh, 2); got[0] != 383 || got[1] != 0 { // 13.8 kW × 100 s
		t.Errorf("holding 904 = %v, want [383 0]", got)
	}
	bits, err := ctl.c.ReadCoils(context.Background(), coilEnable, 1)
	if err != nil || bits[0] != 1 {
		t.Errorf("coil 400 = %v, %v", bits, err)
	}

	illegal := func(what string, err error) {
		t.Helper()
		var me *modbus.Error
		if !errors.As(err, &me) || me.ExceptionCode != modbus.ExceptionCodeIllegalDataAddress {
			t.Errorf("%s: err %v, want exception 02", what, err)
		}
	}
	for _, r := range [][2]uint16{{101, 1}, {100, 3}, {104, 1}, {107, 1}, {122, 1}, {0, 1}} {
		_, err := ctl.c.ReadInputRegisters(context.Background(), r[0], r[1])
		illegal("read input "+itoa(r[0])+"+"+itoa(r[1]), err)
	}
	for _, r := range [][2]uint16{{529, 1}, {530, 1}, {528, 2}, {100, 1}, {906, 1}} {
		_, err := ctl.c.ReadHoldingRegisters(context.Background(), r[0], r[1])
		illegal("read holding "+itoa(r[0])+"+"+itoa(r[1]), err)
	}
	for _, a := range []uint16{529, 530, 904} {
		_, err := ctl.c.WriteSingleRegister(context.Background(), a, 6)
		illegal("write holding "+itoa(a), err)
	}
	_, err = ctl.c.WriteMultipleRegisters(context.Background(), regMaxA, 1, []byte{0, 16})
	var me *modbus.Error
	if !errors.As(err, &me) || me.ExceptionCode != modbus.ExceptionCodeIllegalFunction {
		t.Errorf("FC16 to 528: err %v, want exception 01 (the map writes 528 with FC06)", err)
	}
}

func slicesEqual(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func itoa(v uint16) string { return strconv.Itoa(int(v)) }

// TestControllerFaults: reboot to power-on defaults, writes refused while
// reads work, a car drawing more than offered, a reversed CT.
func TestControllerFaults(t *testing.T) {
	s := startSim(t, quietSite)
	ctl := dial(t, s.ModbusAddr(MainListener), 11)
	if err := s.PlugCar("p1", Car{Phases: 3, MaxA: 32}); err != nil {
		t.Fatal(err)
	}
	ctl.writeReg(regMaxA, 10)
	if _, err := ctl.c.WriteSingleCoil(context.Background(), coilEnable, 0x0000); err != nil {
		t.Fatal(err)
	}
	inject := func(f Fault) {
		t.Helper()
		if err := s.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	// Reboot: back to enabled at the power-on current (32 A in quietSite).
	inject(Fault{Device: "p1", Kind: FaultReboot})
	s.Step(time.Second)
	if p := pointState(t, s, "p1"); !p.Enabled || p.SetpointA != 32 || p.OfferedA != 32 || p.State != "C" {
		t.Errorf("after reboot: enabled %v, setpoint %d, offered %d, state %s; want enabled at 32 A, charging", p.Enabled, p.SetpointA, p.OfferedA, p.State)
	}
	// Writes refused, reads fine.
	inject(Fault{Device: "p1", Kind: FaultRefuseWrites})
	_, err := ctl.c.WriteSingleRegister(context.Background(), regMaxA, 6)
	var me *modbus.Error
	if !errors.As(err, &me) || me.ExceptionCode != modbus.ExceptionCodeServerDeviceFailure {
		t.Errorf("write while refusing: %v, want exception 04", err)
	}
	if _, err := ctl.c.WriteSingleCoil(context.Background(), coilEnable, 0x0000); !errors.As(err, &me) {
		t.Errorf("coil write while refusing: %v, want an exception", err)
	}
	if got := ctl.holding(regMaxA, 1); got[0] != 32 {
		t.Errorf("holding 528 = %d after a refused write, want 32", got[0])
	}
	inject(Fault{Device: "p1", Kind: FaultClear})
	// Ignoring its setpoint: 6 A offered, the car draws 32 A.
	ctl.writeReg(regMaxA, 6)
	inject(Fault{Device: "p1", Kind: FaultIgnoreSetpoint})
	s.Step(time.Second)
	if p := pointState(t, s, "p1"); p.OfferedA != 6 || p.CurrentA != [3]float64{32, 32, 32} || !p.IgnoresSetpoint {
		t.Errorf("ignoring: offered %d A, draws %v A; want 6 and 32", p.OfferedA, p.CurrentA)
	}
	inject(Fault{Device: "p1", Kind: FaultClear})
	// Reversed CT on the grid meter's L2: negative current and power.
	inject(Fault{Device: "grid", Kind: FaultReversedCT, Value: ptr(2.0)})
	st := s.State()
	if st.Grid.CurrentA[1] >= 0 || st.Grid.PowerW[1] >= 0 || st.Grid.CurrentA[0] <= 0 {
		t.Errorf("reversed CT on L2: currents %v, powers %v", st.Grid.CurrentA, st.Grid.PowerW)
	}
	if err := s.InjectFault(Fault{Device: "grid", Kind: FaultReversedCT, Value: ptr(4.0)}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("phase 4: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestControllerRejectsBadCurrentsAndLogsWrites(t *testing.T) {
	s := startSim(t, quietSite)
	ctl := dial(t, s.ModbusAddr(MainListener), 12)
	for _, v := range []uint16{0, 1, 5, 64} {
		_, err := ctl.c.WriteSingleRegister(context.Background(), regMaxA, v)
		var me *modbus.Error
		if !errors.As(err, &me) || me.ExceptionCode != modbus.ExceptionCodeIllegalDataValue {
			t.Errorf("setpoint %d A: err %v, want illegal data value", v, err)
		}
	}
	ctl.writeReg(regMaxA, 6)
	ctl.writeReg(regMaxA, 13)
	if _, err := ctl.c.WriteSingleCoil(context.Background(), coilEnable, 0x0000); err != nil {
		t.Fatal(err)
	}
	p := pointState(t, s, "p2")
	if p.SetpointA != 13 || p.LastSetpoint == nil || p.LastSetpoint.Value != 13 || p.SetpointWrites != 2 {
		t.Errorf("setpoint %d, last %+v, writes %d; want 13, 13, 2", p.SetpointA, p.LastSetpoint, p.SetpointWrites)
	}
	if p.LastSetpoint != nil && !p.LastSetpoint.At.Equal(s.Now()) {
		t.Errorf("write time %v, want %v", p.LastSetpoint.At, s.Now())
	}
	if p.Enabled || p.LastEnable == nil || p.LastEnable.Value != 0 {
		t.Errorf("enable %v (last %+v), want off", p.Enabled, p.LastEnable)
	}
	ws := s.State().Writes
	if len(ws) != 3 || ws[0].What != "setpoint" || ws[1].Value != 13 || ws[2].What != "enable" || ws[2].Device != "p2" {
		t.Errorf("write log %+v", ws)
	}
	// An unknown unit is a gateway exception, not a timeout.
	_, err := dial(t, s.ModbusAddr(MainListener), 99).c.ReadInputRegisters(context.Background(), 0, 2)
	var me *modbus.Error
	if !errors.As(err, &me) || me.ExceptionCode != 0x0B {
		t.Errorf("unit 99: %v, want exception 0x0B", err)
	}
}

func TestOfflineAndSlowUnits(t *testing.T) {
	s := startSim(t, quietSite)
	c := dial(t, s.ModbusAddr(MainListener), 1)
	c.h.Timeout = 200 * time.Millisecond
	if err := s.InjectFault(Fault{Device: "grid", Kind: FaultOffline}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.c.ReadInputRegisters(context.Background(), 0, 2); err == nil {
		t.Fatal("offline meter answered")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("offline meter failed after %v, want a timeout", d)
	}
	// Its neighbours on the same connection still answer.
	c.unit(3).input(0, 2)
	v := 250.0
	if err := s.InjectFault(Fault{Device: "grid", Kind: FaultSlow, Value: &v}); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectFault(Fault{Device: "grid", Kind: FaultClear}); err != nil {
		t.Fatal(err)
	}
	c.h.Timeout = 2 * time.Second
	c.unit(1).input(0, 2)
	v = 100
	if err := s.InjectFault(Fault{Device: "grid", Kind: FaultSlow, Value: &v}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	c.input(0, 2)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("slow meter answered after %v, want ≥ 100 ms", d)
	}
}

func TestSDM630Registers(t *testing.T) {
	s := startSim(t, quietSite)
	if err := s.PlugCar("p1", Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	s.Step(time.Hour)
	c := dial(t, s.ModbusAddr(MainListener), 1)
	regs := c.input(0, 80)
	f := func(a int) float64 { return float64(math.Float32frombits(uint32(regs[a])<<16 | uint32(regs[a+1]))) }
	st := s.State()
	for g := range 3 {
		if f(2*g) != 230 {
			t.Errorf("voltage L%d %v", g+1, f(2*g))
		}
		if math.Abs(f(6+2*g)-st.Grid.CurrentA[g]) > 0.001 {
			t.Errorf("current L%d %v, state %v", g+1, f(6+2*g), st.Grid.CurrentA[g])
		}
		if math.Abs(f(0x0C+2*g)-st.Grid.PowerW[g]) > 0.1 {
			t.Errorf("power L%d %v, state %v", g+1, f(0x0C+2*g), st.Grid.PowerW[g])
		}
	}
	if f(0x34) != st.Grid.TotalPowerW || f(0x46) != 50 {
		t.Errorf("total %v W, frequency %v Hz", f(0x34), f(0x46))
	}
	if want := float64(float32(float64(st.Grid.ImportWh) / 1000)); f(0x48) != want {
		t.Errorf("import %v kWh, want %v", f(0x48), want)
	}
	tot := c.input(0x156, 2)
	if got := math.Float32frombits(uint32(tot[0])<<16 | uint32(tot[1])); float64(got) != f(0x48) {
		t.Errorf("total energy %v, import %v", got, f(0x48))
	}
	// Frozen counter: energy stops, power goes on.
	if err := s.InjectFault(Fault{Device: "grid", Kind: FaultFrozenCounter}); err != nil {
		t.Fatal(err)
	}
	s.Step(time.Hour)
	regs = c.input(0, 80)
	if f(0x48) != float64(float32(float64(st.Grid.ImportWh)/1000)) {
		t.Errorf("frozen counter moved to %v kWh", f(0x48))
	}
	if s.State().Grid.TotalPowerW == 0 {
		t.Errorf("no power while frozen")
	}
}

func TestDIAndThermometer(t *testing.T) {
	s := startSim(t, quietSite)
	c := dial(t, s.ModbusAddr(MainListener), 2)
	read := func() []byte {
		b, err := c.c.ReadDiscreteInputs(context.Background(), 0, 3)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if got := read()[0]; got != 0b111 {
		t.Errorf("healthy inputs %03b, want 111", got)
	}
	before := s.Now()
	if err := s.InjectFault(Fault{Kind: FaultFireLoopOpen}); err != nil {
		t.Fatal(err)
	}
	if got := read()[0]; got != 0b110 {
		t.Errorf("fire loop open: %03b, want 110", got)
	}
	if at := s.State().FireLoopOpenedAt; at == nil || !at.At.Equal(before) {
		t.Errorf("fire loop opened at %+v, want %v", at, before)
	}
	if err := s.InjectFault(Fault{Device: "ud1", Kind: FaultSPDTripped}); err != nil {
		t.Fatal(err)
	}
	if err := s.InjectFault(Fault{Device: "di", Kind: FaultClear}); err != nil {
		t.Fatal(err)
	}
	if got := read()[0]; got != 0b011 {
		t.Errorf("SPD tripped: %03b, want 011", got)
	}
	if err := s.InjectFault(Fault{Device: "di", Kind: FaultWireBreak}); err != nil {
		t.Fatal(err)
	}
	if got := read()[0]; got != 0b000 {
		t.Errorf("wire break + SPD: %03b, want 000", got)
	}

	th := dial(t, s.ModbusAddr(MainListener), 4)
	if got := int16(th.input(1, 1)[0]); got != 220 {
		t.Errorf("temperature %d × 0.1 °C, want 220", got)
	}
	v := -5.5
	if err := s.InjectFault(Fault{Device: "ud1", Kind: FaultOverTemperature, Value: &v}); err != nil {
		t.Fatal(err)
	}
	if got := int16(th.input(1, 2)[0]); got != -55 {
		t.Errorf("injected temperature %d × 0.1 °C, want -55", got)
	}
}

// snapshot takes an OCMF snapshot over Modbus the documented way and
// returns the record.
func snapshot(t *testing.T, m *client, cmd uint16, ident string) []byte {
	t.Helper()
	id := make([]uint16, identRegs)
	for i := 0; i < len(ident); i++ {
		id[i/2] |= uint16(ident[i]) << (8 * (1 - i%2))
	}
	m.writeRegs(regIdent, id)
	m.writeReg(regSnapCtl, cmd)
	deadline := time.Now().Add(5 * time.Second)
	for m.holding(regSnapCtl, 1)[0] != snapReady {
		if time.Now().After(deadline) {
			t.Fatal("snapshot never ready")
		}
	}
	n := int(m.holding(regSnapLen, 1)[0])
	var rec []byte
	for off := 0; off < (n+1)/2; off += 125 {
		q := min(125, (n+1)/2-off)
		for _, w := range m.holding(regSnapshot+uint16(off), uint16(q)) {
			rec = append(rec, byte(w>>8), byte(w))
		}
	}
	return rec[:n]
}

// splitOCMF returns the payload bytes and the signature section.
func splitOCMF(t *testing.T, rec []byte) (payload []byte, sig struct{ SA, SD string }) {
	t.Helper()
	s := string(rec)
	i := strings.LastIndex(s, "|{")
	if !strings.HasPrefix(s, "OCMF|{") || i < 0 {
		t.Fatalf("not an OCMF record: %q", s)
	}
	if err := json.Unmarshal([]byte(s[i+1:]), &sig); err != nil {
		t.Fatalf("signature section %q: %v", s[i+1:], err)
	}
	return []byte(s[len("OCMF|"):i]), sig
}

func TestOCMFSnapshotVerifiesWithTheRegisterKey(t *testing.T) {
	s := startSim(t, quietSite)
	m := dial(t, s.ModbusAddr(MainListener), 21) // p1's meter
	if err := s.PlugCar("p1", Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	s.Step(10 * time.Minute)

	// The public key from the registers.
	n := int(m.holding(regPubKeyLen, 1)[0])
	var der []byte
	for _, w := range m.holding(regPubKey, pubKeyRegs) {
		der = append(der, byte(w>>8), byte(w))
	}
	k, err := x509.ParsePKIXPublicKey(der[:n])
	if err != nil {
		t.Fatalf("public key from registers: %v", err)
	}
	pub := k.(*ecdsa.PublicKey)

	rec := snapshot(t, m, 1, "04A1B2C3D4E5F6")
	payload, sig := splitOCMF(t, rec)
	if sig.SA != "ECDSA-secp256r1-SHA256" {
		t.Errorf("SA %q", sig.SA)
	}
	sd, err := hex.DecodeString(sig.SD)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub, sum[:], sd) {
		t.Fatalf("signature does not verify over %s", payload)
	}
	for i := range payload { // every one-byte change breaks it
		bad := append([]byte(nil), payload...)
		bad[i] ^= 0x01
		sum := sha256.Sum256(bad)
		if ecdsa.VerifyASN1(pub, sum[:], sd) {
			t.Fatalf("signature verifies with byte %d changed", i)
		}
	}

	var pl struct {
		FV, GI, PG, MS, ID, CI string
		IS                     bool
		RD                     []struct {
			TM, TX, RI, RU, ST string
			RV                 json.Number
		}
	}
	if err := json.Unmarshal(payload, &pl); err != nil {
		t.Fatal(err)
	}
	// 10 min at 11040 W = 1840 Wh.
	want := `1.840`
	if pl.PG != "T1" || pl.ID != "04A1B2C3D4E5F6" || !pl.IS || pl.CI != "p1" || len(pl.RD) != 1 ||
		pl.RD[0].TX != "B" || string(pl.RD[0].RV) != want || pl.RD[0].TM != "2026-11-25T10:10:00,000+0000 S" ||
		pl.RD[0].RI != "1-b:1.8.0" || pl.RD[0].RU != "kWh" || pl.RD[0].ST != "G" {
		t.Errorf("payload %s", payload)
	}
	if !strings.Contains(string(payload), `"RV":1.840,`) {
		t.Errorf("RV is not a 3-decimal number: %s", payload)
	}

	// The counters in the registers agree.
	e := m.holding(regEnergyWh, 4)
	if wh := uint64(e[0])<<48 | uint64(e[1])<<32 | uint64(e[2])<<16 | uint64(e[3]); wh != 1840 {
		t.Errorf("energy register %d Wh, want 1840", wh)
	}

	// End snapshot: next page, more energy, still valid.
	s.Step(time.Hour)
	rec = snapshot(t, m, 2, "04A1B2C3D4E5F6")
	payload, sig = splitOCMF(t, rec)
	sd, _ = hex.DecodeString(sig.SD)
	sum = sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(pub, sum[:], sd) {
		t.Fatal("end snapshot does not verify")
	}
	if !strings.Contains(string(payload), `"PG":"T2"`) || !strings.Contains(string(payload), `"TX":"E"`) ||
		!strings.Contains(string(payload), `"RV":12.880,`) {
		t.Errorf("end payload %s", payload)
	}
	if got := m.holding(regSnapCount, 1)[0]; got != 2 {
		t.Errorf("snapshot counter %d, want 2", got)
	}
	// An end without a begin is an error.
	m.writeReg(regSnapCtl, 2)
	if got := m.holding(regSnapCtl, 1)[0]; got != snapError {
		t.Errorf("end without begin: status %d, want 3", got)
	}
}

func TestSeededKeysAreStableAndDistinct(t *testing.T) {
	a, b := newSim(t, quietSite), newSim(t, quietSite)
	pa, pb := a.State().Points, b.State().Points
	if string(pa[0].PublicKeyDER) != string(pb[0].PublicKeyDER) {
		t.Errorf("same seed, different keys")
	}
	if string(pa[0].PublicKeyDER) == string(pa[1].PublicKeyDER) {
		t.Errorf("two meters share a key")
	}
}
