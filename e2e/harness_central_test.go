package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/central"
	centralbroker "github.com/parkgrid/parkgrid/central/broker"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// ---------------------------------------------------------------------------
// Central.

// centralFile writes central's config: store, broker ("" = embedded on a
// free port), the one gateway with its meters, HTTP on a free port.
func centralFile(t *testing.T, dir string, st centralconfig.Store, broker, clientID string, f *edgeFiles) string {
	t.Helper()
	var b strings.Builder
	switch st.Driver {
	case centralconfig.DriverSQLite:
		fmt.Fprintf(&b, "store: {driver: sqlite, path: %q}\n", st.Path)
	default:
		fmt.Fprintf(&b, "store: {driver: postgres, dsn: %q}\n", st.DSN)
	}
	if broker == "" {
		// The embedded broker lets nobody in anonymously: the tap logs in
		// as a user who may read the site's traffic and publish acks (to
		// forge them).
		h, err := centralbroker.HashPassword(tapPassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "mqtt:\n  listen: \"127.0.0.1:0\"\n  client_id: %q\n  users:\n    - {name: %s, password_hash: %q, subscribe: [\"parkgrid/v1/%s/#\"], publish: [\"parkgrid/v1/%s/down/#\"]}\n",
			clientID, tapUser, h, f.Site, f.Site)
	} else {
		fmt.Fprintf(&b, "mqtt: {broker: %q, client_id: %q}\n", broker, clientID)
	}
	fmt.Fprintf(&b, "ingest: {linger: 2ms}\nhttp: {listen: \"127.0.0.1:0\"}\ngateways:\n")
	fmt.Fprintf(&b, "  - id: %s\n    site: %s\n    pubkey: %s\n    meters:\n", f.Gateway, f.Site, hex.EncodeToString(f.Pub))
	devs := make([]string, 0, len(f.Meters))
	for d := range f.Meters {
		devs = append(devs, d)
	}
	slices.Sort(devs)
	for _, d := range devs {
		fmt.Fprintf(&b, "      - {device: %s, pubkey: %s}\n", d, f.Meters[d])
	}
	path := filepath.Join(dir, "central.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := centralconfig.Load(path); err != nil {
		t.Fatalf("generated central file: %v", err)
	}
	return path
}

// centralRun is central running in this process (central.Service).
type centralRun struct {
	Broker string
	HTTP   string
	cancel context.CancelFunc
	done   chan error
}

// startCentral runs central on the config at path, logging to
// central.log beside it, and waits until it ingests.
func startCentral(t *testing.T, path string) *centralRun {
	t.Helper()
	cfg, err := centralconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(filepath.Dir(path), "central.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	showLogTail(t, logPath)
	ctx, cancel := context.WithCancel(context.Background())
	r := &centralRun{cancel: cancel, done: make(chan error, 1)}
	svc, err := central.New(cfg, central.Options{Logger: slog.New(slog.NewTextHandler(lf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		r.done <- svc.Run(ctx)
		lf.Close()
	}()
	t.Cleanup(func() { r.stop(t) })
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	a, err := svc.Addrs(sctx)
	if err != nil {
		select {
		case err := <-r.done:
			r.cancel = nil
			t.Fatalf("central ended before it started: %v", err)
		default:
		}
		t.Fatalf("central did not start within 30 s: %v", err)
	}
	r.Broker, r.HTTP = a.Broker, a.HTTP
	return r
}

// stop stops central and waits for it (idempotent).
func (r *centralRun) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("central: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("central did not stop within 30 s")
	}
}

// openStore opens central's store for the checks (central stopped or not).
func openStore(t *testing.T, st centralconfig.Store) store.Store {
	t.Helper()
	var (
		s   store.Store
		err error
	)
	switch st.Driver {
	case centralconfig.DriverSQLite:
		s, err = sqlite.Open(context.Background(), st.Path, sqlite.Options{})
	default:
		s, err = postgres.Open(context.Background(), st.DSN, postgres.Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dropMQTTState removes what a run leaves on a shared broker: the persistent
// session of clientIDs and the retained status of site.
func dropMQTTState(t *testing.T, broker, site string, clientIDs ...string) {
	for _, id := range clientIDs {
		c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).SetCleanSession(true).SetConnectTimeout(5 * time.Second))
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			if id == clientIDs[0] {
				c.Publish(reading.StatusTopic(site), 1, true, []byte{}).WaitTimeout(5 * time.Second)
			}
			c.Disconnect(100)
		} else {
			t.Logf("could not drop MQTT session %s on %s: %v", id, broker, tok.Error())
		}
	}
}
