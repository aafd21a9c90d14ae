package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/xuri/excelize/v2"

	"github.com/parkgrid/parkgrid/central/tariff"
)

// usageHeader names the columns of a usage report, CSV and XLSX alike.
var usageHeader = []string{"period_start", "key", "sessions", "energy_kwh", "currency", "gross", "net", "vat"}

// header is u's columns: usageHeader, and per access code its user group
// in a "group" column after the key.
func (u Usage) header() []string {
	if u.By != ByAccessCode {
		return usageHeader
	}
	return slices.Insert(slices.Clone(usageHeader), 2, "group")
}

// keyCells are the key column(s) of a line (the total lines have no key
// and no group).
func (u Usage) keyCells(key, group string) []string {
	if u.By != ByAccessCode {
		return []string{key}
	}
	return []string{key, group}
}

// KWh writes Wh as kWh with three decimals and a point: 12345 → "12.345".
func KWh(wh int64) string {
	sign := ""
	if wh < 0 {
		sign, wh = "-", -wh
	}
	return fmt.Sprintf("%s%d.%03d", sign, wh/1000, wh%1000)
}

// amount writes minor units as a decimal with a point ("7.05"); an unknown
// currency is written in minor units with the code, never guessed.
func amount(minor int64, cur string) string {
	s, err := tariff.FormatAmount(minor, cur)
	if err != nil {
		return strconv.FormatInt(minor, 10) + " (minor units)"
	}
	return s
}

func (u Usage) periodLabel(l Line) string {
	switch u.Period {
	case PeriodDay:
		return l.PeriodStart.Format("2006-01-02")
	case PeriodMonth:
		return l.PeriodStart.Format("2006-01")
	}
	return l.PeriodStart.Format("2006-01-02") + "/" + u.Query.To.In(u.Loc).Format("2006-01-02")
}

func (u Usage) records() [][]string {
	out := [][]string{u.header()}
	line := func(period string, keys []string, l Line) []string {
		r := append([]string{period}, keys...)
		return append(r, strconv.FormatInt(l.Sessions, 10), KWh(l.EnergyWh), l.Currency,
			amount(l.GrossMinor, l.Currency), amount(l.NetMinor, l.Currency), amount(l.VATMinor, l.Currency))
	}
	for _, l := range u.Lines {
		out = append(out, line(u.periodLabel(l), u.keyCells(l.Key, l.Group), l))
	}
	for _, t := range u.Totals {
		out = append(out, line("total", u.keyCells("", ""), t))
	}
	return out
}

// WriteCSV writes u as CSV (comma, point decimals, RFC 4180), one line per
// group and one "total" line per currency.
func WriteCSV(w io.Writer, u Usage) error {
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(u.records()); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	return nil
}

// WriteXLSX writes u as an XLSX workbook: a sheet "usage" with numbers as
// numbers (kWh with three decimals, amounts with the currency's), so they
// can be summed in the spreadsheet.
func WriteXLSX(w io.Writer, u Usage) error {
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "usage"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	kwh, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("0.000")})
	if err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	money, err := f.NewStyle(&excelize.Style{CustomNumFmt: ptr("#,##0.00")})
	if err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	head := make([]any, len(u.header()))
	for i, h := range u.header() {
		head[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	row := 2
	put := func(period string, keys []string, l Line) error {
		cell, _ := excelize.CoordinatesToCellName(1, row)
		row++
		vals := []any{period}
		for _, k := range keys {
			vals = append(vals, k)
		}
		vals = append(vals, l.Sessions, excelize.Cell{StyleID: kwh, Value: float64(l.EnergyWh) / 1000}, l.Currency)
		for _, m := range []int64{l.GrossMinor, l.NetMinor, l.VATMinor} {
			v, err := minorValue(m, l.Currency)
			if err != nil {
				vals = append(vals, amount(m, l.Currency))
				continue
			}
			vals = append(vals, excelize.Cell{StyleID: money, Value: v})
		}
		return sw.SetRow(cell, vals)
	}
	for _, l := range u.Lines {
		if err := put(u.periodLabel(l), u.keyCells(l.Key, l.Group), l); err != nil {
			return fmt.Errorf("report xlsx: %w", err)
		}
	}
	for _, t := range u.Totals {
		if err := put("total", u.keyCells("", ""), t); err != nil {
			return fmt.Errorf("report xlsx: %w", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("report xlsx: %w", err)
	}
	return nil
}

// minorValue is the spreadsheet number of an amount: parsed back from its
// exact decimal text, so the cell shows exactly the cents.
func minorValue(minor int64, cur string) (float64, error) {
	s, err := tariff.FormatAmount(minor, cur)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(s, 64)
}

func ptr[T any](v T) *T { return &v }
