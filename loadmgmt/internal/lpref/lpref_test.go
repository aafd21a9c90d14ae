package lpref_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/parkgrid/parkgrid/loadmgmt/internal/lpref"
	"github.com/parkgrid/parkgrid/loadmgmt/internal/simplex"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
	"pgregory.net/rapid"
)

// genModel draws a small site: a grid connection, up to two nodes below it
// (one may hang below the other), unbalance and total limits, and cars of
// both classes, one- and three-phase.
func genModel(maxCars int, maxA int) *rapid.Generator[lpref.Model] {
	return rapid.Custom(func(t *rapid.T) lpref.Model {
		var m lpref.Model
		for k := range rapid.IntRange(1, 3).Draw(t, "nodes") {
			n := lpref.Node{Parent: -1}
			if k > 0 {
				n.Parent = rapid.IntRange(0, k-1).Draw(t, "parent")
			}
			for p := range 3 {
				n.Cap[p] = float64(rapid.IntRange(6, 40).Draw(t, "cap"))
			}
			if rapid.IntRange(0, 2).Draw(t, "unbalanced") == 0 {
				n.Unbalance = float64(rapid.IntRange(1, 12).Draw(t, "unbalance"))
			}
			if rapid.IntRange(0, 4).Draw(t, "total") == 0 {
				n.Total = float64(rapid.IntRange(12, 90).Draw(t, "total-a"))
			}
			m.Nodes = append(m.Nodes, n)
		}
		for range rapid.IntRange(1, maxCars).Draw(t, "cars") {
			c := lpref.Car{Node: rapid.IntRange(0, len(m.Nodes)-1).Draw(t, "node"), Min: 6, Premium: rapid.Bool().Draw(t, "premium")}
			c.Max = float64(rapid.IntRange(6, maxA).Draw(t, "max"))
			if rapid.Bool().Draw(t, "one-phase") {
				c.Phases = []int{rapid.IntRange(0, 2).Draw(t, "phase")}
			} else {
				c.Phases = []int{0, 1, 2}
			}
			m.Cars = append(m.Cars, c)
		}
		return m
	})
}

// gridTarget is the target found by trying every allocation with currents
// in steps of step amperes: the premium currents, sorted, lexicographically
// largest, then the eco currents. ok is false if none is feasible.
func gridTarget(m lpref.Model, step float64) ([]float64, bool) {
	n := len(m.Cars)
	cur := make([]float64, n)
	var best, bestP, bestE []float64
	var rec func(i int)
	rec = func(i int) {
		if i == n {
			if m.Feasible(cur, 1e-9) != nil {
				return
			}
			var p, e []float64
			for j, c := range m.Cars {
				if c.Premium {
					p = append(p, cur[j])
				} else {
					e = append(e, cur[j])
				}
			}
			slices.Sort(p)
			slices.Sort(e)
			if best != nil {
				if c := slices.Compare(p, bestP); c < 0 || (c == 0 && slices.Compare(e, bestE) <= 0) {
					return
				}
			}
			best, bestP, bestE = slices.Clone(cur), p, e
			return
		}
		for x := m.Cars[i].Min; x <= m.Cars[i].Max+1e-9; x += step {
			cur[i] = x
			rec(i + 1)
		}
	}
	rec(0)
	return best, best != nil
}

// TestPropertyTargetMatchesGridSearch checks the LP reference against
// exhaustive search on tiny sites: each car within a grid step of the best
// allocation on a quarter-ampere grid.
func TestPropertyTargetMatchesGridSearch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genModel(3, 10).Draw(t, "model")
		got, err := m.Target()
		grid, ok := gridTarget(m, 0.25)
		if errors.Is(err, lpref.ErrNotAllFit) {
			if ok {
				t.Fatalf("reference: not all fit; grid search found %v", grid)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			// The grid may miss a feasible point between its steps.
			t.Skip("no feasible point on the grid") // a generated case, no service: no CI guard
		}
		if err := m.Feasible(got, 1e-6); err != nil {
			t.Fatalf("target %v: %v", got, err)
		}
		for i := range got {
			if math.Abs(got[i]-grid[i]) > 0.25+1e-6 {
				t.Fatalf("car %d: reference %g A, grid search %g A; reference %v, grid %v", i, got[i], grid[i], got, grid)
			}
		}
	})
}

