package session

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Snapshot is one signed meter record stored for a session.
type Snapshot struct {
	OCMF     string // exactly as the meter signed it
	Verified bool   // ingest verified it against the meter's enrolled key
}

// Snapshots gives the signed snapshots a meter produced for a session, in
// any order. The ingest store satisfies it through central/session/storesnap.
type Snapshots interface {
	SessionSnapshots(ctx context.Context, site, meter, session string) ([]Snapshot, error)
}

// Measurement is the energy of a session as its signed snapshots prove it.
// With Flags set, the other fields are as far as they could be read and
// must not be billed.
type Measurement struct {
	BeginMilliWh int64
	EndMilliWh   int64
	EnergyWh     int64     // Energy(EndMilliWh − BeginMilliWh)
	Start, End   time.Time // the signed begin and end times
	OCMF         []string  // the begin and end records
	Flags        []Flag    // sorted, no repeats
}

// Energy converts a register difference in mWh to billed Wh with the one
// rounding rule, tariff.RoundHalfUpDiv(mWh, 1000). Meters that register in
// Wh (3 decimals of kWh, as Eichrecht meters do) make it exact.
func Energy(milliWh int64) int64 { return tariff.RoundHalfUpDiv(milliWh, 1000) }

// point is one transaction reading (TX set) of one record.
type point struct {
	page    int64
	idx     int // position in RD
	raw     string
	serial  string // MS
	r       ocmf.Reading
	milliWh int64
}

func isEnd(tx string) bool {
	switch tx {
	case "E", "L", "R", "A", "P":
		return true
	}
	return false
}

// Measure bills a session from its snapshots: the energy is the end
// register minus the begin register of the meter's signed records, never
// a sum of unsigned samples. Flags name every reason not to trust it (see
// docs/sessions.md): a snapshot that is not verified or not parseable, no
// or several begins or ends, pages ("T<n>") repeated with other content or
// out of order with the begin first and the end last, times or the
// register going backwards page by page, begin and end of different
// meters or registers, a value that is not an exact energy. It does no
// I/O.
func Measure(snaps []Snapshot) Measurement {
	var (
		m      Measurement
		flags  = map[Flag]bool{}
		seen   = map[string]bool{}
		pts    []point
		byPage = map[int64]string{}
	)
	for _, s := range snaps {
		if seen[s.OCMF] { // the same record twice (a redelivery): once
			continue
		}
		seen[s.OCMF] = true
		if !s.Verified {
			flags[FlagNotVerified] = true
			continue
		}
		rec, err := ocmf.Parse(s.OCMF)
		if err != nil {
			flags[FlagNotVerified] = true
			continue
		}
		page, ok := transactionPage(rec.Fields.PG)
		if !ok {
			flags[FlagPagination] = true
			continue
		}
		if other, dup := byPage[page]; dup && other != s.OCMF {
			flags[FlagPagination] = true
		}
		byPage[page] = s.OCMF
		for i, r := range rec.Fields.RD {
			if r.TX == "" {
				continue // a continuation reading of another register
			}
			p := point{page: page, idx: i, raw: s.OCMF, serial: rec.Fields.MS, r: r}
			if p.milliWh, err = r.EnergyMilliWh(); err != nil || p.milliWh < 0 {
				flags[FlagUnreadable] = true
				continue
			}
			pts = append(pts, p)
		}
	}
	slices.SortStableFunc(pts, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.page, b.page), cmp.Compare(a.idx, b.idx))
	})
	var begins, ends []int
	for i, p := range pts {
		switch {
		case p.r.TX == "B":
			begins = append(begins, i)
		case isEnd(p.r.TX):
			ends = append(ends, i)
		}
	}
	switch {
	case len(begins) == 0:
		flags[FlagBeginMissing] = true
	case len(begins) > 1:
		flags[FlagPagination] = true
	}
	switch {
	case len(ends) == 0:
		flags[FlagEndMissing] = true
	case len(ends) > 1:
		flags[FlagPagination] = true
	}
	if len(begins) == 1 && len(ends) == 1 {
		b, e := pts[begins[0]], pts[ends[0]]
		m.BeginMilliWh, m.EndMilliWh = b.milliWh, e.milliWh
		m.Start, m.End = b.r.TM.Time, e.r.TM.Time
		m.OCMF = []string{b.raw, e.raw}
		if b.raw == e.raw {
			m.OCMF = m.OCMF[:1] // one record with the whole transaction
		}
		if begins[0] != 0 || ends[0] != len(pts)-1 {
			flags[FlagPagination] = true // a reading before the begin or after the end
		}
		if b.serial != e.serial || b.r.RI != e.r.RI {
			flags[FlagMeterMismatch] = true
		}
		if m.Start.IsZero() || m.End.IsZero() {
			flags[FlagUnreadable] = true
		}
		for i := 1; i < len(pts); i++ {
			prev, cur := pts[i-1], pts[i]
			if !prev.r.TM.Time.IsZero() && !cur.r.TM.Time.IsZero() && cur.r.TM.Time.Before(prev.r.TM.Time) {
				flags[FlagPagination] = true // a later page signed earlier
			}
			if cur.r.RI == prev.r.RI && cur.milliWh < prev.milliWh {
				flags[FlagCounterBackwards] = true
			}
		}
		if diff := m.EndMilliWh - m.BeginMilliWh; diff >= 0 {
			m.EnergyWh = Energy(diff)
		} else {
			flags[FlagCounterBackwards] = true
		}
	}
	for f := range flags {
		m.Flags = append(m.Flags, f)
	}
	slices.Sort(m.Flags)
	return m
}

// transactionPage reads a transaction pagination "T<n>", n ≥ 1.
func transactionPage(pg string) (int64, bool) {
	digits, ok := strings.CutPrefix(strings.TrimSpace(pg), "T")
	if !ok || digits == "" || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return n, err == nil
}
