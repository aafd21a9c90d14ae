package edge

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/sign"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// smallSite is deploy/site-small.yaml as loaded, with its EMS broker and
// uplink switched off (New dials nothing either way).
func smallSite(t *testing.T) *config.Site {
	t.Helper()
	cfg, err := config.Load(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRESTNeedsTokensBeyondLoopback: an override that opens the REST API
// to other machines without tokens is refused as the site file check
// would refuse it.
func TestRESTNeedsTokensBeyondLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":8090", "192.0.2.1:8090"} {
		_, err := New(smallSite(t), Options{RESTListen: listen, EMSBroker: Off, UplinkBroker: Off})
		if err == nil || !strings.Contains(err.Error(), "needs ems.rest.tokens") {
			t.Errorf("REST on %s without tokens: %v", listen, err)
		}
	}
}

// TestRESTWiredWithTokens: with a token file the daemon's router asks for
// a token with the right scope.
func TestRESTWiredWithTokens(t *testing.T) {
	cfg := smallSite(t)
	file := filepath.Join(t.TempDir(), "ems.tokens")
	secret, h, err := token.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := token.Append(file, token.Entry{Name: "ems-ro", Scopes: []token.Scope{token.Read}, Hash: h}); err != nil {
		t.Fatal(err)
	}
	cfg.EMS.REST = &config.EMSREST{Listen: "0.0.0.0:8090", Tokens: file}
	d, err := New(cfg, Options{EMSBroker: Off, UplinkBroker: Off})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, tok string) int {
		req := httptest.NewRequest(method, "http://127.0.0.1:8090"+path, strings.NewReader(`{"why":"x"}`))
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		w := httptest.NewRecorder()
		d.router.ServeHTTP(w, req)
		return w.Code
	}
	if code := do("GET", "/api/v1/alarms", ""); code != http.StatusUnauthorized {
		t.Errorf("GET alarms without a token: %d", code)
	}
	if code := do("GET", "/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("GET metrics without a token: %d", code)
	}
	if code := do("GET", "/api/v1/alarms", secret); code != http.StatusOK {
		t.Errorf("GET alarms with the read token: %d", code)
	}
	if code := do("POST", "/api/v1/alarms/reset", secret); code != http.StatusForbidden {
		t.Errorf("reset with the read-only token: %d", code)
	}
}

// TestConfigViewHidesSecrets: GET /api/v1/config never shows a password
// or token, whatever the site file holds.
func TestConfigViewHidesSecrets(t *testing.T) {
	cfg := smallSite(t)
	cfg.EMS.MQTT.Username, cfg.EMS.MQTT.Password = "ems-edge", "ems-hunter2"
	cfg.Uplink.Password = "uplink-hunter2"
	cfg.Influx = &config.Influx{URL: "http://127.0.0.1:8086", Bucket: "b", Token: "influx-hunter2"}
	d, err := New(cfg, Options{EMSBroker: Off, UplinkBroker: Off, RESTListen: Off})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d.ems.RedactedConfig())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "hunter2") || !strings.Contains(string(b), `"username":"ems-edge"`) {
		t.Errorf("config view: %s", b)
	}
	if cfg.EMS.MQTT.Password != "ems-hunter2" {
		t.Error("redaction changed the site config itself")
	}
}

// TestUplinkDefaultCredentials: without a login in the site file the
// uplink logs in as its gateway with the password its key derives.
func TestUplinkDefaultCredentials(t *testing.T) {
	dir := t.TempDir()
	if _, err := sign.Generate(dir, false, nil); err != nil {
		t.Fatal(err)
	}
	key, err := sign.LoadPrivate(filepath.Join(dir, sign.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	u := config.Uplink{Key: filepath.Join(dir, sign.PrivateFile)}
	uplinkCredentials(&u, "gw-7")
	if u.Username != "gw-7" || u.Password != reading.MQTTPassword(key, "gw-7") {
		t.Errorf("credentials %q / %q", u.Username, u.Password)
	}
	set := config.Uplink{Key: u.Key, Username: "other", Password: "given"}
	uplinkCredentials(&set, "gw-7")
	if set.Username != "other" || set.Password != "given" {
		t.Errorf("configured credentials replaced: %+v", set)
	}
	missing := config.Uplink{Key: filepath.Join(dir, "none")}
	uplinkCredentials(&missing, "gw-7")
	if missing.Password != "" {
		t.Error("a password without a key")
	}
}
