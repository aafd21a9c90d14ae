package capacity_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parkgrid/parkgrid/loadmgmt"
	"github.com/parkgrid/parkgrid/loadmgmt/capacity"
)

func TestGenerateSiteIsValid(t *testing.T) {
	for _, n := range []int{1, 8, 9, 500, 1000} {
		s := capacity.GenerateSite(n, 400_000)
		if err := s.Validate(); err != nil {
			t.Fatalf("%d points: %v", n, err)
		}
		if len(s.Points) != n {
			t.Fatalf("%d points wanted, got %d", n, len(s.Points))
		}
		circuits := 0
		for _, node := range s.Nodes {
			if strings.HasPrefix(node.ID, "circuit-") {
				circuits++
			}
		}
		if want := (n + capacity.PointsPerCircuit - 1) / capacity.PointsPerCircuit; circuits != want {
			t.Errorf("%d points: %d circuits, want %d", n, circuits, want)
		}
	}
}

func TestRunDeterministicAndPlausible(t *testing.T) {
	site := capacity.GenerateSite(40, 100_000)
	cfg := capacity.Config{Seed: 7, Step: time.Minute}
	a, err := capacity.Run(cfg, site)
	if err != nil {
		t.Fatal(err)
	}
	b, err := capacity.Run(cfg, site)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different reports (-first +second):\n%s", diff)
	}
	c, err := capacity.Run(capacity.Config{Seed: 8, Step: time.Minute}, site)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.Equal(a, c) {
		t.Error("different seeds gave the same report")
	}
	t.Logf("%+v", a)
	if a.Arrivals == 0 || a.EnergyDeliveredWh <= 0 || a.EnergyDeliveredWh > a.EnergyWantedWh {
		t.Errorf("implausible: %+v", a)
	}
	for ph, peak := range a.PeakLoadMA {
		if peak > site.Nodes[0].FuseMA[ph] {
			t.Errorf("peak on L%d %d mA above the connection's %d mA", ph+1, peak, site.Nodes[0].FuseMA[ph])
		}
	}
}

// A larger connection never delivers less and never leaves more cars
// unsatisfied, for the same arrivals.
func TestSweepMonotone(t *testing.T) {
	site := capacity.GenerateSite(48, 400_000)
	reps, err := capacity.Sweep(capacity.Config{Seed: 3, Step: time.Minute}, site, []int64{20_000, 60_000, 120_000, 400_000})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := reps.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	for i := 1; i < len(reps); i++ {
		prev, cur := reps[i-1], reps[i]
		if cur.Arrivals != prev.Arrivals {
			t.Errorf("arrivals differ between connection sizes: %d vs %d", prev.Arrivals, cur.Arrivals)
		}
		// Allow 1 % noise: rotation and rounding differ between sizes.
		if cur.EnergyDeliveredWh*100 < prev.EnergyDeliveredWh*99 {
			t.Errorf("%v delivers %d Wh, less than %v with %d Wh", cur.ConnectionMA, cur.EnergyDeliveredWh, prev.ConnectionMA, prev.EnergyDeliveredWh)
		}
	}
	if reps[0].DemandMetPerMille >= reps[len(reps)-1].DemandMetPerMille {
		t.Errorf("a 20 A connection meets %d‰ of demand, a 400 A one %d‰", reps[0].DemandMetPerMille, reps[len(reps)-1].DemandMetPerMille)
	}
}

func TestWriters(t *testing.T) {
	reps := capacity.Reports{
		{ConnectionMA: [3]int64{100_000, 100_000, 100_000}, Points: 8, Arrivals: 10, EnergyWantedWh: 123_456, EnergyDeliveredWh: 100_000, DemandMetPerMille: 810, Unsatisfied: 2, PeakLoadMA: [3]int64{99_000, 98_000, 97_000}, ScarceSteps: 5, Steps: 10,
			Binding: loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "dist-2", Phase: 3}, BindingPerMille: 640},
		{ConnectionMA: [3]int64{400_000, 400_000, 400_000}, Points: 8, Steps: 10},
	}
	var csvBuf, table, svg bytes.Buffer
	if err := reps.WriteCSV(&csvBuf); err != nil {
		t.Fatal(err)
	}
	wantCSV := "connection_l1_ma,connection_l2_ma,connection_l3_ma,points,arrivals,turned_away,energy_wanted_wh,energy_delivered_wh,demand_met_permille,unsatisfied,peak_l1_ma,peak_l2_ma,peak_l3_ma,scarce_steps,steps,binding_limit,binding_node,binding_phase,binding_permille\n" +
		"100000,100000,100000,8,10,0,123456,100000,810,2,99000,98000,97000,5,10,fuse,dist-2,3,640\n" +
		"400000,400000,400000,8,0,0,0,0,0,0,0,0,0,0,10,,,0,0\n"
	if diff := cmp.Diff(wantCSV, csvBuf.String()); diff != "" {
		t.Errorf("CSV (-want +got):\n%s", diff)
	}
	if err := reps.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"100/100/100", "123.5", "100.0", "81.0", "99/98/97", "50.0", "fuse at dist-2 L3 (64.0 %)", "none (cars at their max)"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	if err := reps.WriteSVG(&svg); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg.String(), "<svg") || !strings.HasSuffix(svg.String(), "</svg>\n") {
		t.Errorf("not an SVG document:\n%s", svg.String())
	}
}

