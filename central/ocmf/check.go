package ocmf

import (
	"fmt"
	"strings"
)

// Deviation is a finding of Check: something a transparency tool would
// flag. Deviations do not affect signature validity.
type Deviation struct {
	Code    string // stable identifier, e.g. "begin-count"
	Reading int    // index into Fields.RD, or -1 for the record
	Detail  string
}

func (d Deviation) String() string {
	if d.Reading < 0 {
		return d.Code + ": " + d.Detail
	}
	return fmt.Sprintf("%s: RD[%d]: %s", d.Code, d.Reading, d.Detail)
}

// Deviation codes. They may be stored, so they are never renamed or reused.
const (
	DevPayloadUndecodable = "payload-undecodable" // Record.DecodeErr is set
	DevBeginCount         = "begin-count"         // not exactly one TX B
	DevEndCount           = "end-count"           // not exactly one end (TX E, L, R, A, P)
	DevBeginAfterEnd      = "begin-after-end"     // end value or time below begin
	DevMeterState         = "meter-state"         // ST is not G
	DevTimeNotSynced      = "time-not-synced"     // TM state is not S
	DevErrorFlags         = "error-flags"         // EF is not empty
	DevIdentification     = "identification"      // IL is MISMATCH, INVALID or OUTDATED
)

// Check applies transparency-software style checks to one record that
// carries a whole transaction (begin and end readings): exactly one begin
// and one end, begin ≤ end for value and time, meter state G, synchronised
// time, no error flags, an identification level that is not bad. Records
// that carry only a begin or only an end (one record per event) report
// begin-count or end-count; compare such pairs yourself.
//
// Readings that omit TX (continuation readings of another register, as
// LEM writes them) count as neither begin nor end.
func Check(rec Record) []Deviation {
	var devs []Deviation
	add := func(code string, reading int, format string, args ...any) {
		devs = append(devs, Deviation{Code: code, Reading: reading, Detail: fmt.Sprintf(format, args...)})
	}
	if rec.DecodeErr != nil {
		add(DevPayloadUndecodable, -1, "%v", rec.DecodeErr)
	}
	f := rec.Fields
	switch f.IL {
	case "MISMATCH", "INVALID", "OUTDATED":
		add(DevIdentification, -1, "identification level %s", f.IL)
	}
	begin, end := -1, -1
	var begins, ends int
	for i, r := range f.RD {
		switch r.TX {
		case "B":
			begins++
			begin = i
		case "E", "L", "R", "A", "P":
			ends++
			end = i
		}
		if r.ST != "G" {
			add(DevMeterState, i, "meter state %q, want G", r.ST)
		}
		if r.EF != "" {
			add(DevErrorFlags, i, "error flags %q", r.EF)
		}
		if r.TM.Raw != "" && r.TM.Sync != 'S' {
			add(DevTimeNotSynced, i, "time %q is not synchronised (S)", r.TM.Raw)
		}
	}
	if begins != 1 {
		add(DevBeginCount, -1, "%d begin readings, want 1", begins)
	}
	if ends != 1 {
		add(DevEndCount, -1, "%d end readings, want 1", ends)
	}
	if begins == 1 && ends == 1 {
		b, e := f.RD[begin], f.RD[end]
		if end < begin {
			add(DevBeginAfterEnd, end, "end reading comes before the begin reading")
		}
		if !b.TM.Time.IsZero() && !e.TM.Time.IsZero() && e.TM.Time.Before(b.TM.Time) {
			add(DevBeginAfterEnd, end, "end time %s before begin time %s", e.TM.Raw, b.TM.Raw)
		}
		if b.RI == e.RI && strings.EqualFold(b.RU, e.RU) && b.RV.DecErr == nil && e.RV.DecErr == nil &&
			b.RV.Present && e.RV.Present && e.RV.Decimal.Cmp(b.RV.Decimal) < 0 {
			add(DevBeginAfterEnd, end, "end value %s below begin value %s", e.RV.Text, b.RV.Text)
		}
	}
	return devs
}
