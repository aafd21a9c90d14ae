// Package simplex solves small dense linear programs: maximize c·x subject
// to rows a·x ≤ b (or a·x = b) and bounds lo ≤ x ≤ hi. It is the bounded
// primal simplex method on a dense tableau (two phases), with Dantzig's
// rule and Bland's rule after a run of degenerate steps, so it cannot
// cycle. It is meant for the few dozen variables load management needs
// where closed forms do not reach (nested unbalance limits) and for the
// exact reference of the tests, not for large sparse problems: a step
// costs rows × columns.
//
// Arithmetic is float64; feasibility and optimality are decided with an
// absolute tolerance of Tolerance times the largest magnitude in the
// problem (at least 1), so callers should scale their data to about 1
// (amperes, not microamperes).
package simplex

import (
	"errors"
	"fmt"
	"math"
)

// Problem is a linear program. Every row of Rows has len(C) entries.
type Problem struct {
	C    []float64   // objective coefficients, maximized
	Rows [][]float64 // constraint rows
	RHS  []float64   // right-hand sides, one per row
	Eq   []bool      // optional: Eq[i] makes row i an equality
	Lo   []float64   // lower bounds (finite); nil means all 0
	Hi   []float64   // upper bounds (math.Inf(1) for none); nil means none
}

// Solution is an optimal point and its objective value.
type Solution struct {
	X         []float64
	Objective float64
}

// Errors Maximize returns; each is wrapped with the problem's size.
var (
	ErrInfeasible = errors.New("simplex: infeasible")
	ErrUnbounded  = errors.New("simplex: unbounded")
	ErrShape      = errors.New("simplex: malformed problem")
)

// Tolerance is the relative tolerance of the feasibility and optimality
// tests.
const Tolerance = 1e-9

// degenerateRun is the number of consecutive degenerate steps after which
// the entering variable is chosen by Bland's rule.
const degenerateRun = 50

// status of a nonbasic variable.
const (
	atLower = iota
	atUpper
	basic
)

type tableau struct {
	m, cols int
	t       [][]float64 // m rows of B⁻¹A
	obj     []float64   // reduced costs c_j − c_B·B⁻¹A_j
	beta    []float64   // values of the basic variables, by row
	head    []int       // basic variable of each row
	status  []int
	upper   []float64 // upper bound of every column (lower is 0)
	tol     float64
}

