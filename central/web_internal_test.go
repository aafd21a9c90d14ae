package central

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/store/memory"
)

func TestOpsPrivate(t *testing.T) {
	web := &centralconfig.Web{PublicURL: "https://charge.example.com"}
	for _, tc := range []struct {
		listen string
		web    *centralconfig.Web
		want   bool
	}{
		{"0.0.0.0:8080", nil, true}, // no web app: as before
		{"127.0.0.1:8080", web, true},
		{"[::1]:8080", web, true},
		{"localhost:8080", web, true},
		{"0.0.0.0:8080", web, false},
		{":8080", web, false},
		{"192.0.2.7:443", web, false},
	} {
		cfg := &centralconfig.Config{HTTP: centralconfig.HTTP{Listen: tc.listen}, Web: tc.web}
		if got := opsPrivate(cfg); got != tc.want {
			t.Errorf("listen %s, web %v: private %v, want %v", tc.listen, tc.web != nil, got, tc.want)
		}
	}
}

func TestSeedAdmin(t *testing.T) {
	users := memory.New()
	ctx := t.Context()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	u := &centralconfig.WebUser{Email: "Admin@Example.com", Operator: "op1", Password: "correct horse battery"}
	log := slog.New(slog.DiscardHandler)
	if err := seedAdmin(ctx, users, u, now, log); err != nil {
		t.Fatal(err)
	}
	got, err := users.UserByEmail(ctx, "admin@example.com")
	if err != nil || got.Role != auth.RoleAdmin || got.Operator != "op1" || !auth.CheckPassword(got.PasswordHash, u.Password) {
		t.Fatalf("admin %+v, %v", got, err)
	}
	// A second start keeps the user (and a password changed in the dashboard).
	u.Password = "another password entirely"
	if err := seedAdmin(ctx, users, u, now, log); err != nil {
		t.Fatal(err)
	}
	again, _ := users.UserByEmail(ctx, "admin@example.com")
	if again.ID != got.ID || again.PasswordHash != got.PasswordHash {
		t.Errorf("seeded twice: %+v", again)
	}
}

func TestWebSecret(t *testing.T) {
	k1 := ed25519.NewKeyFromSeed(make([]byte, 32))
	seed := make([]byte, 32)
	seed[0] = 1
	k2 := ed25519.NewKeyFromSeed(seed)
	a, b := webSecret(&centralconfig.Web{}, k1), webSecret(&centralconfig.Web{}, k1)
	if len(a) != 32 || string(a) != string(b) {
		t.Errorf("derived secret not stable: %x %x", a, b)
	}
	if string(webSecret(&centralconfig.Web{}, k2)) == string(a) {
		t.Error("two keys, one secret")
	}
	if string(webSecret(&centralconfig.Web{}, k1)) == string(codeKey(k1)) || string(codeKey(k1)) == string(tokenKey(k1)) {
		t.Error("keys for different purposes are equal")
	}
	fixed := []byte("0123456789abcdef0123456789abcdef-configured")
	if string(webSecret(&centralconfig.Web{Secret: fixed}, k1)) != string(fixed) {
		t.Error("configured secret not used")
	}
}

// TestServeOps: with the web app on a public address, /metrics and the
// ingest endpoints are not on the main mux; on loopback they are.
func TestServeOps(t *testing.T) {
	for _, tc := range []struct {
		listen string
		onMain bool
	}{{"0.0.0.0:8080", false}, {"127.0.0.1:8080", true}} {
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		mux, ops := http.NewServeMux(), http.NewServeMux()
		ops.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "metrics") })
		ops.HandleFunc("/api/v1/ingest/stats", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "stats") })
		cfg := &centralconfig.Config{HTTP: centralconfig.HTTP{Listen: tc.listen},
			Web: &centralconfig.Web{PublicURL: "https://charge.example.com", MetricsListen: "127.0.0.1:0"}}
		if err := serveOps(ctx, &wg, make(chan error, 1), mux, ops, cfg, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/metrics", "/api/v1/ingest/stats"} {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if got := rec.Code == http.StatusOK; got != tc.onMain {
				t.Errorf("listen %s: %s on the main listener: %v (%d), want %v", tc.listen, path, got, rec.Code, tc.onMain)
			}
		}
		cancel()
		wg.Wait()
	}
}
