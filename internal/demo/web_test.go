package demo

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestDemoWeb: the demo's central listens on localhost:8080 with the web
// app, an admin of the demo operator whose password stays the same from
// one run to the next, and the printed driver URL names the first point.
func TestDemoWeb(t *testing.T) {
	root := svctest.RepoRoot(t)
	dir := t.TempDir()
	load := func() *centralconfig.Config {
		site, err := config.Load(filepath.Join(root, "deploy", "site-small.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		ccfg, err := centralconfig.Load(filepath.Join(root, "deploy", "central.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := demoBilling(site, ccfg); err != nil {
			t.Fatal(err)
		}
		return ccfg
	}
	ccfg := load()
	l, err := demoWeb(dir, "", ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if ccfg.HTTP.Listen != DefaultHTTP || l.PublicURL != "http://localhost:8080" || !ccfg.Web.Enabled() {
		t.Errorf("listen %s, public %s, web %+v", ccfg.HTTP.Listen, l.PublicURL, ccfg.Web)
	}
	if a := ccfg.Web.Admin; a == nil || a.Email != DemoAdminEmail || a.Operator != demoOperatorID || a.Password != l.Password || len(a.Password) < 12 {
		t.Errorf("admin %+v", a)
	}
	if l.PointURL != "http://localhost:8080/c/sim-small~p01" {
		t.Errorf("driver URL %q", l.PointURL)
	}
	again, err := demoWeb(dir, "127.0.0.1:0", load())
	if err != nil {
		t.Fatal(err)
	}
	if again.Password != l.Password {
		t.Error("admin password changed between runs")
	}
	if _, port, _ := net.SplitHostPort(strings.TrimPrefix(again.PublicURL, "http://")); port == "0" || port == "" {
		t.Errorf("port 0 not replaced: %s", again.PublicURL)
	}
	var b bytes.Buffer
	printWeb(&b, l)
	for _, want := range []string{"http://localhost:8080/ops/", DemoAdminEmail, l.Password, l.PointURL} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, b.String())
		}
	}
}