// gonumSolver solves with gonum's simplex: rows and bounds as inequalities
// in gonum's general form.
func gonumSolver(p simplex.Problem) (sol simplex.Solution, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gonum: %v", r)
		}
	}()
	n := len(p.C)
	g := mat.NewDense(len(p.Rows)+2*n, n, nil)
	var h []float64
	for i, row := range p.Rows {
		g.SetRow(i, row)
		h = append(h, p.RHS[i])
	}
	for j := range n {
		g.Set(len(p.Rows)+2*j, j, -1)
		h = append(h, -p.Lo[j])
		g.Set(len(p.Rows)+2*j+1, j, 1)
		h = append(h, min(p.Hi[j], 1e6))
	}
	c := make([]float64, n)
	for j, v := range p.C {
		c[j] = -v
	}
	cs, as, bs := lp.Convert(c, g, h, nil, nil)
	f, x, err := lp.Simplex(cs, as, bs, 1e-10, nil)
	if errors.Is(err, lp.ErrInfeasible) {
		return simplex.Solution{}, fmt.Errorf("gonum: %w", simplex.ErrInfeasible)
	}
	if err != nil {
		return simplex.Solution{}, err
	}
	out := make([]float64, n)
	for j := range n {
		out[j] = x[j] - x[n+j]
	}
	return simplex.Solution{X: out, Objective: -f}, nil
}

// TestPropertyTargetSameWithGonum runs the reference with gonum's simplex
// in place of package simplex: the same target, within 1 mA.
func TestPropertyTargetSameWithGonum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genModel(6, 32).Draw(t, "model")
		want, err := m.Target()
		if errors.Is(err, lpref.ErrNotAllFit) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Solver = gonumSolver
		got, err := m.Target()
		if err != nil {
			t.Fatalf("with gonum: %v (simplex: %v)", err, want)
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-3 {
				t.Fatalf("car %d: %g A with gonum, %g A with simplex", i, got[i], want[i])
			}
		}
	})
}

// TestPropertyMaxRunningMatchesExhaustive compares the branch and bound
// with trying every subset of cars.
func TestPropertyMaxRunningMatchesExhaustive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genModel(8, 16).Draw(t, "model")
		got, err := m.MaxRunning(10_000, nil)
		if err != nil {
			t.Fatal(err)
		}
		bestP, bestT := 0, 0
		for set := range 1 << len(m.Cars) {
			p, tot := 0, 0
			sub := lpref.Model{Nodes: m.Nodes}
			for i, c := range m.Cars {
				if set&(1<<i) != 0 {
					sub.Cars = append(sub.Cars, c)
					tot++
					if c.Premium {
						p++
					}
				}
			}
			if p < bestP || (p == bestP && tot <= bestT) {
				continue
			}
			if _, err := sub.Target(); err == nil {
				bestP, bestT = p, tot
			} else if !errors.Is(err, lpref.ErrNotAllFit) {
				t.Fatal(err)
			}
		}
		if got.Premium != bestP || got.Total != bestT {
			t.Fatalf("branch and bound: %d premium, %d in all; exhaustive: %d, %d", got.Premium, got.Total, bestP, bestT)
		}
		x := make([]float64, len(m.Cars))
		sub := lpref.Model{Nodes: m.Nodes}
		var idx []int
		for i, c := range m.Cars {
			if got.Cars[i] {
				sub.Cars = append(sub.Cars, c)
				idx = append(idx, i)
			}
		}
		tgt, err := sub.Target()
		if err != nil {
			t.Fatalf("the chosen cars do not fit: %v", err)
		}
		for k, i := range idx {
			x[i] = tgt[k]
		}
		if err := m.Feasible(x, 1e-6); err != nil {
			t.Fatal(err)
		}
	})
}
