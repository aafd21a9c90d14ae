package config

import "github.com/parkgrid/parkgrid/loadmgmt"

// LoadSite returns the static site model the allocator works on: the tree
// (grid → distributions → circuits) with fuses, unbalance limits, thermal
// derating and the grid meter's safe budget, and the charge points. Live
// limit inputs (Limits) are left empty for the control loop to fill.
func (s *Site) LoadSite() loadmgmt.Site {
	out := loadmgmt.Site{
		MeterStaleAfter: s.Control.GridStaleAfter,
		Para14aDevices:  s.Control.Para14aDevices,
		Rotation:        loadmgmt.RotationRules{MinOn: s.Control.MinOn, MinOff: s.Control.MinOff},
	}
	g := s.Grid
	root := loadmgmt.Node{
		ID:       g.ID,
		FuseMA:   g.Limit.MA(),
		Derating: derating(g.Temperature),
	}
	if g.Unbalance != nil {
		root.UnbalanceMA = AmpsToMA(*g.Unbalance)
	}
	if g.Meter != "" {
		root.Metered = true
		root.SafeBudgetMA = g.SafeBudget.MA()
		if g.MeterMargin != nil {
			out.MeterMarginMA = AmpsToMA(*g.MeterMargin)
		}
	}
	out.Nodes = append(out.Nodes, root)
	for _, d := range g.Distributions {
		out.Nodes = append(out.Nodes, loadmgmt.Node{
			ID: d.ID, Parent: g.ID, FuseMA: d.Limit.MA(), UnbalanceMA: AmpsToMA(d.Unbalance), Derating: derating(d.Temperature),
		})
		for _, c := range d.Circuits {
			out.Nodes = append(out.Nodes, loadmgmt.Node{
				ID: c.ID, Parent: d.ID, FuseMA: c.Limit.MA(), UnbalanceMA: AmpsToMA(c.Unbalance), Derating: derating(c.Temperature),
			})
		}
	}
	for _, c := range s.ChargePoints {
		out.Points = append(out.Points, loadmgmt.ChargePoint{
			ID:                c.ID,
			Node:              c.Circuit,
			Rotation:          rotation(c.Rotation),
			Phases:            c.Phases,
			MinCurrentMA:      AmpsToMA(c.MinA),
			MaxCurrentMA:      AmpsToMA(c.MaxA),
			FallbackCurrentMA: AmpsToMA(c.FallbackA),
		})
	}
	return out
}

func derating(t *Temperature) *loadmgmt.Derating {
	if t == nil {
		return nil
	}
	return &loadmgmt.Derating{StartDeciC: int32(t.DerateAboveC * 10), StopDeciC: int32(t.StopAboveC * 10)}
}

func rotation(r string) loadmgmt.Rotation {
	switch canonicalRotation(r) {
	case RotationL2L3L1:
		return loadmgmt.RotationL2L3L1
	case RotationL3L1L2:
		return loadmgmt.RotationL3L1L2
	case RotationL1L3L2:
		return loadmgmt.RotationL1L3L2
	case RotationL2L1L3:
		return loadmgmt.RotationL2L1L3
	case RotationL3L2L1:
		return loadmgmt.RotationL3L2L1
	}
	return loadmgmt.RotationL1L2L3
}
