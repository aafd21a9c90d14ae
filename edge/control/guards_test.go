package control

import (
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/edge/safety"
	"github.com/parkgrid/parkgrid/edge/site"
)

// Interface guards: what the edge wires satisfies the loop's consumer
// interfaces.
var (
	_ State    = (*site.State)(nil)
	_ Outputs  = (*safety.Watcher)(nil)
	_ Safety   = (*safety.Watcher)(nil)
	_ Failsafe = (*phoenix.Controller)(nil)
)
