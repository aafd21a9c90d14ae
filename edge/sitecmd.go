package edge

import (
	"context"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/edge/command"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// This file lets central's site commands (set-limit, safety-reset on
// down/cmd, edge/command) take the same way into the control loop and the
// safety latch as the local EMS API's requests: one EMS limit per site,
// whoever set it last, reported to central as an ems-limit-set event.

var _ command.Site = siteCommands{}

// siteCommands is the EMS adapter as edge/command's Site.
type siteCommands struct{ a *emsAdapter }

// SetLimit implements command.Site.
func (s siteCommands) SetLimit(ctx context.Context, l reading.SiteLimit, requestID string, now time.Time) (reading.LimitInForce, error) {
	req := emsapi.LimitRequest{RequestID: requestID, MaxCurrentMA: l.MaxCurrentMA, MaxPowerW: l.MaxPowerW, TTL: l.TTL, Withdraw: l.Withdraw()}
	if l.Scope == reading.ScopeEV {
		req.Scope = emsapi.ScopeEV
	}
	lim, err := s.a.SetLimit(ctx, req, now)
	if err != nil {
		return reading.LimitInForce{}, fmt.Errorf("set-limit %s: %w", requestID, err)
	}
	out := reading.LimitInForce{Source: lim.Source, MaxPowerW: lim.MaxPowerW}
	if lim.MaxCurrentMA != nil {
		out.MaxCurrentMA = *lim.MaxCurrentMA
	}
	if lim.ExpiresAt != nil {
		out.Expires, out.RequestID = *lim.ExpiresAt, lim.RequestID
	}
	return out, nil
}

// ResetSafety implements command.Site: safety's own refusals (not
// latched, alarm still present) say why.
func (s siteCommands) ResetSafety(_ context.Context, who, why string, now time.Time) error {
	return s.a.d.safety.Reset(who, why, now)
}
