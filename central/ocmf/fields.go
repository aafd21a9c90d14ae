package ocmf

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Fields are the payload fields parkgrid uses, named as in the OCMF
// specification. Strings are decoded JSON strings; a field written as a JSON
// number (FV: 1.0) keeps its literal. A field of an unexpected type is left
// empty and reported in Record.DecodeErr. Unknown and vendor fields (U…Z,
// TT, LC, …) are ignored here; they remain in Record.Payload.
type Fields struct {
	FV string // format version
	GI string // gateway identification
	GS string // gateway serial
	GV string // gateway version
	PG string // pagination: "T1", "T2"… (transaction) or "F…" (fiscal)

	MV string // meter vendor
	MM string // meter model
	MS string // meter serial
	MF string // meter firmware

	IS *bool    // identification status; nil when absent or not a boolean
	IL string   // identification level: NONE, HEARSAY, TRUSTED, VERIFIED…
	IF []string // identification flags
	IT string   // identification type: NONE, ISO14443, EMAID…
	ID string   // identification data

	CT string // charge point identifier type: EVSEID, CBIDC
	CI string // charge point identifier
	TT string // tariff text

	RD []Reading // readings
}

// Reading is one entry of RD. Readings that omit TM or TX (LEM DCBM writes
// them only on the first reading of a group) keep them empty here.
type Reading struct {
	TM Time   // time with synchronisation state
	TX string // transaction: B begin, C charging, X exception, E end, L, R, A, P, S, T
	RV Value  // reading value in unit RU
	RI string // OBIS identifier, e.g. "1-b:1.8.0" or "01-00:B1.08.00*FF"
	RU string // unit: kWh, Wh (others, e.g. "sec", occur)
	RT string // current type: AC, DC
	CL Value  // cumulated loss (optional)
	EF string // error flags: "" none, E energy, t time
	ST string // meter state: G good, others are faults
}

// Time is a reading time, "2019-08-13T10:03:15,000+0000 I".
type Time struct {
	Raw  string    // as written
	Time time.Time // zero when Raw is empty or not understood
	// Sync is the synchronisation state letter (OCMF table 19): U
	// unsynchronised, I informative, S synchronised, R relative; 0 when absent.
	Sync byte
}

// Value is a reading value. RV is a JSON number in the specification but a
// string in some devices ("       9.038", "00000000.000").
type Value struct {
	// Raw is the value's exact JSON text: 0.2596, "       9.038", 1.606848e7.
	Raw string
	// Text is the number literal or the string's content.
	Text string
	// Decimal is Text as an exact decimal; valid when Present and DecErr
	// is nil.
	Decimal Decimal
	DecErr  error
	Present bool
}

// EnergyMilliWh returns the reading in mWh, exactly: 0.2596 kWh → 259600.
// It fails with ErrNotEnergy when RU is not Wh, kWh or MWh, and with
// ErrInexact when the value is finer than 1 mWh (1709.539307 Wh) or too large.
func (r Reading) EnergyMilliWh() (int64, error) {
	if err := r.RV.usable(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", r.RI, err)
	}
	mWh, err := energyExact(r.RV.Decimal, r.RU, -3)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", r.RI, err)
	}
	return mWh, nil
}

// EnergyWh returns the reading in whole Wh, rounded half away from zero
// (0.2596 kWh = 259.6 Wh → 260; 259.5 → 260). Bill from the difference of
// EnergyMilliWh values where they are exact; this rounding is for display
// and for registers finer than 1 mWh.
func (r Reading) EnergyWh() (int64, error) {
	if err := r.RV.usable(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", r.RI, err)
	}
	wh, err := energyRounded(r.RV.Decimal, r.RU)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", r.RI, err)
	}
	return wh, nil
}

func (v Value) usable() error {
	if !v.Present {
		return fmt.Errorf("%w: no value", ErrMalformed)
	}
	return v.DecErr
}

