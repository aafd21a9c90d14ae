package poll

import (
	"github.com/parkgrid/parkgrid/drivers/diinput"
	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/drivers/phoenix"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
	"github.com/parkgrid/parkgrid/drivers/xymd02"
)

// Interface guards: the drivers the edge wires satisfy the poller's
// consumer interfaces.
var (
	_ Meter       = (*sdm630.Meter)(nil)
	_ Meter       = (*eichrecht.Meter)(nil)
	_ Charger     = (*phoenix.Controller)(nil)
	_ Contacts    = (*diinput.Module)(nil)
	_ Thermometer = (*xymd02.Sensor)(nil)
)
