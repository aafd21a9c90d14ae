package capacity

import (
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// PointsPerCircuit is the number of charge points on one generated circuit.
const PointsPerCircuit = 8

// GenerateSite builds a three-level site of n charge points: the grid
// connection "grid" (connectionMA per phase, 20 A unbalance limit), three
// sub-distributions "dist-1".."dist-3" (each rated at 40 % of the
// connection), circuits "circuit-<d>-<c>" of PointsPerCircuit points with
// 80 A per phase, dealt round-robin to the distributions, and 3-phase 32 A
// charge points "cp-<i>" whose rotation cycles L1-L2-L3, L2-L3-L1, L3-L1-L2.
// Rotation rules: 1 min on, 3 min off.
func GenerateSite(n int, connectionMA int64) loadmgmt.Site {
	s := loadmgmt.Site{
		Nodes: []loadmgmt.Node{{
			ID: "grid", FuseMA: [3]int64{connectionMA, connectionMA, connectionMA}, UnbalanceMA: 20_000,
		}},
		Rotation: loadmgmt.RotationRules{MinOn: time.Minute, MinOff: 3 * time.Minute},
	}
	dist := connectionMA * 4 / 10
	for d := 1; d <= 3; d++ {
		s.Nodes = append(s.Nodes, loadmgmt.Node{ID: fmt.Sprintf("dist-%d", d), Parent: "grid", FuseMA: [3]int64{dist, dist, dist}})
	}
	rotations := []loadmgmt.Rotation{loadmgmt.RotationL1L2L3, loadmgmt.RotationL2L3L1, loadmgmt.RotationL3L1L2}
	circuit := ""
	for i := range n {
		if i%PointsPerCircuit == 0 {
			c := i / PointsPerCircuit
			d := c%3 + 1
			circuit = fmt.Sprintf("circuit-%d-%d", d, c/3+1)
			s.Nodes = append(s.Nodes, loadmgmt.Node{ID: circuit, Parent: fmt.Sprintf("dist-%d", d), FuseMA: [3]int64{80_000, 80_000, 80_000}})
		}
		s.Points = append(s.Points, loadmgmt.ChargePoint{
			ID: fmt.Sprintf("cp-%d", i+1), Node: circuit, Rotation: rotations[i%3], Phases: 3, MaxCurrentMA: 32_000,
		})
	}
	return s
}
