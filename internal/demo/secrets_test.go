package demo

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

	"github.com/parkgrid/parkgrid/central/broker"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestDemoIsSecureByDefault: the demo's site gets a token file holding
// the printed token's hash, the edge's EMS client the gateway's broker
// login, central an ems-demo user whose password stays the same from run
// to run (the token does not).
func TestDemoIsSecureByDefault(t *testing.T) {
	dir := t.TempDir()
	root := svctest.RepoRoot(t)
	_, gwKey, _ := ed25519.GenerateKey(nil)
	load := func() (*config.Site, *centralconfig.Config) {
		site, err := config.Load(filepath.Join(root, "deploy", "site-small.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		ccfg, err := centralconfig.Load(filepath.Join(root, "deploy", "central.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		return site, ccfg
	}
	site, ccfg := load()
	c, err := secure(dir, site, ccfg, gwKey)
	if err != nil {
		t.Fatal(err)
	}
	es, err := token.Load(site.EMS.REST.Tokens)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := token.Lookup(es, c.restToken); !ok || e.Name != demoTokenName || !e.Has(token.Reset) {
		t.Errorf("printed token not in the token file: %+v", es)
	}
	if m := site.EMS.MQTT; m.Username != site.Gateway || m.Password != reading.MQTTPassword(gwKey, site.Gateway) {
		t.Errorf("edge EMS login %q/%q", m.Username, m.Password)
	}
	u := ccfg.MQTT.Users[len(ccfg.MQTT.Users)-1]
	if u.Name != demoEMSUser || broker.CheckHash(u.PasswordHash) != nil || c.emsPass == "" {
		t.Errorf("central user %+v", u)
	}
	if fi, err := os.Stat(filepath.Join(dir, "ems-mqtt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ems-mqtt secret: %v", err)
	}

	site2, ccfg2 := load()
	c2, err := secure(dir, site2, ccfg2, gwKey)
	if err != nil {
		t.Fatal(err)
	}
	if c2.emsPass != c.emsPass || c2.restToken == c.restToken {
		t.Errorf("second run: ems password kept %v, token new %v", c2.emsPass == c.emsPass, c2.restToken != c.restToken)
	}
	if es, _ := token.Load(site2.EMS.REST.Tokens); len(es) != 1 {
		t.Errorf("token file of the second run has %d tokens, want 1", len(es))
	}
}
