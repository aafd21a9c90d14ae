package capacity

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// Reports are the rows of a sweep, one per connection size.
type Reports []Report

// WriteTable writes the report as a one-row table.
func (r Report) WriteTable(w io.Writer) error { return Reports{r}.WriteTable(w) }

// WriteCSV writes the report as a one-row CSV file with a header.
func (r Report) WriteCSV(w io.Writer) error { return Reports{r}.WriteCSV(w) }

// tenths formats an integer in thousandths as a decimal with one digit.
func tenths(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	v = (v + 50) / 100
	return fmt.Sprintf("%s%d.%d", sign, v/10, v%10)
}

func ampsList(ma [3]int64) string {
	return fmt.Sprintf("%d/%d/%d", ma[0]/1000, ma[1]/1000, ma[2]/1000)
}

// WriteTable writes an aligned text table, one row per report.
func (rs Reports) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "connection A\tpoints\tarrivals\tturned away\twanted kWh\tdelivered kWh\tmet %\tunsatisfied\tpeak A L1/L2/L3\tscarce steps %\tbinding limit (share of cars held)\t")
	for _, r := range rs {
		scarce := int64(0)
		if r.Steps > 0 {
			scarce = int64(r.ScarceSteps) * 1000 / int64(r.Steps)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t\n",
			ampsList(r.ConnectionMA), r.Points, r.Arrivals, r.TurnedAway,
			tenths(r.EnergyWantedWh), tenths(r.EnergyDeliveredWh), tenths(r.DemandMetPerMille*100),
			r.Unsatisfied, ampsList(r.PeakLoadMA), tenths(scarce*100), bindingText(r))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// bindingText names the binding limit and its share, or says that no
// limit of the site held a car back.
func bindingText(r Report) string {
	if r.Binding.Limit == loadmgmt.LimitNone {
		return "none (cars at their max)"
	}
	return fmt.Sprintf("%v (%s %%)", r.Binding, tenths(r.BindingPerMille*100))
}

// WriteCSV writes a CSV file with a header row, in integer units.
func (rs Reports) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{
		"connection_l1_ma", "connection_l2_ma", "connection_l3_ma", "points", "arrivals", "turned_away",
		"energy_wanted_wh", "energy_delivered_wh", "demand_met_permille", "unsatisfied",
		"peak_l1_ma", "peak_l2_ma", "peak_l3_ma", "scarce_steps", "steps",
		"binding_limit", "binding_node", "binding_phase", "binding_permille",
	}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, r := range rs {
		row := []string{
			i64(r.ConnectionMA[0]), i64(r.ConnectionMA[1]), i64(r.ConnectionMA[2]),
			strconv.Itoa(r.Points), strconv.Itoa(r.Arrivals), strconv.Itoa(r.TurnedAway),
			i64(r.EnergyWantedWh), i64(r.EnergyDeliveredWh), i64(r.DemandMetPerMille), strconv.Itoa(r.Unsatisfied),
			i64(r.PeakLoadMA[0]), i64(r.PeakLoadMA[1]), i64(r.PeakLoadMA[2]),
			strconv.Itoa(r.ScarceSteps), strconv.Itoa(r.Steps),
			string(r.Binding.Limit), r.Binding.Node, strconv.Itoa(r.Binding.Phase), i64(r.BindingPerMille),
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// WriteSVG draws the sweep: share of demand met (line, left axis, %) and
// cars that left unsatisfied (bars, right axis) over the connection size.
func (rs Reports) WriteSVG(w io.Writer) error {
	const width, height, left, right, top, bottom = 640, 360, 60, 60, 30, 50
	plotW, plotH := width-left-right, height-top-bottom
	maxUnsat := 1
	for _, r := range rs {
		maxUnsat = max(maxUnsat, r.Unsatisfied)
	}
	x := func(i int) int {
		if len(rs) == 1 {
			return left + plotW/2
		}
		return left + i*plotW/(len(rs)-1)
	}
	yMet := func(permille int64) int { return top + plotH - int(permille)*plotH/1000 }
	yUnsat := func(n int) int { return top + plotH - n*plotH/maxUnsat }

	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top+plotH, left+plotW, top+plotH)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left, top, left, top+plotH)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", left+plotW, top, left+plotW, top+plotH)
	for pct := 0; pct <= 100; pct += 25 {
		y := yMet(int64(pct * 10))
		p(`<text x="%d" y="%d" text-anchor="end">%d %%</text>`+"\n", left-6, y+4, pct)
	}
	p(`<text x="%d" y="%d" text-anchor="start">%d</text>`+"\n", left+plotW+6, top+4, maxUnsat)
	p(`<text x="%d" y="%d" text-anchor="start">0</text>`+"\n", left+plotW+6, top+plotH+4)
	barW := max(4, plotW/(2*max(1, len(rs))))
	for i, r := range rs {
		p(`<rect x="%d" y="%d" width="%d" height="%d" fill="#f4a582"/>`+"\n",
			x(i)-barW/2, yUnsat(r.Unsatisfied), barW, top+plotH-yUnsat(r.Unsatisfied))
		p(`<text x="%d" y="%d" text-anchor="middle">%d</text>`+"\n", x(i), top+plotH+16, r.ConnectionMA[0]/1000)
	}
	p(`<polyline fill="none" stroke="#2166ac" stroke-width="2" points="`)
	for i, r := range rs {
		p("%d,%d ", x(i), yMet(r.DemandMetPerMille))
	}
	p(`"/>` + "\n")
	p(`<text x="%d" y="%d" text-anchor="middle">grid connection, A per phase</text>`+"\n", left+plotW/2, height-10)
	p(`<text x="%d" y="%d" fill="#2166ac">demand met (%%)</text>`+"\n", left, top-10)
	p(`<text x="%d" y="%d" text-anchor="end" fill="#d6604d">cars left unsatisfied</text>`+"\n", left+plotW, top-10)
	p("</svg>\n")
	if err != nil {
		return fmt.Errorf("write svg: %w", err)
	}
	return nil
}
