package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/loadmgmt"
	"github.com/parkgrid/parkgrid/loadmgmt/capacity"
)

// runPlan simulates a day (or more) of arrivals against a site's tree and
// prints what the grid connection carries, for the configured connection
// and a sweep of other sizes.
func runPlan(_ context.Context, e *env, args []string) error {
	fs := newFlags(e, "plan")
	sitePath := fs.String("site", "deploy/site-large.yaml", "site file (the edge's YAML)")
	cars := fs.Int("cars", 0, "cars arriving per day (default: 2 per charge point)")
	hours := fs.Int("hours", 24, "simulated hours")
	seed := fs.Uint64("seed", 1, "random seed (same seed, same result)")
	step := fs.Duration("step", 30*time.Second, "simulated time per allocation")
	sweep := fs.String("sweep", "", "grid connection sizes to compare, A per phase, comma separated (default: 50%..150% of the site's)")
	csvPath := fs.String("csv", "", "also write the sweep as CSV to this file ('-' for stdout)")
	svgPath := fs.String("svg", "", "also write an SVG chart of the sweep to this file")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *hours <= 0 || *cars < 0 {
		return &exitError{code: 2, msg: "parkgrid plan: --hours must be > 0 and --cars ≥ 0"}
	}
	cfg, err := config.Load(*sitePath)
	if err != nil {
		return err
	}
	site := cfg.LoadSite()
	// Planning asks what the fuses carry: the grid meter is taken as live
	// with no other load, so no node falls back to its safe budget.
	for i := range site.Nodes {
		site.Nodes[i].Metered = false
	}
	if err := site.Validate(); err != nil {
		return fmt.Errorf("site %s: %w", *sitePath, err)
	}
	root, ok := gridConnection(site)
	if !ok {
		return fmt.Errorf("site %s: no grid connection node", *sitePath)
	}
	sizes, err := sweepSizes(*sweep, root.FuseMA)
	if err != nil {
		return err
	}
	ccfg := capacity.Config{Seed: *seed, Duration: time.Duration(*hours) * time.Hour, Step: *step, CarsPerDay: *cars}

	perDay := *cars
	if perDay == 0 {
		perDay = 2 * len(site.Points)
	}
	fmt.Fprintf(e.stdout, "site %s: %d charge points, grid connection %s A per phase, %d h simulated\n",
		*sitePath, len(site.Points), ampsString(root.FuseMA), *hours)
	fmt.Fprintf(e.stdout, "arrivals: a Poisson process of %d cars a day, its rate following the hour of day (seed %d)\n", perDay, *seed)
	fmt.Fprintf(e.stdout, "binding limit: what held the most running cars below their maximum (share of the car-steps held back)\n\n")
	rep, err := capacity.Run(ccfg, site)
	if err != nil {
		return err
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		return err
	}
	reps, err := capacity.Sweep(ccfg, site, sizes)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nsweep of grid connection sizes:\n")
	if err := reps.WriteTable(e.stdout); err != nil {
		return err
	}
	if err := writeTo(e, *csvPath, reps.WriteCSV); err != nil {
		return err
	}
	return writeTo(e, *svgPath, reps.WriteSVG)
}

func gridConnection(s loadmgmt.Site) (loadmgmt.Node, bool) {
	for _, n := range s.Nodes {
		if n.Parent == "" {
			return n, true
		}
	}
	return loadmgmt.Node{}, false
}

// sweepSizes parses "400,630" (A) into mA, or makes 50 %..150 % of the
// connection's smallest phase fuse.
func sweepSizes(s string, fuse [3]int64) ([]int64, error) {
	if s == "" {
		base := min(fuse[0], fuse[1], fuse[2])
		var out []int64
		for _, pct := range []int64{50, 75, 100, 125, 150} {
			out = append(out, base*pct/100/1000*1000)
		}
		return out, nil
	}
	var out []int64
	for _, f := range strings.Split(s, ",") {
		a, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || a <= 0 {
			return nil, fmt.Errorf("--sweep %q: %q is not a positive whole number of amperes", s, f)
		}
		out = append(out, a*1000)
	}
	return out, nil
}

func ampsString(ma [3]int64) string {
	return fmt.Sprintf("%d/%d/%d", ma[0]/1000, ma[1]/1000, ma[2]/1000)
}

// writeTo writes with fn to path ("-" is stdout, "" nothing).
func writeTo(e *env, path string, fn func(io.Writer) error) error {
	switch path {
	case "":
		return nil
	case "-":
		return fn(e.stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", path)
	return nil
}
