package demo

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/central/catalog"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestDemoBilling: the demo's central gets an operator owning the site's
// points (each with its Eichrecht meter), two tariffs, the fake provider
// and an operator token whose hash is in the config; the first point
// charges only when central authorises it; the printed example uses the
// token and a point that exists.
func TestDemoBilling(t *testing.T) {
	root := svctest.RepoRoot(t)
	site, err := config.Load(filepath.Join(root, "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ccfg, err := centralconfig.Load(filepath.Join(root, "deploy", "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := demoBilling(site, ccfg)
	if err != nil {
		t.Fatal(err)
	}
	if ccfg.Payment.Provider != centralconfig.ProviderFake || len(ccfg.Operators) != 1 || len(ccfg.API.Tokens) != 1 {
		t.Fatalf("payment %+v operators %d tokens %d", ccfg.Payment, len(ccfg.Operators), len(ccfg.API.Tokens))
	}
	if !catalog.SecretMatches(tok, ccfg.API.Tokens[0].Hash) || ccfg.API.Tokens[0].Operator != demoOperatorID {
		t.Errorf("token %+v does not match the printed one", ccfg.API.Tokens[0])
	}
	sd, err := ccfg.Operators[0].Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Tariffs) != 2 || len(sd.Sites) != 1 || sd.Sites[0].ID != site.ID || sd.Sites[0].Register == nil || len(sd.Points) != len(site.ChargePoints) {
		t.Fatalf("seed %+v", sd)
	}
	for i, p := range sd.Points {
		if p.Meter != site.ChargePoints[i].Meter || p.Meter == "" {
			t.Errorf("point %s meter %q, site's %q", p.ID, p.Meter, site.ChargePoints[i].Meter)
		}
	}
	if site.ChargePoints[0].Access != config.AccessCentral || site.ChargePoints[1].Access == config.AccessCentral {
		t.Errorf("access: first %q, second %q", site.ChargePoints[0].Access, site.ChargePoints[1].Access)
	}
	var b strings.Builder
	printDriverExample(&b, "127.0.0.1:8082", tok, ccfg)
	for _, want := range []string{tok, "http://127.0.0.1:8082/api/v1/points/" + site.ID + "/" + sd.Points[0].ID + "/tariffs",
		`"payment":"fake"`, "/receipt.pdf", "/stop"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("example lacks %q:\n%s", want, b.String())
		}
	}
}
