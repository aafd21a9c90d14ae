package demo

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/web"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
)

// The demo's web app: central serves the driver app and the dashboard on
// its HTTP listener (DefaultHTTP), with a dashboard admin of the demo
// operator whose password is made once and kept in web-admin (mode 0600),
// and a car plugged in at the charge point the driver example uses, so a
// driver who pays there sees it charge.

// DefaultHTTP is where the demo's central listens: http://localhost:8080.
const DefaultHTTP = "127.0.0.1:8080"

// DemoAdminEmail is the demo dashboard's login.
const DemoAdminEmail = "admin@parkgrid.example"

// webLogin is what the demo prints about the web app.
type webLogin struct {
	PublicURL, Email, Password, PointURL string
}

// demoWeb points ccfg's HTTP listener at listen and adds the web section;
// it returns the login to print. listen with port 0 gets a free port now,
// since the public URL must name it.
func demoWeb(dir, listen string, ccfg *centralconfig.Config) (webLogin, error) {
	if listen == "" {
		listen = DefaultHTTP
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return webLogin{}, fmt.Errorf("demo http %q: %w", listen, err)
	}
	if port == "0" {
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return webLogin{}, fmt.Errorf("demo http: %w", err)
		}
		listen = ln.Addr().String()
		ln.Close()
		_, port, _ = net.SplitHostPort(listen)
	}
	ccfg.HTTP.Listen = listen
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
		host = "localhost"
	}
	public := "http://" + net.JoinHostPort(host, port)
	pw, err := demoSecret(filepath.Join(dir, "web-admin"))
	if err != nil {
		return webLogin{}, err
	}
	if len(ccfg.Operators) == 0 {
		return webLogin{}, errors.New("demo web: no operator")
	}
	op := ccfg.Operators[0]
	ccfg.Web = &centralconfig.Web{PublicURL: public, MetricsListen: centralconfig.DefaultMetricsListen,
		Admin: &centralconfig.WebUser{Email: DemoAdminEmail, Operator: op.ID, Password: pw}}
	l := webLogin{PublicURL: public, Email: DemoAdminEmail, Password: pw}
	if len(op.Sites) > 0 && len(op.Sites[0].Points) > 0 {
		l.PointURL = public + "/c/" + url.PathEscape(web.PointID(op.Sites[0].ID, op.Sites[0].Points[0].ID))
	}
	return l, nil
}

// plugDemoCar plugs a car in at the first charge point of the demo
// operator (a car already there is fine).
func plugDemoCar(s *sim.Sim, site *config.Site, ccfg *centralconfig.Config) error {
	if len(ccfg.Operators) == 0 || len(ccfg.Operators[0].Sites) == 0 || len(ccfg.Operators[0].Sites[0].Points) == 0 {
		return nil
	}
	point := ccfg.Operators[0].Sites[0].Points[0].ID
	for _, p := range site.ChargePoints {
		if p.ID != point {
			continue
		}
		err := s.PlugCar(p.Controller, sim.Car{SocPct: 20, BatteryWh: 60000, MaxA: 16, Phases: 3})
		if err != nil && !errors.Is(err, sim.ErrOccupied) {
			return fmt.Errorf("demo car at %s: %w", point, err)
		}
		return nil
	}
	return fmt.Errorf("demo car: no charge point %q", point)
}

func printWeb(w io.Writer, l webLogin) {
	fmt.Fprintf(w, "Web app and dashboard: %s\n", l.PublicURL)
	fmt.Fprintf(w, "  dashboard login: %s/ops/  e-mail %s  password %s\n", l.PublicURL, l.Email, l.Password)
	if l.PointURL != "" {
		fmt.Fprintf(w, "  driver app of a simulated charge point (a car is plugged in; pay with the fake provider): %s\n", l.PointURL)
	}
}
