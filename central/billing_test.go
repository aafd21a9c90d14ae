package central_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central"
	"github.com/parkgrid/parkgrid/central/catalog"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestCentralServesTheAPI: central seeds its catalog from the config and
// serves /api/v1 on its HTTP listener: the price preview, a session
// started with the fake provider (the edge has no gateway here, so the
// authorisation reports an error and the session stays authorised), its
// status by the driver token, and the operator's view by the configured
// token; a second start of central keeps the tariff versions.
func TestCentralServesTheAPI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		servesTheAPI(t, fmt.Sprintf("{driver: sqlite, path: %s}", filepath.Join(t.TempDir(), "central.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		servesTheAPI(t, fmt.Sprintf("{driver: postgres, dsn: %q}", svctest.PostgresDSN(t)))
	})
}

func servesTheAPI(t *testing.T, storeYAML string) {
	dir := t.TempDir()
	secret, hash, err := catalog.NewSecret("pgo_")
	if err != nil {
		t.Fatal(err)
	}
	// The second start's config replaces token t1 by t2: t1 is revoked.
	secret2, hash2, err := catalog.NewSecret("pgo_")
	if err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`store: %s
mqtt: {listen: "127.0.0.1:0", client_id: central-api-test}
http: {listen: "127.0.0.1:0"}
payment: {provider: fake}
api:
  tokens: [{id: t1, operator: op-1, name: test, hash: %s}]
operators:
  - id: op-1
    name: Parkhaus Test GmbH
    address: Hauptstr. 1, 10115 Berlin
    currency: EUR
    hold: "50.00"
    invoice_prefix: T-
    tariffs:
      - {id: eco, class: eco, per_kwh: "0.39", vat: "19"}
    sites:
      - id: site-a
        address: Parkweg 2
        lat: "52.5"
        lon: "13.4"
        points: [{id: p01, meter: p01.meter, tariffs: [eco]}]
`, storeYAML, hash)
	path := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	writeCentralKey(t, filepath.Join(dir, centralconfig.DefaultCentralKey))
	revoked := ""
	for run := range 2 {
		if run == 1 {
			if err := os.WriteFile(path, []byte(strings.Replace(yaml, "{id: t1, operator: op-1, name: test, hash: "+hash,
				"{id: t2, operator: op-1, name: test, hash: "+hash2, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			secret = secret2
		}
		cfg, err := centralconfig.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := central.New(cfg, central.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- svc.Run(ctx) }()
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		addr, err := svc.Addrs(sctx)
		scancel()
		if err != nil {
			cancel()
			t.Fatalf("central did not start: %v", err)
		}
		base := "http://" + addr.HTTP + "/api/v1"
		call := func(method, url, token string, body any) (int, []byte) {
			var rd io.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			}
			req, _ := http.NewRequest(method, base+url, rd)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, b
		}
		if code, b := call("GET", "/points/site-a/p01/tariffs", "", nil); code != 200 || !strings.Contains(string(b), `"tariffId":"eco"`) {
			t.Errorf("run %d: preview %d %s", run, code, b)
		}
		code, b := call("POST", "/sessions", "", map[string]string{"clientId": fmt.Sprintf("central-test-client-%d", run), "site": "site-a",
			"point": "p01", "tariff": "eco", "email": "d@example.com", "payment": "fake"})
		var started struct {
			Session struct{ ID, State string }
			Token   string
		}
		if err := json.Unmarshal(b, &started); code != http.StatusCreated || err != nil || started.Session.State != "authorized" {
			t.Errorf("run %d: start %d %s", run, code, b)
		}
		if code, b := call("GET", "/sessions/"+started.Session.ID, started.Token, nil); code != 200 {
			t.Errorf("run %d: status %d %s", run, code, b)
		}
		if code, b := call("GET", "/operator/tariffs", secret, nil); code != 200 || !strings.Contains(string(b), `"version":1`) {
			t.Errorf("run %d: operator tariffs %d %s", run, code, b)
		}
		if code, b := call("GET", "/operator/sessions/"+started.Session.ID, secret, nil); code != 200 {
			t.Errorf("run %d: operator session %d %s", run, code, b)
		}
		if code, _ := call("GET", "/operator/tariffs", revoked, nil); run == 1 && code != http.StatusUnauthorized {
			t.Errorf("run %d: token removed from the config: %d, want 401", run, code)
		}
		revoked = secret
		if code, _ := call("GET", "/operator/tariffs", "", nil); code != http.StatusUnauthorized {
			t.Errorf("run %d: no token: %d", run, code)
		}
		if code, _ := call("GET", "/ingest/stats", "", nil); code != 200 {
			t.Errorf("run %d: ingest stats beside the API: %d", run, code)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("central: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("central did not stop")
		}
	}
}
