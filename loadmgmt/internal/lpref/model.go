// Package lpref is the exact reference the tests of package loadmgmt judge
// the engine by. It computes, with linear programs and nothing else, the
// target allocation of FIELD.md ("The target allocation, precisely") and the
// largest number of cars that can run (premium, then in all). It shares no
// code with the engine but the LP solver, which its own tests check against
// gonum's simplex. Test-only: nothing outside tests may import it.
//
// The model is the site reduced to what the target depends on, in amperes:
// nodes with per-phase limits, a bound on the sum of the phases and an
// unbalance limit, and cars with the grid phases they load, their minimum
// and maximum and their class.
package lpref

import (
	"errors"
	"fmt"
	"math"

	"github.com/parkgrid/parkgrid/loadmgmt/internal/simplex"
)

// Node is one node of the site tree.
type Node struct {
	Parent    int        // index of the parent, -1 for the grid connection
	Cap       [3]float64 // limit per grid phase, A
	Total     float64    // bound on the sum of the three phases, A; 0: none
	Unbalance float64    // bound on max phase − min phase, A; 0: none
}

// Car is a car that may run.
type Car struct {
	Node     int   // node it hangs below
	Phases   []int // grid phases it loads: one, or all three
	Min, Max float64
	Premium  bool
}

// errInfeasible is what a Solver wraps when a problem has no solution.
var errInfeasible = simplex.ErrInfeasible

// Solver solves one linear program, like simplex.Maximize (the default),
// wrapping simplex.ErrInfeasible when there is no solution.
type Solver func(simplex.Problem) (simplex.Solution, error)

// Model is a site with its cars.
type Model struct {
	Nodes []Node
	Cars  []Car
	// Solver, if set, replaces simplex.Maximize (the tests run the
	// reference with gonum's simplex too).
	Solver Solver
}

// tol is the tolerance, in amperes, of every comparison of LP results.
const tol = 1e-6

func (m Model) solve(p simplex.Problem) (simplex.Solution, error) {
	if m.Solver != nil {
		return m.Solver(p)
	}
	return simplex.Maximize(p)
}

// row is one linear constraint over the cars' currents: Σ coef·x ≤ rhs.
type row struct {
	coef map[int]float64
	rhs  float64
	name string
}

// constraints lists every node limit as rows over the cars that run
// (running[i]; nil means all).
func (m Model) constraints(running []bool) []row {
	below := make([][]int, len(m.Nodes)) // cars below each node
	for i, c := range m.Cars {
		if running != nil && !running[i] {
			continue
		}
		for n := c.Node; n >= 0; n = m.Nodes[n].Parent {
			below[n] = append(below[n], i)
		}
	}
	var rows []row
	for n, node := range m.Nodes {
		for p := range 3 {
			r := row{coef: map[int]float64{}, rhs: node.Cap[p], name: fmt.Sprintf("node %d L%d", n, p+1)}
			for _, i := range below[n] {
				if loads(m.Cars[i], p) {
					r.coef[i] = 1
				}
			}
			rows = append(rows, r)
		}
		if node.Total > 0 {
			r := row{coef: map[int]float64{}, rhs: node.Total, name: fmt.Sprintf("node %d total", n)}
			for _, i := range below[n] {
				r.coef[i] = float64(len(m.Cars[i].Phases))
			}
			rows = append(rows, r)
		}
		if node.Unbalance > 0 {
			for p := range 3 {
				for q := range 3 {
					if p == q {
						continue
					}
					r := row{coef: map[int]float64{}, rhs: node.Unbalance, name: fmt.Sprintf("node %d L%d−L%d", n, p+1, q+1)}
					for _, i := range below[n] {
						c := m.Cars[i]
						if len(c.Phases) == 1 && c.Phases[0] == p {
							r.coef[i] = 1
						}
						if len(c.Phases) == 1 && c.Phases[0] == q {
							r.coef[i] = -1
						}
					}
					rows = append(rows, r)
				}
			}
		}
	}
	return rows
}

func loads(c Car, p int) bool {
	for _, q := range c.Phases {
		if q == p {
			return true
		}
	}
	return false
}

