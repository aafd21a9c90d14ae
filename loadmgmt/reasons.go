package loadmgmt

// results writes every car's current, and what stops it from taking one
// more step, into out (indexed like the demands).
func (e *engine) results(cur []int64, ld *loads, out []Allocation) {
	for ci := range e.cars {
		c := &e.cars[ci]
		a := &out[c.demand]
		a.CurrentMA, a.Running, a.Phases = cur[ci], cur[ci] > 0, int(c.nph)
		if cur[ci] == 0 {
			a.Reason = Reason{Limit: c.why}
			if c.why == LimitNone {
				a.Reason.Limit = LimitPaused
			}
			continue
		}
		b := e.step(ci, cur[ci], ld, true)
		switch b.kind {
		case blockCarMax:
			a.Reason = Reason{Limit: LimitCarMax}
		case blockPhase:
			a.Reason = Reason{Limit: e.lim[b.node].Kind[b.phase], Node: e.site.Nodes[b.node].ID, Phase: b.phase + 1}
		case blockTotal:
			a.Reason = Reason{Limit: e.lim[b.node].TotalKind, Node: e.site.Nodes[b.node].ID}
		case blockUnbalance:
			a.Reason = Reason{Limit: LimitUnbalance, Node: e.site.Nodes[b.node].ID, Phase: b.phase + 1}
		}
	}
	for _, inv := range e.invalid {
		out[inv.demand].Reason = inv.reason
	}
}
