package lpref

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrNotAllFit is returned by Target when not every car fits at its
// minimum.
var ErrNotAllFit = errors.New("lpref: not every car fits at its minimum")

// Target returns the target allocation of FIELD.md, in amperes per car,
// for a model in which every car fits at its minimum: among all
// allocations giving every car at least its minimum and keeping every
// limit, the one whose premium currents are lexicographically max-min
// optimal, and subject to that the one whose eco currents are.
//
// Method: successive LPs (progressive filling). For each class, the cars
// not yet fixed rise together: one LP finds the highest common level t
// (the other class's cars may take anything in [min, max] while premium
// rises; premium is fixed while eco rises); further LPs find which of the
// rising cars cannot go above t while the others stay at t or above
// (maximising the sum of small lifts until no car can be lifted), and
// those are fixed at t. A car whose minimum is above the level joins when
// the level reaches it.
func (m Model) Target() ([]float64, error) {
	n := len(m.Cars)
	z := newLazyLP(m, nil)
	if ok, err := m.fitsAtMin(z); err != nil {
		return nil, err
	} else if !ok {
		return nil, ErrNotAllFit
	}
	fixed := make([]bool, n)
	val := make([]float64, n)
	for _, premium := range []bool{true, false} {
		if err := m.fill(z, premium, fixed, val); err != nil {
			return nil, err
		}
	}
	return val, nil
}

// fitsAtMin reports whether every car fits at its minimum (and, under
// unbalance limits, with some cars above it).
func (m Model) fitsAtMin(z *lazyLP) (bool, error) {
	l := newLP(len(m.Cars))
	for i, c := range m.Cars {
		l.lo[i], l.hi[i] = c.Min, c.Max
	}
	_, err := z.maximize(l)
	if errors.Is(err, errInfeasible) {
		return false, nil
	}
	return err == nil, err
}

// fill raises the cars of one class, not yet fixed, to their lex max-min
// levels, fixing them in val.
func (m Model) fill(z *lazyLP, premium bool, fixed []bool, val []float64) error {
	n := len(m.Cars)
	level := math.Inf(1)
	for i, c := range m.Cars {
		if c.Premium == premium && !fixed[i] {
			level = min(level, c.Min)
		}
	}
	for range 4*n + 8 {
		var joined, waiting []int
		tHi := math.Inf(1)
		for i, c := range m.Cars {
			if c.Premium != premium || fixed[i] {
				continue
			}
			if c.Min <= level+tol {
				joined = append(joined, i)
			} else {
				waiting = append(waiting, i)
				tHi = min(tHi, c.Min)
			}
		}
		if len(joined) == 0 {
			if len(waiting) == 0 {
				return nil
			}
			level = tHi
			continue
		}
		// The highest common level.
		l := m.levelLP(fixed, val, level)
		tv := n // variable index of t
		l.c[tv] = 1
		l.lo[tv], l.hi[tv] = level, tHi
		for _, i := range joined {
			l.add(map[int]float64{tv: 1, i: -1}, 0)
		}
		sol, err := z.maximize(l)
		if err != nil {
			return fmt.Errorf("lpref: level above %g A: %w", level, err)
		}
		t := max(level, sol.X[tv])
		blocked, err := m.blocked(z, fixed, val, joined, t)
		if err != nil {
			return err
		}
		if len(blocked) == 0 && t < tHi-tol {
			return fmt.Errorf("lpref: level %g A, below the next join %g A, blocks no car", t, tHi)
		}
		for _, i := range blocked {
			fixed[i], val[i] = true, t
		}
		level = t
	}
	return fmt.Errorf("lpref: no end to the levels of %d cars", n)
}

// levelLP is an LP over the car currents and one extra variable, with the
// fixed cars at their values, the rest in [min, max].
func (m Model) levelLP(fixed []bool, val []float64, level float64) *lp {
	l := newLP(len(m.Cars) + 1)
	for i, c := range m.Cars {
		l.lo[i], l.hi[i] = c.Min, c.Max
		if fixed[i] {
			l.lo[i], l.hi[i] = val[i], val[i]
		}
	}
	return l
}

// blocked returns the cars of joined that cannot go above t while every
// other car of joined stays at t or above.
func (m Model) blocked(z *lazyLP, fixed []bool, val []float64, joined []int, t float64) ([]int, error) {
	const lift = 1e-3 // A: a lift this small always fits if any does
	// A lift below liftTol is the LPs' rounding (their tolerance is 1e-9
	// of the largest limit), not room.
	const liftTol = 1e-5
	n := len(m.Cars)
	undecided := slices.Clone(joined)
	for len(undecided) > 0 {
		l := newLP(n + len(undecided))
		for i, c := range m.Cars {
			l.lo[i], l.hi[i] = c.Min, c.Max
			if fixed[i] {
				l.lo[i], l.hi[i] = val[i], val[i]
			}
		}
		for _, i := range joined {
			l.lo[i] = max(l.lo[i], t)
		}
		for k, i := range undecided {
			s := n + k
			l.c[s] = 1
			l.lo[s], l.hi[s] = 0, lift
			l.add(map[int]float64{s: 1, i: -1}, -t)
		}
		sol, err := z.maximize(l)
		if err != nil {
			return nil, fmt.Errorf("lpref: lifts above %g A: %w", t, err)
		}
		if sol.Objective <= liftTol {
			return undecided, nil
		}
		var still []int
		for k, i := range undecided {
			if sol.X[n+k] <= liftTol {
				still = append(still, i)
			}
		}
		if len(still) == len(undecided) {
			return undecided, nil
		}
		undecided = still
	}
	return nil, nil
}