// Maximize solves p. It returns ErrInfeasible or ErrUnbounded (wrapped)
// when there is no optimum.
func Maximize(p Problem) (Solution, error) {
	n, m := len(p.C), len(p.Rows)
	if len(p.RHS) != m || (p.Eq != nil && len(p.Eq) != m) || (p.Lo != nil && len(p.Lo) != n) || (p.Hi != nil && len(p.Hi) != n) {
		return Solution{}, fmt.Errorf("%w: %d variables, %d rows", ErrShape, n, m)
	}
	scale := 1.0
	lo := make([]float64, n)
	up := make([]float64, n)
	for j := range n {
		if p.Lo != nil {
			lo[j] = p.Lo[j]
		}
		up[j] = math.Inf(1)
		if p.Hi != nil {
			up[j] = p.Hi[j] - lo[j]
		}
		if math.IsInf(lo[j], 0) || math.IsNaN(lo[j]) || math.IsNaN(up[j]) {
			return Solution{}, fmt.Errorf("%w: bounds of variable %d", ErrShape, j)
		}
		scale = max(scale, math.Abs(lo[j]), finite(math.Abs(up[j])), math.Abs(p.C[j]))
	}
	rhs := make([]float64, m)
	for i, row := range p.Rows {
		if len(row) != n {
			return Solution{}, fmt.Errorf("%w: row %d has %d entries for %d variables", ErrShape, i, len(row), n)
		}
		rhs[i] = p.RHS[i]
		for j, a := range row {
			rhs[i] -= a * lo[j]
			scale = max(scale, math.Abs(a))
		}
		scale = max(scale, math.Abs(p.RHS[i]))
	}
	tol := Tolerance * scale
	for j := range n {
		if up[j] < -tol {
			return Solution{}, fmt.Errorf("%w: variable %d has lower bound %g above upper bound %g", ErrInfeasible, j, lo[j], lo[j]+up[j])
		}
		up[j] = max(up[j], 0)
	}

	// Columns: structural 0..n-1, slacks n..n+m-1, artificials after.
	var art []int // rows that need an artificial variable
	for i := range m {
		if rhs[i] < 0 || (p.Eq != nil && p.Eq[i]) {
			art = append(art, i)
		}
	}
	cols := n + m + len(art)
	tb := &tableau{m: m, cols: cols, tol: tol, t: make([][]float64, m), beta: make([]float64, m), head: make([]int, m),
		status: make([]int, cols), upper: make([]float64, cols), obj: make([]float64, cols)}
	copy(tb.upper, up)
	for i := range m {
		tb.upper[n+i] = math.Inf(1)
		if p.Eq != nil && p.Eq[i] {
			tb.upper[n+i] = 0
		}
	}
	for k := range art {
		tb.upper[n+m+k] = math.Inf(1)
	}
	artOf := make(map[int]int, len(art))
	for k, i := range art {
		artOf[i] = n + m + k
	}
	for i, row := range p.Rows {
		r := make([]float64, cols)
		copy(r, row)
		r[n+i] = 1
		b := rhs[i]
		if a, ok := artOf[i]; ok {
			if b < 0 {
				for j := range n + m {
					r[j] = -r[j]
				}
				b = -b
			}
			r[a] = 1
			tb.head[i] = a
		} else {
			tb.head[i] = n + i
		}
		tb.t[i] = r
		tb.beta[i] = b
	}
	for j := range cols {
		tb.status[j] = atLower
	}
	for _, h := range tb.head {
		tb.status[h] = basic
	}

	// Phase 1: maximize −Σ artificials.
	if len(art) > 0 {
		c1 := make([]float64, cols)
		for k := range art {
			c1[n+m+k] = -1
		}
		tb.setObjective(c1)
		if err := tb.run(n + m); err != nil {
			return Solution{}, fmt.Errorf("phase 1 of %d variables, %d rows: %w", n, m, err)
		}
		infeas := 0.0
		for i, h := range tb.head {
			if h >= n+m {
				infeas += tb.beta[i]
			}
		}
		if infeas > tol*float64(1+len(art)) {
			return Solution{}, fmt.Errorf("%w: %d variables, %d rows (residual %g)", ErrInfeasible, n, m, infeas)
		}
		for k := range art {
			tb.upper[n+m+k] = 0
		}
	}

	// Phase 2.
	c2 := make([]float64, cols)
	copy(c2, p.C)
	tb.setObjective(c2)
	if err := tb.run(n + m); err != nil {
		return Solution{}, fmt.Errorf("%d variables, %d rows: %w", n, m, err)
	}
	x := make([]float64, n)
	for j := range n {
		if tb.status[j] == atUpper {
			x[j] = tb.upper[j]
		}
	}
	for i, h := range tb.head {
		if h < n {
			x[h] = tb.beta[i]
		}
	}
	obj := 0.0
	for j := range n {
		x[j] = lo[j] + min(max(x[j], 0), tb.upper[j])
		obj += p.C[j] * x[j]
	}
	return Solution{X: x, Objective: obj}, nil
}

func finite(v float64) float64 {
	if math.IsInf(v, 0) {
		return 0
	}
	return v
}

// setObjective computes the reduced costs of c for the current basis.
func (tb *tableau) setObjective(c []float64) {
	copy(tb.obj, c)
	for i, h := range tb.head {
		if ch := c[h]; ch != 0 {
			row := tb.t[i]
			for j := range tb.obj {
				tb.obj[j] -= ch * row[j]
			}
		}
	}
	for _, h := range tb.head {
		tb.obj[h] = 0
	}
}

