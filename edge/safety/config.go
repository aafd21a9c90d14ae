package safety

import (
	"fmt"

	"github.com/parkgrid/parkgrid/edge/config"
)

// ConfigFrom builds a watcher's Config from the site file; chargers maps
// each charge point id to its controller.
func ConfigFrom(s *config.Site, chargers map[string]Charger) (Config, error) {
	cfg := Config{
		Site:               s.ID,
		OfflineAfter:       s.Safety.OfflineAfter,
		OfflineResumeAfter: s.Safety.OfflineResumeAfter,
		StateFile:          s.Safety.StateFile,
	}
	if in := s.Safety.FireLoop; in != nil {
		cfg.FireLoop = Input{Device: in.Device, Input: in.Input}
	}
	if in := s.Safety.Supervision; in != nil {
		cfg.Supervision = &Input{Device: in.Device, Input: in.Input}
	}
	thermal := func(node string, t *config.Temperature) {
		if t == nil {
			return
		}
		th := Thermal{
			Node: node, Sensors: t.Sensors,
			StopDeciC: int64(t.StopAboveC) * 10, HysteresisDeciC: int64(t.HysteresisC) * 10,
			DerateDeciC: int64(t.DerateAboveC) * 10,
		}
		if t.LostC != nil {
			th.LostDeciC = int64(*t.LostC) * 10
		}
		cfg.Thermal = append(cfg.Thermal, th)
	}
	g := s.Grid
	thermal(g.ID, g.Temperature)
	path := map[string][]string{} // circuit → nodes up to the grid
	for _, d := range g.Distributions {
		if d.SPD != nil {
			cfg.SPDs = append(cfg.SPDs, SPD{Node: d.ID, Input: Input{Device: d.SPD.Device, Input: d.SPD.Input}})
		}
		thermal(d.ID, d.Temperature)
		for _, c := range d.Circuits {
			thermal(c.ID, c.Temperature)
			path[c.ID] = []string{c.ID, d.ID, g.ID}
		}
	}
	for _, cp := range s.ChargePoints {
		ch, ok := chargers[cp.ID]
		if !ok || ch == nil {
			return Config{}, fmt.Errorf("safety site %q: no charger for charge point %q", s.ID, cp.ID)
		}
		ctl, _ := s.Device(cp.Controller)
		cfg.Points = append(cfg.Points, Point{ID: cp.ID, Controller: cp.Controller, Bus: ctl.Bus, Nodes: path[cp.Circuit], Charger: ch})
	}
	return cfg, nil
}
