package edge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/control"
	"github.com/parkgrid/parkgrid/edge/ocpp"
)

// This file wires the OCPP clients (edge/ocpp): one per charge point the
// site's ocpp: section names, each seeing its point through the control
// loop and limiting it through the loop's per-point limits.

// ocppPoints is the OCPP clients' view of the points: the control loop's
// status plus the site file.
type ocppPoints struct {
	loop *control.Loop
	cps  map[string]config.ChargePoint
}

func (p ocppPoints) View(point string, _ time.Time) (ocpp.PointView, bool) {
	st, ok := p.loop.Point(point)
	cp, known := p.cps[point]
	if !ok || !known {
		return ocpp.PointView{}, false
	}
	phases := cp.Phases
	if phases == 0 {
		phases = 3
	}
	return ocpp.PointView{
		State: st.State, ControllerStale: st.ControllerStale, MeterStale: st.MeterStale, HasMeter: cp.Meter != "",
		Blocked: st.Blocked, SetpointMA: st.SetpointMA, CurrentMA: st.CurrentMA, PowerW: st.PowerW, EnergyWh: st.EnergyWh,
		MaxMA: int64(cp.MaxA) * 1000, Phases: phases,
	}, true
}

// newOCPPClients builds the clients; it dials nothing.
func (d *Daemon) newOCPPClients(cfg *config.Site, eichrechtOf map[string]*eichrecht.Meter) ([]*ocpp.Client, error) {
	o := cfg.OCPP
	if o == nil {
		return nil, nil
	}
	var tlsCfg *tls.Config
	if o.SecurityProfile == 2 {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CA != "" {
			pem, err := os.ReadFile(o.CA)
			if err != nil {
				return nil, fmt.Errorf("ocpp ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ocpp ca %s: no PEM certificate in it", o.CA)
			}
			tlsCfg.RootCAs = pool
		}
	}
	cps := map[string]config.ChargePoint{}
	for _, cp := range cfg.ChargePoints {
		cps[cp.ID] = cp
	}
	view := ocppPoints{loop: d.control, cps: cps}
	var out []*ocpp.Client
	for _, p := range o.ChargePoints {
		c := ocpp.Config{
			Point: p.ID, Identity: p.Identity, URL: o.URL, Password: p.Password, TLS: tlsCfg,
			Vendor: o.Vendor, Model: o.Model, Serial: p.Serial, Firmware: o.Firmware,
			StateFile: filepath.Join(o.StateDir, p.ID+".json"), Heartbeat: o.Heartbeat, SampleInterval: o.SampleInterval,
			ReconnectMin: o.ReconnectMin, ReconnectMax: o.ReconnectMax, FixedCable: o.FixedCable == nil || *o.FixedCable,
			Limiter: d.control, Points: view, Clock: d.clk, Log: d.log.With("component", "ocpp"),
		}
		if m, ok := eichrechtOf[cps[p.ID].Meter]; ok {
			c.Meter = m
		}
		cl, err := ocpp.New(c)
		if err != nil {
			return nil, err
		}
		out = append(out, cl)
	}
	return out, nil
}
