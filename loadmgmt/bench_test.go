package loadmgmt_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
	"github.com/parkgrid/parkgrid/loadmgmt/loadmgmttest"
)

// BenchmarkAllocate runs Allocate on the generated three-level site (grid
// connection with a 20 A unbalance limit, 3 distributions, circuits of 8
// points) with a car at every point: 40 % single-phase on rotated chargers,
// 16 or 32 A, a fifth premium. The connection allows 8 A per point and
// phase, so the grid, distribution and circuit limits all bind somewhere.
func BenchmarkAllocate(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 5000} {
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			site := loadmgmttest.Site(n, int64(n)*8_000)
			demands := loadmgmttest.Demands(site, 1000, 1, t0)
			if err := checkPlan(t0, site, demands, loadmgmt.Allocate(t0, site, demands)); err != nil {
				b.Fatal(err)
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

// BenchmarkAllocateScarce is the same site with a connection of 3 A per
// point and phase: not every car fits at 6 A, so some are paused.
func BenchmarkAllocateScarce(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			site := loadmgmttest.Site(n, int64(n)*3_000)
			demands := loadmgmttest.Demands(site, 1000, 1, t0)
			if !loadmgmt.Allocate(t0, site, demands).Scarce {
				b.Fatal("not scarce")
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
