package lpref

import (
	"errors"
	"fmt"
	"math"
)

// Running is the outcome of MaxRunning.
type Running struct {
	Premium, Total int
	Cars           []bool // which cars run in one optimal choice
}

// MaxRunning returns the largest number of premium cars that can run at
// once (each at least at its minimum, every limit kept), and subject to
// that the largest number of cars in all: an integer program (a binary y
// per car, its current in [min·y, max·y]), solved by branch and bound on
// LP relaxations, depth first, bounded by the LP optimum. maxNodes bounds
// the work; it returns an error rather than an unproven answer. hint, if
// not nil, is a choice of cars to start from: if they fit, the search only
// looks for better (the answer does not depend on it, the work does).
func (m Model) MaxRunning(maxNodes int, hint []bool) (Running, error) {
	n := len(m.Cars)
	w := float64(n + 1) // a premium car outweighs every eco car together
	z := newLazyLP(m, nil)
	base := newLP(2 * n) // x_0..x_{n-1}, y_0..y_{n-1}
	for i, c := range m.Cars {
		y := n + i
		base.lo[i], base.hi[i] = 0, c.Max
		base.lo[y], base.hi[y] = 0, 1
		base.c[y] = 1
		if c.Premium {
			base.c[y] = w + 1
		}
		base.add(map[int]float64{i: 1, y: -c.Max}, 0)
		base.add(map[int]float64{i: -1, y: c.Min}, 0)
	}
	best := Running{Premium: -1}
	bestScore := -1.0
	if hint != nil {
		sub := Model{Nodes: m.Nodes, Solver: m.Solver}
		h := Running{Cars: append([]bool(nil), hint...)}
		for i, c := range m.Cars {
			if hint[i] {
				sub.Cars = append(sub.Cars, c)
				h.Total++
				if c.Premium {
					h.Premium++
				}
			}
		}
		if ok, err := sub.fitsAtMin(newLazyLP(sub, nil)); err != nil {
			return Running{}, err
		} else if ok {
			best, bestScore = h, w*float64(h.Premium)+float64(h.Total)
		}
	}
	nodes := 0
	var branch func(lo, hi []float64) error
	branch = func(lo, hi []float64) error {
		nodes++
		if nodes > maxNodes {
			return fmt.Errorf("lpref: more than %d branch-and-bound nodes", maxNodes)
		}
		l := *base
		l.lo, l.hi = lo, hi
		sol, err := z.maximize(&l)
		if errors.Is(err, errInfeasible) {
			return nil
		}
		if err != nil {
			return err
		}
		if math.Floor(sol.Objective+1e-6) <= bestScore {
			return nil
		}
		frac, fracDist := -1, 0.0
		for i := range n {
			y := sol.X[n+i]
			if d := math.Min(y, 1-y); d > 1e-6 && d > fracDist {
				frac, fracDist = i, d
			}
		}
		if frac < 0 {
			r := Running{Cars: make([]bool, n)}
			for i, c := range m.Cars {
				if sol.X[n+i] > 0.5 {
					r.Cars[i] = true
					r.Total++
					if c.Premium {
						r.Premium++
					}
				}
			}
			best, bestScore = r, math.Round(sol.Objective)
			return nil
		}
		for _, v := range []float64{1, 0} {
			lo2, hi2 := append([]float64(nil), lo...), append([]float64(nil), hi...)
			lo2[n+frac], hi2[n+frac] = v, v
			if err := branch(lo2, hi2); err != nil {
				return err
			}
		}
		return nil
	}
	if err := branch(base.lo, base.hi); err != nil {
		return Running{}, err
	}
	if best.Premium < 0 {
		return Running{Cars: make([]bool, n)}, nil
	}
	return best, nil
}
