package loadmgmt_test

import (
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// checkPlan verifies a plan against the site and demands, from first
// principles: every current is 0 or a whole number of amperes in
// [min, max]; no node's effective limit is broken on any phase or in total;
// no unbalance limit is broken; and the plan is work-conserving: no running
// car could take one more ampere without breaking something.
func checkPlan(now time.Time, site loadmgmt.Site, demands []loadmgmt.Demand, plan loadmgmt.Plan) error {
	if plan.Err != nil {
		return fmt.Errorf("plan error: %v", plan.Err)
	}
	if len(plan.Allocations) != len(demands) {
		return fmt.Errorf("%d allocations for %d demands", len(plan.Allocations), len(demands))
	}
	lim := loadmgmt.EffectiveLimits(now, site)
	nodeIdx := map[string]int{}
	for i, n := range site.Nodes {
		nodeIdx[n.ID] = i
	}
	pointIdx := map[string]int{}
	for i, p := range site.Points {
		pointIdx[p.ID] = i
	}
	type use struct {
		path     []int
		phases   []int
		min, max int64
	}
	uses := make([]use, len(demands))
	load := make([][3]int64, len(site.Nodes))
	for i, d := range demands {
		a := plan.Allocations[i]
		if a.Point != d.Point {
			return fmt.Errorf("allocation %d is for %q, demand for %q", i, a.Point, d.Point)
		}
		p := site.Points[pointIdx[d.Point]]
		u := use{min: max(p.MinCurrentMA, loadmgmt.MinCurrentMA), max: p.MaxCurrentMA}
		if d.MaxCurrentMA > 0 {
			u.max = min(u.max, d.MaxCurrentMA)
		}
		if p.Phases == 1 || d.Phases == 1 {
			u.phases = []int{p.Rotation.GridPhase(0)}
		} else {
			u.phases = []int{0, 1, 2}
		}
		for n := nodeIdx[p.Node]; ; {
			u.path = append(u.path, n)
			parent := site.Nodes[n].Parent
			if parent == "" {
				break
			}
			n = nodeIdx[parent]
		}
		uses[i] = u
		if a.CurrentMA != 0 && (a.CurrentMA < u.min || a.CurrentMA > u.max || a.CurrentMA%1000 != 0) {
			return fmt.Errorf("point %s: %d mA, want 0 or whole amperes in [%d, %d]", d.Point, a.CurrentMA, u.min, u.max)
		}
		if a.Running != (a.CurrentMA > 0) {
			return fmt.Errorf("point %s: running %v at %d mA", d.Point, a.Running, a.CurrentMA)
		}
		for _, n := range u.path {
			for _, ph := range u.phases {
				load[n][ph] += a.CurrentMA
			}
		}
	}
	broken := func(n int, l [3]int64) string {
		nl := lim[n]
		for ph := range 3 {
			if l[ph] > nl.LimitMA[ph] {
				return fmt.Sprintf("node %s L%d carries %d mA over its limit %d mA", nl.Node, ph+1, l[ph], nl.LimitMA[ph])
			}
		}
		if nl.TotalMA > 0 && l[0]+l[1]+l[2] > nl.TotalMA {
			return fmt.Sprintf("node %s carries %d mA in total over %d mA", nl.Node, l[0]+l[1]+l[2], nl.TotalMA)
		}
		if nl.UnbalanceMA > 0 && max(l[0], l[1], l[2])-min(l[0], l[1], l[2]) > nl.UnbalanceMA {
			return fmt.Sprintf("node %s unbalance %v over %d mA", nl.Node, l, nl.UnbalanceMA)
		}
		return ""
	}
	for n := range site.Nodes {
		if msg := broken(n, load[n]); msg != "" {
			return fmt.Errorf("%s", msg)
		}
		if got := plan.LoadMA(site.Nodes[n].ID); got != load[n] {
			return fmt.Errorf("node %s: plan reports load %v, allocations sum to %v", site.Nodes[n].ID, got, load[n])
		}
	}
	// Work-conserving: one more ampere for any running car breaks a limit.
	for i, d := range demands {
		a := plan.Allocations[i]
		u := uses[i]
		if a.CurrentMA == 0 || a.CurrentMA+1000 > u.max {
			continue
		}
		ok := true
		for _, n := range u.path {
			l := load[n]
			for _, ph := range u.phases {
				l[ph] += 1000
			}
			if broken(n, l) != "" {
				ok = false
				break
			}
		}
		if ok {
			return fmt.Errorf("point %s at %d mA could take one more ampere (reason given: %v)", d.Point, a.CurrentMA, a.Reason)
		}
	}
	return nil
}
