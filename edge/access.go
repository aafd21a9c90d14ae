package edge

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"time"

	"github.com/parkgrid/parkgrid/edge/command"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/session"
)

// This file wires central's control of charge points with access
// "central": their gates close before the control loop first runs
// (gateCentralPoints), and central's signed commands (down/cmd) reach the
// session manager through edge/command, whose replies go back on
// up/reply (openCommands). Without an uplink the gates stay closed: such
// a point never charges without central.

// gateCentralPoints closes the access gate of every point with access
// central: no current until central authorises a session there.
func gateCentralPoints(cfg *config.Site, g session.Gate) error {
	for _, cp := range cfg.ChargePoints {
		if cp.Access != config.AccessCentral {
			continue
		}
		if err := g.SetPointLimit(cp.ID, session.SourceAccess, 0, time.Time{}); err != nil {
			return fmt.Errorf("site %q charge point %q: close access gate: %w", cfg.ID, cp.ID, err)
		}
	}
	return nil
}

// centralAccess reports whether point has access central.
func centralAccess(cfg *config.Site, point string) bool {
	for _, cp := range cfg.ChargePoints {
		if cp.ID == point {
			return cp.Access == config.AccessCentral
		}
	}
	return false
}

// openCommands builds the command handler over the session manager; its
// done file lives beside the session state.
func (u *edgeUplink) openCommands(key ed25519.PrivateKey, central ed25519.PublicKey, sm *session.Manager) (*command.Handler, error) {
	return command.New(command.Config{
		Site: u.d.site.ID, Gateway: u.d.site.Gateway, CentralKey: central, Key: key,
		StateFile: filepath.Join(filepath.Dir(u.cfg.SessionState), "commands.json"),
		Exec:      sm, SiteExec: siteCommands{u.d.ems}, Log: u.log.With("part", "commands"), Now: u.d.clk.Now,
	})
}

// handleCommand is the uplink's OnCommand.
func (u *edgeUplink) handleCommand(ctx context.Context, msg []byte) []byte {
	if u.commands == nil {
		return nil
	}
	return u.commands.Handle(ctx, msg)
}