// Feasible reports whether the currents x (A, one per car, 0 for a car
// that does not run) keep every limit, within slack amperes.
func (m Model) Feasible(x []float64, slack float64) error {
	for i, c := range m.Cars {
		if x[i] != 0 && (x[i] < c.Min-slack || x[i] > c.Max+slack) {
			return fmt.Errorf("car %d at %g A outside [%g, %g]", i, x[i], c.Min, c.Max)
		}
	}
	for _, r := range m.constraints(nil) {
		if v := r.value(x); v > r.rhs+slack {
			return fmt.Errorf("%s: %g A over %g A", r.name, v, r.rhs)
		}
	}
	return nil
}

func (r row) value(x []float64) float64 {
	s := 0.0
	for i, a := range r.coef {
		s += a * x[i]
	}
	return s
}

// lazyLP solves LPs over the cars' currents (variables 0..len(Cars)-1,
// then extra variables) whose node rows are added only when broken: most
// of them never bind, and the LPs stay small. active remembers, across
// calls, which node rows were needed.
type lazyLP struct {
	m        Model
	nodeRows []row
	active   []bool
}

func newLazyLP(m Model, running []bool) *lazyLP {
	rows := m.constraints(running)
	return &lazyLP{m: m, nodeRows: rows, active: make([]bool, len(rows))}
}

// lp is an LP over the car currents and extra variables, without the node
// rows.
type lp struct {
	c      []float64
	rows   [][]float64
	rhs    []float64
	lo, hi []float64
}

func newLP(vars int) *lp {
	l := &lp{c: make([]float64, vars), lo: make([]float64, vars), hi: make([]float64, vars)}
	for j := range l.hi {
		l.hi[j] = math.Inf(1)
	}
	return l
}

// add adds the row Σ coef[j]·v[j] ≤ rhs.
func (l *lp) add(coef map[int]float64, rhs float64) {
	r := make([]float64, len(l.c))
	for j, a := range coef {
		r[j] = a
	}
	l.rows = append(l.rows, r)
	l.rhs = append(l.rhs, rhs)
}

// maximize solves l with the node rows that bind. The LPs' answers keep
// their rows only to within their tolerance, and currents fixed at one
// LP's answer can leave the next a hair's breadth infeasible: an
// infeasible LP is tried again with every node row relaxed by up to
// maxRelax amperes, far below anything the tests resolve.
func (z *lazyLP) maximize(l *lp) (simplex.Solution, error) {
	var err error
	for _, relax := range []float64{0, 1e-6, 1e-5, maxRelax} {
		var sol simplex.Solution
		sol, err = z.maximizeRelaxed(l, relax)
		if !errors.Is(err, errInfeasible) {
			return sol, err
		}
	}
	return simplex.Solution{}, err
}

// maxRelax is the most a node row is relaxed by (A).
const maxRelax = 1e-4

func (z *lazyLP) maximizeRelaxed(l *lp, relax float64) (simplex.Solution, error) {
	nv := len(l.c)
	for range len(z.nodeRows) + 1 {
		p := simplex.Problem{C: l.c, Lo: l.lo, Hi: l.hi, Rows: l.rows, RHS: l.rhs}
		p.Rows = p.Rows[:len(p.Rows):len(p.Rows)]
		p.RHS = p.RHS[:len(p.RHS):len(p.RHS)]
		for k, r := range z.nodeRows {
			if !z.active[k] {
				continue
			}
			dense := make([]float64, nv)
			for i, a := range r.coef {
				dense[i] = a
			}
			p.Rows = append(p.Rows, dense)
			p.RHS = append(p.RHS, r.rhs+relax)
		}
		sol, err := z.m.solve(p)
		if err != nil {
			return sol, err
		}
		added := false
		for k, r := range z.nodeRows {
			if !z.active[k] && r.value(sol.X) > r.rhs+relax+1e-9 {
				z.active[k] = true
				added = true
			}
		}
		if !added {
			return sol, nil
		}
	}
	return simplex.Solution{}, fmt.Errorf("lpref: lazy rows did not settle")
}