// TestSweepNamesTheBindingLimit: the sweep changes only the grid
// connection's fuse. A small one binds; larger ones give identical rows,
// and the binding limit says why: another limit (on this site, the
// connection's 20 A unbalance limit) holds the cars back.
func TestSweepNamesTheBindingLimit(t *testing.T) {
	site := capacity.GenerateSite(24, 120_000) // distributions rated 48 A
	reps, err := capacity.Sweep(capacity.Config{Seed: 4, Step: time.Minute, Duration: 12 * time.Hour, Start: time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC)}, site, []int64{30_000, 250_000, 300_000})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := reps.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	fuse := loadmgmt.Reason{Limit: loadmgmt.LimitFuse, Node: "grid"}
	if b := reps[0].Binding; b.Limit != fuse.Limit || b.Node != fuse.Node || b.Phase == 0 {
		t.Errorf("30 A connection: binding %v, want the connection's fuse and a phase", b)
	}
	if reps[1].EnergyDeliveredWh != reps[2].EnergyDeliveredWh {
		t.Fatalf("250 A and 300 A deliver %d and %d Wh, not the same", reps[1].EnergyDeliveredWh, reps[2].EnergyDeliveredWh)
	}
	for _, r := range reps[1:] {
		if b := r.Binding; b.Limit == loadmgmt.LimitNone || b.Phase == 0 || (b.Limit == fuse.Limit && b.Node == fuse.Node) {
			t.Errorf("%v connection: binding %v, want a limit other than the connection's fuse, with its phase", r.ConnectionMA, b)
		}
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	site := capacity.GenerateSite(8, 100_000)
	if _, err := capacity.Run(capacity.Config{Step: -time.Second}, site); !errors.Is(err, capacity.ErrConfig) {
		t.Errorf("negative step: %v, want ErrConfig", err)
	}
	site.Points[0].Node = "nowhere"
	if _, err := capacity.Run(capacity.Config{}, site); !errors.Is(err, loadmgmt.ErrInvalidSite) {
		t.Errorf("bad site: %v, want ErrInvalidSite", err)
	}
}

// BenchmarkRun500 is a simulated day on 500 points at 30 s steps, the size
// `parkgrid plan` is meant for.
func BenchmarkRun500(b *testing.B) {
	site := capacity.GenerateSite(500, 1_000_000)
	for b.Loop() {
		if _, err := capacity.Run(capacity.Config{Seed: 1}, site); err != nil {
			b.Fatal(err)
		}
	}
}

// With stabilization (raises held back), the site delivers no more than
// without, and never draws above the connection.
func TestRunWithStabilize(t *testing.T) {
	site := capacity.GenerateSite(40, 100_000)
	morning := time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC)
	plain, err := capacity.Run(capacity.Config{Seed: 5, Start: morning, Step: 10 * time.Second, Duration: 6 * time.Hour}, site)
	if err != nil {
		t.Fatal(err)
	}
	rules := loadmgmt.Rules{RaiseInterval: 5 * time.Minute, DeadbandMA: 3000, MinOff: 3 * time.Minute}
	stable, err := capacity.Run(capacity.Config{Seed: 5, Start: morning, Step: 10 * time.Second, Duration: 6 * time.Hour, Stabilize: &rules}, site)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("plain: %d Wh, stabilized: %d Wh", plain.EnergyDeliveredWh, stable.EnergyDeliveredWh)
	if stable.EnergyDeliveredWh > plain.EnergyDeliveredWh || stable.EnergyDeliveredWh == 0 {
		t.Errorf("stabilized run delivered %d Wh, plain %d Wh", stable.EnergyDeliveredWh, plain.EnergyDeliveredWh)
	}
	for ph, peak := range stable.PeakLoadMA {
		if peak > site.Nodes[0].FuseMA[ph] {
			t.Errorf("peak on L%d %d mA above the connection's %d mA", ph+1, peak, site.Nodes[0].FuseMA[ph])
		}
	}
}
