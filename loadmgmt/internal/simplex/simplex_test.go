package simplex_test

import (
	"errors"
	"math"
	"testing"

	"github.com/parkgrid/parkgrid/loadmgmt/internal/simplex"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
	"pgregory.net/rapid"
)

func TestMaximizeCases(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		p    simplex.Problem
		want float64
		err  error
	}{
		{
			name: "two variables, two rows",
			// max 3x + 2y, x + y ≤ 4, x + 3y ≤ 6, x ≤ 3 → x = 3, y = 1.
			p:    simplex.Problem{C: []float64{3, 2}, Rows: [][]float64{{1, 1}, {1, 3}}, RHS: []float64{4, 6}, Hi: []float64{3, inf}},
			want: 11,
		},
		{
			name: "negative right-hand side needs phase 1",
			// max −x − y, x + y ≥ 2 (−x − y ≤ −2) → 2 at the optimum, −2.
			p:    simplex.Problem{C: []float64{-1, -1}, Rows: [][]float64{{-1, -1}}, RHS: []float64{-2}},
			want: -2,
		},
		{
			name: "equality and shifted bounds",
			// max x − y, x + y = 10, 3 ≤ x ≤ 8, y ≥ 1 → x = 8, y = 2.
			p:    simplex.Problem{C: []float64{1, -1}, Rows: [][]float64{{1, 1}}, RHS: []float64{10}, Eq: []bool{true}, Lo: []float64{3, 1}, Hi: []float64{8, inf}},
			want: 6,
		},
		{
			name: "infeasible",
			p:    simplex.Problem{C: []float64{1}, Rows: [][]float64{{1}, {-1}}, RHS: []float64{1, -2}},
			err:  simplex.ErrInfeasible,
		},
		{
			name: "unbounded",
			p:    simplex.Problem{C: []float64{1, 1}, Rows: [][]float64{{1, -1}}, RHS: []float64{1}},
			err:  simplex.ErrUnbounded,
		},
		{
			name: "degenerate vertex",
			// Three rows through one vertex (1, 1).
			p:    simplex.Problem{C: []float64{1, 1}, Rows: [][]float64{{1, 0}, {0, 1}, {1, 1}, {2, 1}}, RHS: []float64{1, 1, 2, 3}},
			want: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sol, err := simplex.Maximize(tt.p)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(sol.Objective-tt.want) > 1e-9 {
				t.Fatalf("objective %g at %v, want %g", sol.Objective, sol.X, tt.want)
			}
			if msg := violation(tt.p, sol.X, 1e-9); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}

// violation describes the first constraint or bound x breaks, "" if none.
func violation(p simplex.Problem, x []float64, tol float64) string {
	for j, v := range x {
		lo, hi := 0.0, math.Inf(1)
		if p.Lo != nil {
			lo = p.Lo[j]
		}
		if p.Hi != nil {
			hi = p.Hi[j]
		}
		if v < lo-tol || v > hi+tol {
			return "variable out of its bounds"
		}
	}
	for i, row := range p.Rows {
		s := 0.0
		for j, a := range row {
			s += a * x[j]
		}
		if s > p.RHS[i]+tol || (p.Eq != nil && p.Eq[i] && s < p.RHS[i]-tol) {
			return "row broken"
		}
	}
	return ""
}

// errGonumPanicked marks a problem gonum's simplex rejected by panicking.
var errGonumPanicked = errors.New("gonum panicked")

// gonumMaximize solves p with gonum's simplex, every row and bound an
// inequality (an equality row is two), which keeps gonum's standard form
// of full row rank.
func gonumMaximize(p simplex.Problem) (f float64, err error) {
	defer func() {
		if recover() != nil {
			err = errGonumPanicked
		}
	}()
	n := len(p.C)
	var g [][]float64
	var h []float64
	for i, row := range p.Rows {
		g, h = append(g, row), append(h, p.RHS[i])
		if p.Eq != nil && p.Eq[i] {
			neg := make([]float64, n)
			for j, v := range row {
				neg[j] = -v
			}
			g, h = append(g, neg), append(h, -p.RHS[i])
		}
	}
	for j := range n {
		lo := make([]float64, n)
		lo[j] = -1
		g, h = append(g, lo), append(h, -p.Lo[j])
		if !math.IsInf(p.Hi[j], 1) {
			hi := make([]float64, n)
			hi[j] = 1
			g, h = append(g, hi), append(h, p.Hi[j])
		}
	}
	dense := func(rows [][]float64) mat.Matrix {
		if len(rows) == 0 {
			return nil
		}
		d := mat.NewDense(len(rows), n, nil)
		for i, r := range rows {
			d.SetRow(i, r)
		}
		return d
	}
	c := make([]float64, n)
	for j, v := range p.C {
		c[j] = -v
	}
	cs, as, bs := lp.Convert(c, dense(g), h, nil, nil)
	f, _, err = lp.Simplex(cs, as, bs, 1e-10, nil)
	return -f, err
}

// TestPropertyMatchesGonum compares the optimum with gonum's simplex on
// random small problems with integer data.
func TestPropertyMatchesGonum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "n")
		m := rapid.IntRange(1, 6).Draw(t, "m")
		small := rapid.IntRange(-4, 4)
		p := simplex.Problem{C: make([]float64, n), Lo: make([]float64, n), Hi: make([]float64, n)}
		for j := range n {
			p.C[j] = float64(small.Draw(t, "c"))
			p.Lo[j] = float64(small.Draw(t, "lo"))
			p.Hi[j] = math.Inf(1)
			if rapid.IntRange(0, 3).Draw(t, "bounded") > 0 {
				p.Hi[j] = p.Lo[j] + float64(rapid.IntRange(0, 8).Draw(t, "width"))
			}
		}
		for range m {
			row := make([]float64, n)
			for j := range row {
				row[j] = float64(small.Draw(t, "a"))
			}
			p.Rows = append(p.Rows, row)
			p.RHS = append(p.RHS, float64(rapid.IntRange(-10, 20).Draw(t, "b")))
			p.Eq = append(p.Eq, rapid.IntRange(0, 5).Draw(t, "eq") == 0)
		}
		sol, err := simplex.Maximize(p)
		want, gerr := gonumMaximize(p)
		switch {
		case errors.Is(gerr, lp.ErrInfeasible):
			if !errors.Is(err, simplex.ErrInfeasible) {
				t.Fatalf("gonum: infeasible; simplex: %v %v", sol, err)
			}
		case errors.Is(gerr, lp.ErrUnbounded):
			if !errors.Is(err, simplex.ErrUnbounded) {
				t.Fatalf("gonum: unbounded; simplex: %v %v", sol, err)
			}
		case gerr != nil:
			// gonum gave up (singular or zero rows from the data): the
			// answer must still be a feasible point, or a clear error.
			if err == nil {
				if msg := violation(p, sol.X, 1e-7); msg != "" {
					t.Fatalf("%s at %v", msg, sol.X)
				}
			}
		default:
			if err != nil {
				t.Fatalf("gonum: optimum %g; simplex: %v", want, err)
			}
			if math.Abs(sol.Objective-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("objective %g at %v, gonum %g", sol.Objective, sol.X, want)
			}
			if msg := violation(p, sol.X, 1e-7); msg != "" {
				t.Fatalf("%s at %v", msg, sol.X)
			}
		}
	})
}