// run iterates until optimal. Only columns below enter limit may enter
// the basis (artificials never re-enter).
func (tb *tableau) run(enter int) error {
	degenerate := 0
	maxIter := 50 * (tb.m + tb.cols + 10)
	for range maxIter {
		j, dir := tb.entering(enter, degenerate >= degenerateRun)
		if j < 0 {
			return nil
		}
		row, theta, toUpper := tb.ratio(j, dir, degenerate >= degenerateRun)
		if math.IsInf(theta, 1) {
			return ErrUnbounded
		}
		if theta <= tb.tol {
			degenerate++
		} else {
			degenerate = 0
		}
		tb.move(j, dir, row, theta, toUpper)
	}
	return fmt.Errorf("simplex: no optimum after %d steps", maxIter)
}

// entering picks a nonbasic column whose move improves the objective, and
// the direction of the move (+1 up from its lower bound, −1 down from its
// upper bound); -1 if there is none.
func (tb *tableau) entering(limit int, bland bool) (int, float64) {
	best, dir, bestD := -1, 0.0, 0.0
	for j := range limit {
		d := tb.obj[j]
		switch tb.status[j] {
		case atLower:
			if d > tb.tol && tb.upper[j] > 0 {
				if bland {
					return j, 1
				}
				if d > bestD {
					best, dir, bestD = j, 1, d
				}
			}
		case atUpper:
			if d < -tb.tol && tb.upper[j] > tb.tol {
				if bland {
					return j, -1
				}
				if -d > bestD {
					best, dir, bestD = j, -1, -d
				}
			}
		}
	}
	return best, dir
}

// ratio finds how far column j may move: the row whose basic variable
// reaches a bound first (and whether that is its upper bound), or row -1
// if j reaches its own other bound first. Ties go to the larger pivot, or
// under Bland's rule to the lowest basic column.
func (tb *tableau) ratio(j int, dir float64, bland bool) (int, float64, bool) {
	theta, row, toUpper, piv := tb.upper[j], -1, false, 0.0
	for i := range tb.m {
		a := dir * tb.t[i][j]
		var lim float64
		var up bool
		switch {
		case a > tb.tol:
			lim = max(tb.beta[i], 0) / a
		case a < -tb.tol:
			u := tb.upper[tb.head[i]]
			if math.IsInf(u, 1) {
				continue
			}
			lim, up = max(u-tb.beta[i], 0)/-a, true
		default:
			continue
		}
		take := false
		switch {
		case row < 0:
			take = lim < theta
		case lim < theta-tb.tol:
			take = true
		case lim <= theta+tb.tol && bland:
			take = tb.head[i] < tb.head[row]
		case lim <= theta+tb.tol:
			take = math.Abs(a) > piv
		}
		if take {
			theta, row, toUpper, piv = lim, i, up, math.Abs(a)
		}
	}
	return row, theta, toUpper
}

// move moves column j by theta in direction dir and pivots it into row
// (or flips it to its other bound if row < 0).
func (tb *tableau) move(j int, dir float64, row int, theta float64, toUpper bool) {
	for i := range tb.m {
		tb.beta[i] -= dir * theta * tb.t[i][j]
	}
	if row < 0 {
		if tb.status[j] == atLower {
			tb.status[j] = atUpper
		} else {
			tb.status[j] = atLower
		}
		return
	}
	value := theta
	if tb.status[j] == atUpper {
		value = tb.upper[j] - theta
	}
	leaving := tb.head[row]
	tb.status[leaving] = atLower
	if toUpper {
		tb.status[leaving] = atUpper
	}
	pr := tb.t[row]
	inv := 1 / pr[j]
	for k := range pr {
		pr[k] *= inv
	}
	pr[j] = 1
	for i := range tb.m {
		if i == row {
			continue
		}
		r := tb.t[i]
		f := r[j]
		if f == 0 {
			continue
		}
		for k := range r {
			r[k] -= f * pr[k]
		}
		r[j] = 0
	}
	if f := tb.obj[j]; f != 0 {
		for k := range tb.obj {
			tb.obj[k] -= f * pr[k]
		}
		tb.obj[j] = 0
	}
	tb.head[row] = j
	tb.status[j] = basic
	tb.beta[row] = value
}
