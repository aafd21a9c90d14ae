package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/catalog"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/drivers/sim"
)

// TestE2EEMSLimitThroughCentral: an operator puts a 20 A site limit
// (scope ev) on its site through central's /api/v1 with its token;
// central signs a set-limit command, the edge (the real binary on the
// simulator) puts it in force and answers with its effective limit of
// 20 A per phase, and within a few seconds the simulated chargers draw at
// most what 20 A per phase allow. Withdrawing the limit (DELETE) lets them
// draw more again. The site load endpoint shows the stored readings, and
// another operator's token gets 404 on the site.
func TestE2EEMSLimitThroughCentral(t *testing.T) {
	parkgridBinary(t)
	dir := e2eDir(t)
	s := e2eSim(t, 1, 0)
	st := centralconfig.Store{Driver: centralconfig.DriverSQLite, Path: filepath.Join(dir, "central.db")}
	f := newEdgeFiles(t, dir, s, uniqueID("e2e-ems"), uniqueID("e2e-gw"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	edgeREST := ln.Addr().String()
	ln.Close()
	f.doc["ems"] = map[string]any{"rest": map[string]any{"listen": edgeREST}, "max_ttl": "1h"}

	path := centralFile(t, dir, st, "", uniqueID("e2e-central"), f)
	tokA, tokB := operatorTokens(t, path, f.Site)
	c := startCentral(t, path)
	f.writeSite(t, c.Broker)

	edgeLog := filepath.Join(dir, "edge.log")
	showLogTail(t, edgeLog)
	// Connected: subscribed to its commands.
	p := startProc(t, edgeLog, "uplink connected", "edge", "--config", f.SitePath)
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("the edge exited: %v", p.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the edge's uplink not connected within 30 s")
	}
	base := "http://" + c.HTTP + "/api/v1/operator/sites/" + f.Site

	// The cars draw well above 20 A per phase before the limit.
	const limitW = 3 * 20 * 230 // 20 A on each phase at the nominal 230 V
	waitPower(t, s, "the cars to charge above the coming limit", 30*time.Second, func(w int64) bool { return w > 2*limitW })

	// Another operator's token: 404, nothing sent.
	if code, b := call(t, "PUT", base+"/limit", tokB, api.LimitRequest{MaxCurrentA: []float64{0, 0, 0}, TTLS: 60}, nil); code != http.StatusNotFound {
		t.Fatalf("operator b on a's site: %d %s", code, b)
	}

	var ans api.LimitAnswer
	first := time.Now()
	var sent time.Time
	for {
		sent = time.Now()
		code, b := call(t, "PUT", base+"/limit", tokA, api.LimitRequest{MaxCurrentA: []float64{20, 20, 20}, Scope: "ev", TTLS: 120}, &ans)
		if code == http.StatusOK {
			break
		}
		if time.Since(first) > 30*time.Second {
			t.Fatalf("PUT limit: %d %s", code, b)
		}
		t.Logf("PUT limit: %d %s; again", code, b)
		time.Sleep(500 * time.Millisecond)
	}
	answered := time.Since(sent)
	eff := ans.Effective
	if eff.Source != "ems" || eff.MaxCurrentMA != [3]int64{20_000, 20_000, 20_000} || eff.ExpiresAt == nil || !strings.HasPrefix(eff.RequestID, "central/") {
		t.Fatalf("effective limit %+v, want ems 20 A per phase with an expiry", eff)
	}
	// The edge's own EMS API lists the same limit from its next control
	// step on.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var site struct {
			Limits []struct {
				Source       string    `json:"source"`
				MaxCurrentMA *[3]int64 `json:"maxCurrentMA"`
				RequestID    string    `json:"requestId"`
			} `json:"limits"`
		}
		if code, b := call(t, "GET", "http://"+edgeREST+"/api/v1/site", "", nil, &site); code != http.StatusOK {
			t.Fatalf("edge site state: %d %s", code, b)
		}
		found := false
		for _, l := range site.Limits {
			if l.Source == "ems" && l.RequestID == eff.RequestID && l.MaxCurrentMA != nil && *l.MaxCurrentMA == [3]int64{20_000, 20_000, 20_000} {
				found = true
			}
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the edge's site state does not list the limit: %+v", site.Limits)
		}
	}
	dropped := waitPower(t, s, "the chargers to fit 20 A per phase", 15*time.Second, func(w int64) bool { return w <= limitW*105/100 })
	t.Logf("limit answered in %s; chargers within 20 A per phase %s after the PUT was sent", answered.Round(time.Millisecond), dropped.Sub(sent).Round(time.Millisecond))

	// The load central stored: the grid meter and every charge point.
	var load api.SiteLoad
	if code, b := call(t, "GET", base+"/load", tokA, nil, &load); code != http.StatusOK || len(load.Meters) == 0 || len(load.Points) != 10 {
		t.Errorf("site load: %d %s", code, b)
	}

	ans = api.LimitAnswer{}
	withdrawn := time.Now()
	if code, b := call(t, "DELETE", base+"/limit", tokA, nil, &ans); code != http.StatusOK || ans.Effective.ExpiresAt != nil || ans.Effective.Source == "ems" {
		t.Fatalf("DELETE limit: %d %s", code, b)
	}
	restored := waitPower(t, s, "the chargers to draw more again", 30*time.Second, func(w int64) bool { return w > 2*limitW })
	t.Logf("withdrawn: chargers above twice the limit %s after the DELETE was sent", restored.Sub(withdrawn).Round(time.Millisecond))
}

