package control

import (
	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/edge/site"
)

// Interface guards: what the edge wires satisfies the loop's consumer
// interfaces.
var (
	_ State    = (*site.State)(nil)
	_ Outputs  = (*safety.Watcher)(nil)
	_ Safety   = (*safety.Watcher)(nil)
	_ Failsafe = drivers.Failsafe(nil) // a driver with the capability fits
)
