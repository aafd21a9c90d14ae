package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrInvalid: a request the report refuses before reading anything.
var ErrInvalid = errors.New("invalid report request")

// Row is one invoiced session as the usage report counts it.
type Row struct {
	Session    string
	Operator   string
	Site       string
	Point      string
	CostCentre string // "" when the session was not billed to a cost centre
	AccessCode string // "" when no access code started it
	Group      string // the access code's user group ("" none); see Row.UserGroup
	Start, End time.Time
	EnergyWh   int64
	Currency   string
	GrossMinor int64
	NetMinor   int64
	VATMinor   int64
}

// Query selects the rows of a report: one operator's sessions whose signed
// end lies in [From, To).
type Query struct {
	Operator string
	From, To time.Time
}

// Validate checks q.
func (q Query) Validate() error {
	switch {
	case q.Operator == "":
		return fmt.Errorf("report: %w: no operator", ErrInvalid)
	case q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To):
		return fmt.Errorf("report: %w: range [%v, %v) is empty", ErrInvalid, q.From, q.To)
	}
	return nil
}

// Contains reports whether r belongs to q.
func (q Query) Contains(r Row) bool {
	return r.Operator == q.Operator && !r.End.Before(q.From) && r.End.Before(q.To)
}

// Source lists the invoiced sessions a report counts. SessionSource reads
// them from the session store.
type Source interface {
	Rows(ctx context.Context, q Query) ([]Row, error)
}

// Dimension is what a usage report groups by.
type Dimension string

// Dimensions.
const (
	BySite       Dimension = "site"
	ByPoint      Dimension = "point"
	ByCostCentre Dimension = "costcentre"
	ByAccessCode Dimension = "accesscode"
	ByGroup      Dimension = "group" // the code's user group; GroupPublic without a code
)

// GroupPublic is the user group of a session started without an access
// code (card, PayPal): the public.
const GroupPublic = "public"

// UserGroup is the user group r counts in: its access code's group, or
// GroupPublic for a session without a code ("" for a code in no group).
func (r Row) UserGroup() string {
	if r.AccessCode == "" {
		return GroupPublic
	}
	return r.Group
}

// Period is the time bucket of a usage report.
type Period string

// Periods.
const (
	PeriodDay   Period = "day"
	PeriodMonth Period = "month"
	PeriodAll   Period = "all" // one bucket: the whole range
)

// ParseDimension and ParsePeriod read the names above (from a URL).
func ParseDimension(s string) (Dimension, error) {
	switch d := Dimension(s); d {
	case BySite, ByPoint, ByCostCentre, ByAccessCode, ByGroup:
		return d, nil
	}
	return "", fmt.Errorf("report: %w: dimension %q (site, point, costcentre, accesscode, group)", ErrInvalid, s)
}

// ParsePeriod reads a period name.
func ParsePeriod(s string) (Period, error) {
	switch p := Period(s); p {
	case PeriodDay, PeriodMonth, PeriodAll:
		return p, nil
	}
	return "", fmt.Errorf("report: %w: period %q (day, month, all)", ErrInvalid, s)
}

// Line is one group of a usage report.
type Line struct {
	PeriodStart time.Time // start of the bucket in the report's location; the range's From for PeriodAll
	Key         string    // the site, point … ("" : none, e.g. no cost centre)
	Group       string    // ByAccessCode and ByGroup: the key's user group (Row.UserGroup)
	Currency    string
	Sessions    int64
	EnergyWh    int64
	GrossMinor  int64
	NetMinor    int64
	VATMinor    int64
}

// Usage is a summarised report: its lines, and the totals per currency.
type Usage struct {
	Query  Query
	By     Dimension
	Period Period
	Loc    *time.Location
	Lines  []Line // by period, key, currency
	Totals []Line // per currency, Key "" and PeriodStart = Query.From
}

// Summarize groups the rows of q by dimension and period, with buckets cut
// at midnight or the first of the month in loc (nil: UTC). Rows outside q
// are left out. Sums are exact integers; a report never mixes currencies
// in one line.
func Summarize(q Query, rows []Row, by Dimension, period Period, loc *time.Location) (Usage, error) {
	if err := q.Validate(); err != nil {
		return Usage{}, err
	}
	if _, err := ParseDimension(string(by)); err != nil {
		return Usage{}, err
	}
	if _, err := ParsePeriod(string(period)); err != nil {
		return Usage{}, err
	}
	if loc == nil {
		loc = time.UTC
	}
	type key struct {
		start  int64
		k, cur string
	}
	groups := map[key]*Line{}
	totals := map[string]*Line{}
	add := func(l *Line, r Row) {
		l.Sessions++
		l.EnergyWh += r.EnergyWh
		l.GrossMinor += r.GrossMinor
		l.NetMinor += r.NetMinor
		l.VATMinor += r.VATMinor
	}
	for _, r := range rows {
		if !q.Contains(r) {
			continue
		}
		start := bucket(r.End, period, q.From, loc)
		k := key{start.UnixNano(), label(r, by), r.Currency}
		l := groups[k]
		if l == nil {
			l = &Line{PeriodStart: start, Key: k.k, Currency: r.Currency}
			if by == ByAccessCode || by == ByGroup {
				l.Group = r.UserGroup()
			}
			groups[k] = l
		}
		add(l, r)
		t := totals[r.Currency]
		if t == nil {
			t = &Line{PeriodStart: q.From.In(loc), Currency: r.Currency}
			totals[r.Currency] = t
		}
		add(t, r)
	}
	u := Usage{Query: q, By: by, Period: period, Loc: loc}
	for _, l := range groups {
		u.Lines = append(u.Lines, *l)
	}
	slices.SortFunc(u.Lines, func(a, b Line) int {
		return cmp.Or(a.PeriodStart.Compare(b.PeriodStart), cmp.Compare(a.Key, b.Key), cmp.Compare(a.Currency, b.Currency))
	})
	for _, t := range totals {
		u.Totals = append(u.Totals, *t)
	}
	slices.SortFunc(u.Totals, func(a, b Line) int { return cmp.Compare(a.Currency, b.Currency) })
	return u, nil
}

func label(r Row, by Dimension) string {
	switch by {
	case BySite:
		return r.Site
	case ByPoint:
		return r.Site + "/" + r.Point
	case ByCostCentre:
		return r.CostCentre
	case ByAccessCode:
		return r.AccessCode
	case ByGroup:
		return r.UserGroup()
	}
	return ""
}

// bucket returns the start of the period t falls in.
func bucket(t time.Time, p Period, from time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	switch p {
	case PeriodDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	case PeriodMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	}
	return from.In(loc)
}
