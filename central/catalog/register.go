package catalog

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central/report"
)

// Stations is the report.Catalogue of the catalog: each charge point of
// an operator's sites that have a Register entry is one station of the
// BNetzA register (a wallbox is one charging device), with its meter's
// enrolled public key.
type Stations struct {
	Store Store
	Keys  MeterKeys
}

var _ report.Catalogue = Stations{}

// Stations implements report.Catalogue.
func (c Stations) Stations(ctx context.Context, operator string) ([]report.Station, error) {
	op, err := c.Store.Operator(ctx, operator)
	if err != nil {
		return nil, fmt.Errorf("register of %s: %w", operator, err)
	}
	sites, err := c.Store.Sites(ctx, operator)
	if err != nil {
		return nil, err
	}
	points, err := c.Store.Points(ctx, operator)
	if err != nil {
		return nil, err
	}
	bySite := map[string]Site{}
	for _, s := range sites {
		bySite[s.ID] = s
	}
	out := []report.Station{}
	for _, p := range points {
		s, ok := bySite[p.Site]
		if !ok || s.Register == nil {
			continue
		}
		key, err := c.Keys.MeterPublicKey(ctx, p.Site, p.Meter)
		if err != nil {
			return nil, fmt.Errorf("register: point %s/%s: meter key: %w", p.Site, p.ID, err)
		}
		r := s.Register
		plugs := make([]report.Plug, len(p.Plugs))
		for i, pl := range p.Plugs {
			plugs[i] = report.Plug(pl)
		}
		out = append(out, report.Station{
			Operator: op.Name, Street: r.Street, HouseNumber: r.HouseNumber, AddressExtra: r.AddressExtra,
			PostalCode: r.PostalCode, City: r.City, State: r.State, District: r.District,
			LatMicroDeg: s.LatE6, LonMicroDeg: s.LonE6, CommissionedOn: r.CommissionedOn, RatedPowerW: p.MaxPowerW,
			Points: []report.RegisterPoint{{EVSEID: p.EVSEID, Plugs: plugs, PowerW: p.MaxPowerW, MeterPublicKey: key}},
		})
	}
	return out, nil
}
