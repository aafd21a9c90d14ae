package control

import (
	"github.com/parkgrid/parkgrid/edge/config"
)

// ConfigFrom builds a loop's Config from the site file; failsafe maps each
// charge point id to its controller's watchdog setter (a point without one
// gets no failsafe setup).
func ConfigFrom(s *config.Site, failsafe map[string]Failsafe) Config {
	cfg := Config{
		SiteID:      s.ID,
		Site:        s.LoadSite(),
		GridMeter:   s.Grid.Meter,
		Interval:    s.Control.Interval,
		Watchdog:    s.Watchdog,
		MaxTTL:      s.EMS.MaxTTL,
		MaxParallel: s.Control.MaxParallelWrites,
		RaiseEvery:  s.Control.RaiseEvery,
		DeadbandMA:  config.AmpsToMA(s.Control.DeadbandA),
		MinOff:      s.Control.MinOff,
	}
	for _, cp := range s.ChargePoints {
		ctl, _ := s.Device(cp.Controller)
		cfg.Points = append(cfg.Points, Point{
			ID:         cp.ID,
			Controller: cp.Controller,
			Meter:      cp.Meter,
			Bus:        ctl.Bus,
			GridPhases: cp.GridPhases(),
			FallbackA:  cp.FallbackA,
			Failsafe:   failsafe[cp.ID],
		})
	}
	return cfg
}
