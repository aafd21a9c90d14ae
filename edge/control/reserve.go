package control

import (
	"time"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

// reserves is current the loop cannot steer, per node and grid phase: what
// silent, held or unconfirmed chargers may draw. It is subtracted from
// every limit of the node — fuse, grid-meter headroom, safe budget, EMS,
// thermal derating and §14a — not only from the fuse.
type reserves [][3]int64

func (r reserves) add(path []int, phases []int, ma [3]int64) {
	for _, ni := range path {
		for _, gp := range phases {
			r[ni][gp] += ma[gp]
		}
	}
}

func (r reserves) empty() bool {
	for _, n := range r {
		if n != [3]int64{} {
			return false
		}
	}
	return true
}

// withReserves returns a site whose effective limits at now are s's minus
// r on every node. loadmgmt has no notion of a fixed load, so the live
// inputs are composed here (loadmgmt.EffectiveLimits) and the result, less
// the reserve, becomes the static fuse of a site without live inputs; a
// bound on the phase sum becomes an EMS power limit on the node. lim are
// s's effective limits, as EffectiveLimits returns them. Fallback currents
// are cleared: they are a check of the site file (and of New), and here a
// reserve replaces them.
func withReserves(now time.Time, s loadmgmt.Site, lim []loadmgmt.NodeLimit, r reserves) loadmgmt.Site {
	out := s
	out.Nodes = make([]loadmgmt.Node, len(s.Nodes))
	out.Limits = loadmgmt.Limits{}
	for i, n := range s.Nodes {
		res := r[i]
		for ph := range 3 {
			n.FuseMA[ph] = max(0, lim[i].LimitMA[ph]-res[ph])
		}
		n.Metered, n.SafeBudgetMA, n.Derating = false, [3]int64{}, nil
		if lim[i].TotalMA > 0 {
			total := lim[i].TotalMA - res[0] - res[1] - res[2]
			if w := powerForTotalMA(total); w > 0 {
				out.Limits.EMS = append(out.Limits.EMS, loadmgmt.EMSLimit{Node: n.ID, MaxPowerW: w, Expires: now.Add(time.Hour)})
			} else {
				n.FuseMA = [3]int64{}
			}
		}
		out.Nodes[i] = n
	}
	return out
}

// powerForTotalMA is the largest power (W) whose current at the nominal
// voltage, as loadmgmt rounds it, is at most totalMA; 0 if none.
func powerForTotalMA(totalMA int64) int64 {
	if totalMA <= 0 {
		return 0
	}
	return totalMA * loadmgmt.NominalVoltageV / 1000
}

// withoutFallbacks returns the site's points with their fallback currents
// cleared: the allocation of one step must not reserve them again.
func withoutFallbacks(pts []loadmgmt.ChargePoint) []loadmgmt.ChargePoint {
	out := make([]loadmgmt.ChargePoint, len(pts))
	copy(out, pts)
	for i := range out {
		out[i].FallbackCurrentMA = 0
	}
	return out
}

// originalKind maps a reason found on a site made by withReserves back to
// the input that set the limit on the real site.
func originalKind(r loadmgmt.Reason, idx map[string]int, lim []loadmgmt.NodeLimit) loadmgmt.Reason {
	i, ok := idx[r.Node]
	if !ok {
		return r
	}
	switch {
	case r.Limit == loadmgmt.LimitFuse && r.Phase >= 1 && r.Phase <= 3:
		r.Limit = lim[i].Kind[r.Phase-1]
	case r.Limit == loadmgmt.LimitEMS && lim[i].TotalKind != loadmgmt.LimitNone:
		r.Limit = lim[i].TotalKind
	}
	return r
}