// waitPower waits until cond holds for the simulated chargers' total
// power and returns when it held.
func waitPower(t *testing.T, s *sim.Sim, what string, within time.Duration, cond func(w int64) bool) time.Time {
	t.Helper()
	start := time.Now()
	for {
		var w int64
		for _, p := range s.State().Points {
			w += p.PowerW
		}
		if cond(w) {
			return time.Now()
		}
		if time.Since(start) > within {
			t.Fatalf("waited %s for %s: the chargers draw %d W", within, what, w)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// operatorTokens adds operators a (with the site) and b (with another
// site), one tariff each, and an API token for each to the central file
// at path; it returns the two tokens.
func operatorTokens(t *testing.T, path, site string) (string, string) {
	t.Helper()
	var toks [2]string
	var b strings.Builder
	b.WriteString("api:\n  tokens:\n")
	for i, op := range []string{"op-a", "op-b"} {
		secret, hash, err := catalog.NewSecret(api.OperatorTokenPrefix)
		if err != nil {
			t.Fatal(err)
		}
		toks[i] = secret
		fmt.Fprintf(&b, "    - {id: tok-%s, operator: %s, name: ops-%s, hash: %s}\n", op, op, op, hash)
	}
	b.WriteString("operators:\n")
	for _, o := range []struct{ id, site string }{{"op-a", site}, {"op-b", site + "-other"}} {
		fmt.Fprintf(&b, `  - id: %s
    name: Operator %s
    address: Hauptstr. 1, 10115 Berlin
    currency: EUR
    hold: "50.00"
    invoice_prefix: PG-
    tariffs:
      - {id: eco, class: eco, per_kwh: "0.39", vat: "19"}
    sites:
      - id: %s
        name: Site
        address: Parkweg 2, 10115 Berlin
        lat: "52.52"
        lon: "13.40"
        points:
          - {id: p01, meter: p01.meter, max_power_w: 22000, tariffs: [eco]}
`, o.id, o.id, o.site)
	}
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := centralconfig.Load(path); err != nil {
		t.Fatalf("central file with operators: %v", err)
	}
	return toks[0], toks[1]
}

// call sends a JSON request with an optional bearer token and decodes a
// 2xx answer into out.
func call(t *testing.T, method, url, token string, body, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		bb, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(bb)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode, b
}
