package safety

import (
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/edge/site"
)

// Interface guards.
var (
	_ Charger = (*phoenix.Controller)(nil)
	_ State   = (*site.State)(nil)
)