// decodeFields decodes payload fields leniently. It returns every field it
// could read and an error listing the ones it could not.
func decodeFields(payload []byte) (Fields, error) {
	v, err := parseLenientJSON(payload)
	if err != nil {
		return Fields{}, fmt.Errorf("decode payload: %w", err)
	}
	if v.kind != jsonObject {
		return Fields{}, fmt.Errorf("decode payload: %w: a JSON %s, not an object", ErrMalformed, v.kind)
	}
	d := fieldDecoder{}
	var f Fields
	for _, s := range []struct {
		key string
		dst *string
	}{
		{"FV", &f.FV}, {"GI", &f.GI}, {"GS", &f.GS}, {"GV", &f.GV}, {"PG", &f.PG},
		{"MV", &f.MV}, {"MM", &f.MM}, {"MS", &f.MS}, {"MF", &f.MF},
		{"IL", &f.IL}, {"IT", &f.IT}, {"ID", &f.ID},
		{"CT", &f.CT}, {"CI", &f.CI}, {"TT", &f.TT},
	} {
		*s.dst = d.text(v, s.key, "")
	}
	if m, ok := v.get("IS"); ok && m.kind != jsonNull {
		if m.kind == jsonBool {
			b := m.boolean
			f.IS = &b
		} else {
			d.fail("IS", m)
		}
	}
	if m, ok := v.get("IF"); ok && m.kind != jsonNull {
		if m.kind == jsonArray {
			for i, e := range m.elems {
				if s, ok := e.text(); ok {
					f.IF = append(f.IF, s)
				} else {
					d.fail(fmt.Sprintf("IF[%d]", i), e)
				}
			}
		} else {
			d.fail("IF", m)
		}
	}
	if m, ok := v.get("RD"); ok && m.kind != jsonNull {
		if m.kind == jsonArray {
			for i, e := range m.elems {
				if e.kind != jsonObject {
					d.fail(fmt.Sprintf("RD[%d]", i), e)
					continue
				}
				f.RD = append(f.RD, d.reading(e, fmt.Sprintf("RD[%d].", i)))
			}
		} else {
			d.fail("RD", m)
		}
	}
	if len(d.errs) > 0 {
		return f, fmt.Errorf("decode payload: %w", errors.Join(d.errs...))
	}
	return f, nil
}

type fieldDecoder struct {
	errs []error
}

func (d *fieldDecoder) fail(name string, v jsonValue) {
	d.errs = append(d.errs, fmt.Errorf("%s: unexpected JSON %s", name, v.kind))
}

func (d *fieldDecoder) text(obj jsonValue, key, prefix string) string {
	m, ok := obj.get(key)
	if !ok || m.kind == jsonNull {
		return ""
	}
	s, ok := m.text()
	if !ok {
		d.fail(prefix+key, m)
	}
	return s
}

func (d *fieldDecoder) reading(obj jsonValue, prefix string) Reading {
	r := Reading{
		TX: d.text(obj, "TX", prefix),
		RI: d.text(obj, "RI", prefix),
		RU: d.text(obj, "RU", prefix),
		RT: d.text(obj, "RT", prefix),
		EF: d.text(obj, "EF", prefix),
		ST: d.text(obj, "ST", prefix),
	}
	if tm := d.text(obj, "TM", prefix); tm != "" {
		var err error
		r.TM, err = parseTime(tm)
		if err != nil {
			d.errs = append(d.errs, fmt.Errorf("%sTM: %w", prefix, err))
		}
	}
	r.RV = d.value(obj, "RV", prefix)
	r.CL = d.value(obj, "CL", prefix)
	return r
}

func (d *fieldDecoder) value(obj jsonValue, key, prefix string) Value {
	m, ok := obj.get(key)
	if !ok || m.kind == jsonNull {
		return Value{}
	}
	if m.kind != jsonNumber && m.kind != jsonString {
		d.fail(prefix+key, m)
		return Value{}
	}
	v := Value{Raw: m.raw, Text: m.str, Present: true}
	v.Decimal, v.DecErr = ParseDecimal(m.str)
	if v.DecErr != nil {
		d.errs = append(d.errs, fmt.Errorf("%s%s: %w", prefix, key, v.DecErr))
	}
	return v
}

// parseTime reads an OCMF time, "2006-01-02T15:04:05,000+0100 S". It also
// accepts '.' before the fraction, any number of fraction digits, an offset
// written +01:00, and a missing state letter.
func parseTime(raw string) (Time, error) {
	t := Time{Raw: raw}
	s := strings.TrimSpace(raw)
	if i := strings.LastIndexByte(s, ' '); i >= 0 {
		if state := strings.TrimSpace(s[i+1:]); len(state) == 1 {
			t.Sync = state[0]
		}
		s = strings.TrimSpace(s[:i])
	}
	for _, layout := range []string{"2006-01-02T15:04:05-0700", "2006-01-02T15:04:05Z07:00"} {
		if tm, err := time.Parse(layout, s); err == nil {
			t.Time = tm
			return t, nil
		}
	}
	return t, fmt.Errorf("time %q: %w: not an OCMF timestamp", raw, ErrMalformed)
}
