// Package probe reads one Modbus device once and lists what it reports, for
// the `parkgrid probe` subcommand: a commissioning tool that tells a field
// technician whether a device answers and what its registers say.
//
// A probe only reads (FC01..FC04); it never writes, so it is safe against
// live equipment. Registers are read in the same groups the drivers use, and
// each group stands alone: a group that fails (an exception because the
// server lacks the register, a timeout, a value that does not decode) turns
// into one row whose value starts with "error:", and the others still show.
// Probe fails only when every group failed, so it works against any Modbus
// server, whether or not it is the device kind asked for.
package probe

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/diinput"
	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/drivers/xymd02"
)

// Bus is the read side of a Modbus bus (*modbus.Bus has it).
type Bus interface {
	ReadInputRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	ReadHoldingRegisters(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	ReadDiscreteInputs(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
	ReadCoils(ctx context.Context, unit uint8, addr, qty uint16) ([]byte, error)
}

// Row is one value a device reported.
type Row struct {
	Name     string `json:"name"`
	Value    string `json:"value"` // formatted number (a JSON number in WriteJSON), or a state, or "error: …"
	Unit     string `json:"unit,omitempty"`
	Register string `json:"register"` // table and address, e.g. "input 0x0006"
}

// Result is the outcome of one probe.
type Result struct {
	Kind   string `json:"kind"`
	Unit   uint8  `json:"unit"`
	Rows   []Row  `json:"rows"`
	Errors int    `json:"errors"` // rows that are errors
}

// Kinds lists the device kinds Probe knows.
func Kinds() []string { return []string{"sdm630", "eichrecht", "phoenix", "diinput", "xymd02"} }

// Probe reads the device of kind at unit once.
func Probe(ctx context.Context, bus Bus, unit uint8, kind string) (Result, error) {
	p := &prober{ctx: ctx, bus: bus, unit: unit, res: Result{Kind: kind, Unit: unit, Rows: []Row{}}}
	switch kind {
	case "sdm630":
		p.sdm630()
	case "eichrecht":
		p.eichrecht()
	case "phoenix":
		p.phoenix()
	case "diinput":
		p.diinput()
	case "xymd02":
		p.xymd02()
	default:
		return Result{}, fmt.Errorf("probe: unknown device kind %q (known: %v)", kind, Kinds())
	}
	if p.groups > 0 && p.failed == p.groups {
		return p.res, fmt.Errorf("probe %s unit %d: no register group could be read: %w", kind, unit, p.firstErr)
	}
	return p.res, nil
}

type prober struct {
	ctx            context.Context
	bus            Bus
	unit           uint8
	res            Result
	groups, failed int
	firstErr       error
}

func (p *prober) add(name, value, unit, reg string) {
	p.res.Rows = append(p.res.Rows, Row{Name: name, Value: value, Unit: unit, Register: reg})
}

// group counts one register group; a non-nil err becomes an error row.
func (p *prober) group(name, reg string, err error) bool {
	p.groups++
	if err == nil {
		return true
	}
	p.failed++
	p.res.Errors++
	if p.firstErr == nil {
		p.firstErr = err
	}
	p.add(name, "error: "+err.Error(), "", reg)
	return false
}

func reg(table string, addr uint16) string { return fmt.Sprintf("%s 0x%04x", table, addr) }

// fixed formats v/10^decimals exactly, e.g. fixed(2303, 1) = "230.3".
func fixed(v int64, decimals int) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u, 10)
	if decimals > 0 {
		for len(s) <= decimals {
			s = "0" + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

func phase(i int) string { return "L" + strconv.Itoa(i+1) }

func (p *prober) meterRows(s drivers.MeterSample, table string, vReg, iReg, pReg uint16, vStep, iStep uint16) {
	for i := range 3 {
		p.add("voltage "+phase(i), fixed(s.VoltageDV[i], 1), "V", reg(table, vReg+vStep*uint16(i)))
	}
	for i := range 3 {
		p.add("current "+phase(i), fixed(s.CurrentMA[i], 3), "A", reg(table, iReg+iStep*uint16(i)))
	}
	if s.Has&drivers.HasPhasePower != 0 {
		for i := range 3 {
			p.add("power "+phase(i), fixed(s.PhasePowerW[i], 0), "W", reg(table, pReg+2*uint16(i)))
		}
	}
}

func (p *prober) sdm630() {
	m := sdm630.New("probe", p.bus, p.unit)
	s, err := m.Sample(p.ctx)
	if p.group("values", reg("input", 0), err) {
		p.meterRows(s, "input", sdm630.RegVoltageL1, sdm630.RegCurrentL1, sdm630.RegPowerL1, 2, 2)
		p.add("total power", fixed(s.PowerW, 0), "W", reg("input", sdm630.RegTotalPower))
		p.add("frequency", fixed(s.FrequencyMilliHz, 3), "Hz", reg("input", sdm630.RegFrequency))
		p.add("import energy", fixed(s.ImportWh, 3), "kWh", reg("input", sdm630.RegImportKWh))
	}
	tot, err := m.TotalWh(p.ctx)
	if p.group("total energy", reg("input", sdm630.RegTotalKWh), err) {
		p.add("total energy", fixed(tot, 3), "kWh", reg("input", sdm630.RegTotalKWh))
	}
}

func (p *prober) holding(addr, qty uint16) ([]byte, error) {
	b, err := p.bus.ReadHoldingRegisters(p.ctx, p.unit, addr, qty)
	if err == nil && len(b) < 2*int(qty) {
		err = fmt.Errorf("read 0x%04x+%d: %w (%d of %d bytes)", addr, qty, drivers.ErrShortReply, len(b), 2*qty)
	}
	return b, err
}

func (p *prober) eichrecht() {
	b, err := p.holding(eichrecht.RegImportWh, eichrecht.SampleRegisters)
	var s drivers.MeterSample
	if err == nil {
		s, err = eichrecht.DecodeSample("probe", b)
	}
	if p.group("values", reg("holding", 0), err) {
		p.add("import energy", fixed(s.ImportWh, 3), "kWh", reg("holding", eichrecht.RegImportWh))
		p.add("power", fixed(s.PowerW, 0), "W", reg("holding", eichrecht.RegPowerW))
		p.meterRows(s, "holding", eichrecht.RegVoltageDV, eichrecht.RegCurrentMA, 0, 1, 2)
	}
	b, err = p.holding(eichrecht.RegSnapshotStatus, 3)
	if p.group("snapshot", reg("holding", eichrecht.RegSnapshotStatus), err) {
		st := binary.BigEndian.Uint16(b)
		name := map[uint16]string{0: "idle", 1: "busy", 2: "ready", 3: "error"}[st]
		if name == "" {
			name = "unknown"
		}
		p.add("snapshot status", fmt.Sprintf("%d (%s)", st, name), "", reg("holding", eichrecht.RegSnapshotStatus))
		p.add("snapshot length", strconv.Itoa(int(binary.BigEndian.Uint16(b[2:]))), "bytes", reg("holding", eichrecht.RegSnapshotLength))
		p.add("snapshot counter", strconv.Itoa(int(binary.BigEndian.Uint16(b[4:]))), "", reg("holding", eichrecht.RegSnapshotCount))
	}
	b, err = p.holding(eichrecht.RegPublicKeyLen, 1+eichrecht.PublicKeyMax/2)
	var key []byte
	if err == nil {
		key, err = eichrecht.DecodePublicKey("probe", b)
	}
	if p.group("public key", reg("holding", eichrecht.RegPublicKeyLen), err) {
		p.add("public key", hex.EncodeToString(key), "DER hex", reg("holding", eichrecht.RegPublicKey))
	}
}

func (p *prober) phoenix() {
	b, err := p.input(phoenix.RegState, 1)
	var st drivers.ChargeState
	if err == nil {
		st, err = phoenix.DecodeState("probe", b)
	}
	if p.group("state", reg("input", phoenix.RegState), err) {
		p.add("state", st.String(), "", reg("input", phoenix.RegState))
	}
	b, err = p.input(phoenix.RegChargeTime, 2)
	if p.group("charge time", reg("input", phoenix.RegChargeTime), err) {
		p.add("charge time", strconv.FormatUint(uint64(phoenix.Uint32LowWordFirst(b)), 10), "s", reg("input", phoenix.RegChargeTime))
	}
	c, err := p.bus.ReadCoils(p.ctx, p.unit, phoenix.CoilEnable, 1)
	if err == nil && len(c) < 1 {
		err = fmt.Errorf("read coil %d: %w", phoenix.CoilEnable, drivers.ErrShortReply)
	}
	if p.group("enable", reg("coil", phoenix.CoilEnable), err) {
		p.add("charging enabled", strconv.FormatBool(c[0]&1 == 1), "", reg("coil", phoenix.CoilEnable))
	}
	b, err = p.holding(phoenix.RegMaxA, 1)
	var maxA int
	if err == nil {
		maxA, err = phoenix.DecodeMaxCurrent("probe", b)
	}
	if p.group("max current", reg("holding", phoenix.RegMaxA), err) {
		p.add("max current", strconv.Itoa(maxA), "A", reg("holding", phoenix.RegMaxA))
	}
	b, err = p.input(phoenix.RegVoltages, 14)
	var m drivers.MeterSample
	if err == nil {
		m, err = phoenix.DecodeMeasurements("probe", b)
	}
	if p.group("meter", reg("input", phoenix.RegVoltages), err) {
		for ph := range 3 {
			p.add(fmt.Sprintf("voltage L%d", ph+1), strconv.FormatInt(m.VoltageDV[ph]/10, 10), "V", reg("input", phoenix.RegVoltages+uint16(2*ph)))
		}
		for ph := range 3 {
			p.add(fmt.Sprintf("current L%d", ph+1), strconv.FormatInt(m.CurrentMA[ph]/1000, 10), "A", reg("input", phoenix.RegCurrents+uint16(2*ph)))
		}
		p.add("power", strconv.FormatInt(m.PowerW, 10), "W", reg("input", phoenix.RegPower))
	}
	b, err = p.holding(phoenix.RegEnergyWh, 2)
	if p.group("energy", reg("holding", phoenix.RegEnergyWh), err) {
		p.add("energy", strconv.FormatUint(uint64(phoenix.Uint32LowWordFirst(b)), 10), "Wh", reg("holding", phoenix.RegEnergyWh))
	}
}

func (p *prober) input(addr, qty uint16) ([]byte, error) {
	b, err := p.bus.ReadInputRegisters(p.ctx, p.unit, addr, qty)
	if err == nil && len(b) < 2*int(qty) {
		err = fmt.Errorf("read input 0x%04x+%d: %w (%d of %d bytes)", addr, qty, drivers.ErrShortReply, len(b), 2*qty)
	}
	return b, err
}

func (p *prober) diinput() {
	// The fire loop and its supervision are inputs 0 and 1 on every module;
	// the SPD contacts follow, as many as the module has (8-input modules
	// have 6, 10-input modules 8), so they are read one at a time until the
	// module answers that an input does not exist.
	m, err := diinput.New("probe", p.bus, p.unit, 0)
	if err != nil {
		panic(err) // 0 SPD contacts is always valid
	}
	s, err := m.Contacts(p.ctx)
	if !p.group("inputs", reg("discrete", 0), err) {
		return
	}
	state := func(closed bool, ok, bad string) string {
		if closed {
			return "closed (" + ok + ")"
		}
		return "open (" + bad + ")"
	}
	p.add("fire loop", state(s.FireLoopClosed, "healthy", "ALARM"), "", reg("discrete", diinput.InputFireLoop))
	p.add("fire loop supervision", state(s.SupervisionIntact, "intact", "WIRE BREAK"), "", reg("discrete", diinput.InputSupervision))
	for i := range diinput.MaxSPD {
		addr := diinput.InputSPD + uint16(i)
		b, err := p.bus.ReadDiscreteInputs(p.ctx, p.unit, addr, 1)
		if err != nil || len(b) < 1 {
			break // no such input: the module has i SPD contacts
		}
		p.add("SPD "+strconv.Itoa(i+1), state(b[0]&1 == 1, "healthy", "TRIPPED"), "", reg("discrete", addr))
	}
}

func (p *prober) xymd02() {
	r, err := xymd02.New("probe", p.bus, p.unit).Read(p.ctx)
	if p.group("values", reg("input", xymd02.RegTemperature), err) {
		p.add("temperature", fixed(r.TemperatureDeciC, 1), "°C", reg("input", xymd02.RegTemperature))
		p.add("humidity", fixed(r.HumidityPermille, 1), "%", reg("input", xymd02.RegHumidity))
	}
}

// WriteTable writes the rows as an aligned text table.
func (r Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s unit %d\n", r.Kind, r.Unit)
	fmt.Fprintln(tw, "NAME\tVALUE\tUNIT\tREGISTER")
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", row.Name, row.Value, row.Unit, row.Register)
	}
	return tw.Flush()
}

// WriteJSON writes the result as one indented JSON object.
// MarshalJSON writes a numeric value as a JSON number (its exact text, e.g.
// 230.3 or 12345.688), any other value (a state, "error: …") as a string.
func (r Row) MarshalJSON() ([]byte, error) {
	var value any = r.Value
	if isNumber(r.Value) {
		value = json.Number(r.Value)
	}
	return json.Marshal(struct {
		Name     string `json:"name"`
		Value    any    `json:"value"`
		Unit     string `json:"unit,omitempty"`
		Register string `json:"register"`
	}{r.Name, value, r.Unit, r.Register})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Row) UnmarshalJSON(b []byte) error {
	var w struct {
		Name     string          `json:"name"`
		Value    json.RawMessage `json:"value"`
		Unit     string          `json:"unit"`
		Register string          `json:"register"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Row{Name: w.Name, Unit: w.Unit, Register: w.Register, Value: string(w.Value)}
	if len(w.Value) > 0 && w.Value[0] == '"' {
		return json.Unmarshal(w.Value, &r.Value)
	}
	return nil
}

// isNumber reports whether s is a JSON number literal.
func isNumber(s string) bool {
	return s != "" && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9')) && json.Valid([]byte(s))
}

func (r Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
