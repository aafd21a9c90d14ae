package edge

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/edge/config"
)

// FailsafeReport is what protects a site when its edge goes silent: per
// node, the fallback currents of the controllers that can apply one
// (a documented communication watchdog, drivers.Failsafe) against the
// node's limit and, at the grid connection, its safe budget; and the
// controllers without a device failsafe, which keep their last setpoint
// (docs/failsafe.md). `parkgrid edge --check` prints it.
type FailsafeReport struct {
	Nodes []NodeFailsafe
	// Without lists the charge points whose controller has no device
	// failsafe, by driver.
	Without map[config.Driver][]string
	// Unapplied lists charge points with a fallback_a whose controller
	// cannot apply it.
	Unapplied []string
	Watchdog  string // the watchdog set on the controllers that have one
}

// NodeFailsafe is one node of the site tree.
type NodeFailsafe struct {
	ID          string
	FallbackA   [3]int // sum of applied fallback currents per grid phase
	LimitA      [3]int
	SafeBudgetA *[3]int // the grid connection with a meter only
}

// hasFailsafe reports whether the driver for d implements drivers.Failsafe.
// It builds the driver without a bus: nothing is dialled.
func hasFailsafe(d config.Driver) bool {
	var c any
	switch d {
	case config.Phoenix:
		c = phoenix.New("", nil, 0)
	default:
		return false
	}
	_, ok := c.(drivers.Failsafe)
	return ok
}

// CheckFailsafe reports the fail-safe of a loaded site file.
func CheckFailsafe(s *config.Site) FailsafeReport {
	r := FailsafeReport{Without: map[config.Driver][]string{}, Watchdog: s.Watchdog.String()}
	type node struct {
		idx    int
		parent string
	}
	nodes := map[string]node{}
	add := func(id, parent string, limit config.PhaseAmps, budget *[3]int) {
		nodes[id] = node{len(r.Nodes), parent}
		r.Nodes = append(r.Nodes, NodeFailsafe{ID: id, LimitA: limit, SafeBudgetA: budget})
	}
	g := s.Grid
	var budget *[3]int
	if g.Meter != "" {
		b := [3]int(g.SafeBudget)
		budget = &b
	}
	add(g.ID, "", g.Limit, budget)
	for _, d := range g.Distributions {
		add(d.ID, g.ID, d.Limit, nil)
		for _, c := range d.Circuits {
			add(c.ID, d.ID, c.Limit, nil)
		}
	}
	for _, cp := range s.ChargePoints {
		dev, _ := s.Device(cp.Controller)
		if !hasFailsafe(dev.Driver) {
			r.Without[dev.Driver] = append(r.Without[dev.Driver], cp.ID)
			if cp.FallbackA > 0 {
				r.Unapplied = append(r.Unapplied, cp.ID)
			}
			continue
		}
		for n := cp.Circuit; n != ""; n = nodes[n].parent {
			for _, ph := range cp.GridPhases() {
				r.Nodes[nodes[n].idx].FallbackA[ph] += cp.FallbackA
			}
		}
	}
	return r
}

// Write prints the report, one node per line, then the controllers
// without a device failsafe.
func (r FailsafeReport) Write(w io.Writer) error {
	var b strings.Builder
	b.WriteString("fail-safe:\n")
	width := 0
	for _, n := range r.Nodes {
		width = max(width, len(n.ID))
	}
	abc := func(v [3]int) string { return fmt.Sprintf("%d/%d/%d A", v[0], v[1], v[2]) }
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "  %-*s  fallbacks %s  limit %s", width, n.ID, abc(n.FallbackA), abc(n.LimitA))
		if n.SafeBudgetA != nil {
			fmt.Fprintf(&b, "  safe budget %s", abc(*n.SafeBudgetA))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "  fallbacks are set with a %s watchdog on the controllers that have one\n", r.Watchdog)
	ds := make([]string, 0, len(r.Without))
	for d := range r.Without {
		ds = append(ds, string(d))
	}
	slices.Sort(ds)
	for _, ds := range ds {
		d := config.Driver(ds)
		pts := r.Without[d]
		fmt.Fprintf(&b, "  %d controllers without a device failsafe (%s): %s\n", len(pts), d, shortList(pts))
		b.WriteString("    a silent edge leaves them at their last setpoints, which the allocation kept within every fuse;\n")
		b.WriteString("    systemd restarts the edge (docs/failsafe.md)\n")
	}
	if len(r.Unapplied) > 0 {
		fmt.Fprintf(&b, "  fallback_a set but never applied (no device failsafe): %s\n", shortList(r.Unapplied))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// shortList joins ids, at most six of them.
func shortList(ids []string) string {
	if len(ids) > 6 {
		return strings.Join(ids[:6], ", ") + fmt.Sprintf(" and %d more", len(ids)-6)
	}
	return strings.Join(ids, ", ")
}
