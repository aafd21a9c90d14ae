package loadmgmt_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
	"github.com/parkgrid/parkgrid/loadmgmt/loadmgmttest"
)

// The benchmark sites: loadmgmttest.Site, a three-level site (grid
// connection with a 20 A unbalance limit, 3 distributions at 40 % of it,
// circuits of 8 points at 80 A) with a car at every point: 40 %
// single-phase on rotated chargers, 16 or 32 A, a fifth premium.
//   - feasible: a connection of 8 A per point and phase (20 A at 10
//     points, whose one circuit sits below one distribution), so the
//     grid, distribution and circuit limits all bind somewhere, and every
//     car fits at 6 A;
//   - scarce: 3 A per point and phase, so some cars are paused;
//   - nested: feasible, with a 20 A unbalance limit on every distribution
//     too (the linear program of the skeleton keeps the nested limits).
type benchSite struct {
	name      string
	perPointA int64
	nested    bool
}

var benchSites = []benchSite{{"feasible", 8, false}, {"scarce", 3, false}, {"nested", 8, true}}

func (b benchSite) site(n int) loadmgmt.Site {
	perPointA := b.perPointA
	if b.name == "feasible" && n < 100 {
		perPointA = 20
	}
	site := loadmgmttest.Site(n, int64(n)*perPointA*1000)
	if b.nested {
		for i := range site.Nodes {
			if strings.HasPrefix(site.Nodes[i].ID, "dist-") {
				site.Nodes[i].UnbalanceMA = 20_000
			}
		}
	}
	return site
}

// BenchmarkAllocate runs Allocate on the benchmark sites.
func BenchmarkAllocate(b *testing.B) {
	for _, bs := range benchSites {
		for _, n := range []int{10, 100, 1000, 5000} {
			if bs.nested && n == 10 {
				continue // one distribution: nothing nests
			}
			b.Run(fmt.Sprintf("%s/points=%d", bs.name, n), func(b *testing.B) {
				site := bs.site(n)
				demands := loadmgmttest.Demands(site, 1000, 1, t0)
				plan := loadmgmt.Allocate(t0, site, demands)
				if err := checkPlan(t0, site, demands, plan); err != nil {
					b.Fatal(err)
				}
				if plan.Scarce != (bs.name == "scarce") {
					b.Fatalf("%s site: plan.Scarce is %v", bs.name, plan.Scarce)
				}
				b.ReportAllocs()
				cpu := processCPU()
				for b.Loop() {
					loadmgmt.Allocate(t0, site, demands)
				}
				reportCPU(b, cpu)
			})
		}
	}
}

// BenchmarkReference runs the exact reference (successive LPs) on the
// same sites where it finishes in reasonable time: the target of the
// feasible sites, the largest running set of the smallest scarce one.
func BenchmarkReference(b *testing.B) {
	for _, bs := range benchSites {
		for _, n := range []int{10, 100, 1000} {
			if (bs.name == "scarce" && n > 10) || (bs.nested && n == 10) {
				continue
			}
			b.Run(fmt.Sprintf("%s/points=%d", bs.name, n), func(b *testing.B) {
				site := bs.site(n)
				demands := loadmgmttest.Demands(site, 1000, 1, t0)
				m, _ := refModel(t0, site, demands)
				cpu := processCPU()
				for b.Loop() {
					var err error
					if bs.name == "scarce" {
						_, err = m.MaxRunning(1_000_000, nil)
					} else {
						_, err = m.Target()
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, cpu)
			})
		}
	}
}

// processCPU is the CPU time (user + system) this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the CPU time per operation (all threads, GC included) as
// "cpu-ns/op": on a busy shared machine it is steadier than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	if used := processCPU() - start; used > 0 && b.N > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
