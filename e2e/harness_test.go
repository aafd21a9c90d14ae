package e2e

// The end-to-end harness: the real parkgrid binary as a subprocess (edge,
// and central for the central-kill test), the car-park simulator and central
// in-process, an MQTT tap that records every batch and ack on the wire, and
// the exactly-once check over central's store. The tests using it are in
// e2e_*_test.go; docs/benchmarks-e2e.md has their figures.
//
// Knobs (environment):
//
//	PARKGRID_E2E_SEED          random seed of kill moments (default: time)
//	PARKGRID_E2E_KILLS         edge kills per variant (default 200)
//	PARKGRID_E2E_CENTRAL_KILLS central kills (default 8)
//	PARKGRID_E2E_OUTAGE_HOURS  simulated outage for the backlog test (default 2, 0.5 under -race; 24 for the figure)
//	PARKGRID_E2E_OUTAGE_WINDOW the backlog test's uplink window (default the edge's, 100)
//	PARKGRID_E2E_KEEP          keep the test directories (logs, site files, databases)

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/outbox"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/sign"
	"github.com/parkgrid/parkgrid/edge/uplink"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// e2eTmp is the directory TestMain makes for the binary; the binary is built
// on first use, so tests of this package that need no subprocess (the
// layering test, run alone in make test) do not pay for the build.
var (
	e2eTmp      string
	e2eBuild    sync.Once
	e2eBin      string
	e2eBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parkgrid-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	e2eTmp = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// parkgridBinary builds cmd/parkgrid once per test process (without -race:
// the subprocess is the system under test, the race detector runs in the
// test process) and returns its path.
func parkgridBinary(t testing.TB) string {
	t.Helper()
	e2eBuild.Do(func() {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		bin := filepath.Join(e2eTmp, "parkgrid")
		cmd := exec.Command(goCmd, "build", "-o", bin, "../cmd/parkgrid")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			e2eBuildErr = fmt.Errorf("go build -o %s ../cmd/parkgrid: %v\n%s", bin, err, out)
			return
		}
		e2eBin = bin
	})
	if e2eBuildErr != nil {
		t.Fatal(e2eBuildErr)
	}
	return e2eBin
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// e2eRand returns a generator seeded from PARKGRID_E2E_SEED or the clock,
// and logs the seed so a failing run can be repeated.
func e2eRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("PARKGRID_E2E_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (PARKGRID_E2E_SEED=%d repeats it)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// e2eDir is a test's working directory: t.TempDir, or a kept one with
// PARKGRID_E2E_KEEP.
func e2eDir(t *testing.T) string {
	if os.Getenv("PARKGRID_E2E_KEEP") == "" {
		return t.TempDir()
	}
	dir, err := os.MkdirTemp("", "parkgrid-e2e-"+strings.ReplaceAll(t.Name(), "/", "-")+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("keeping %s", dir)
	return dir
}

// uniqueID makes site, gateway and client ids unique per run, so that runs
// sharing one Mosquitto (retained status, persistent sessions) never meet.
func uniqueID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e9)
}

// showLogTail prints the end of a log file when the test has failed.
func showLogTail(t *testing.T, path string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		lines = lines[max(0, len(lines)-40):]
		t.Logf("last lines of %s:\n%s", path, strings.Join(lines, "\n"))
	})
}

// ---------------------------------------------------------------------------
// The simulator.

// e2eSim starts the small car park (deploy/sim-small.yaml) on a free port in
// real time at speed, half of the points with a car; arrivalsPerHour 0: no
// car comes or goes unless the test says so.
func e2eSim(t *testing.T, speed, arrivalsPerHour float64) *sim.Sim {
	t.Helper()
	cfg, err := sim.LoadConfig(filepath.Join(svctest.RepoRoot(t), "deploy", "sim-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.API = "127.0.0.1:0", "off"
	cfg.Speed = speed
	cfg.Cars.ArrivalsPerHour = arrivalsPerHour
	cfg.Cars.ConnectedAtStart = 0.5
	if arrivalsPerHour == 0 {
		cfg.Cars.MeanStay = 1000 * time.Hour
		cfg.Cars.MinStay = 1000 * time.Hour
	}
	s, err := sim.New(cfg, sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ---------------------------------------------------------------------------
// The edge's files.

// edgeFiles is a generated edge installation: key, site file, outbox.
type edgeFiles struct {
	Dir      string
	SitePath string
	Outbox   string
	Site     string
	Gateway  string
	Key      ed25519.PrivateKey
	Pub      ed25519.PublicKey
	Meters   map[string]string // meter device id → public key, hex DER (from the simulator)
	// Central's ack key, in <dir>/central-key (central's default), and
	// the edge outbox's epoch (set by outboxReport and drainOutbox).
	CentralKey ed25519.PrivateKey
	CentralPub ed25519.PublicKey
	Epoch      string

	doc map[string]any // deploy/site-small.yaml, edited
}

// newEdgeFiles generates the gateway key (edge/sign.Generate, as `parkgrid
// keygen` does) in dir/keys and prepares a site file from
// deploy/site-small.yaml with the bus on the simulator's port and no EMS
// API; writeSite adds the uplink once the broker is known.
func newEdgeFiles(t *testing.T, dir string, s *sim.Sim, site, gateway string) *edgeFiles {
	t.Helper()
	pub, err := sign.Generate(filepath.Join(dir, "keys"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := sign.LoadPrivate(filepath.Join(dir, "keys", sign.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	ck := newCentralKey(t, dir)
	raw, err := os.ReadFile(filepath.Join(svctest.RepoRoot(t), "deploy", "site-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["site"], doc["gateway"] = site, gateway
	bus := doc["buses"].([]any)[0].(map[string]any)
	bus["tcp"] = s.ModbusAddr(sim.MainListener)
	for _, d := range bus["devices"].([]any) {
		// Meters every 200 ms instead of 1 s: about 500 readings a second,
		// so a kill finds batches being appended, sent and acked.
		if d := d.(map[string]any); d["driver"] == "sdm630" || d["driver"] == "eichrecht" {
			d["poll"] = "200ms"
		}
	}
	delete(doc, "ems")
	delete(doc, "influx")
	f := &edgeFiles{Dir: dir, SitePath: filepath.Join(dir, "site.yaml"), Site: site, Gateway: gateway, Key: key, Pub: pub,
		Meters: map[string]string{}, doc: doc, CentralKey: ck, CentralPub: ck.Public().(ed25519.PublicKey)}
	der := map[string][]byte{}
	for _, p := range s.State().Points {
		der[p.Name] = p.PublicKeyDER
	}
	for _, cp := range doc["charge_points"].([]any) {
		cp := cp.(map[string]any)
		id, _ := cp["id"].(string)
		meter, _ := cp["meter"].(string)
		if meter != "" && der[id] != nil {
			f.Meters[meter] = hex.EncodeToString(der[id])
		}
	}
	if len(f.Meters) == 0 {
		t.Fatal("no Eichrecht meter keys from the simulator")
	}
	return f
}

// newCentralKey makes central's ack key in dir/central-key, where a
// central.yaml in dir finds it by default (centralconfig.DefaultCentralKey).
func newCentralKey(t *testing.T, dir string) ed25519.PrivateKey {
	t.Helper()
	kdir := filepath.Join(dir, filepath.Dir(centralconfig.DefaultCentralKey))
	if _, err := sign.Generate(kdir, false, nil); err != nil {
		t.Fatal(err)
	}
	k, err := sign.LoadPrivate(filepath.Join(kdir, sign.PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeSite writes the site file with the uplink section to broker
// (reading_interval and batch_max_delay 100 ms, central's ack key
// enrolled) and checks it loads. extra entries are added to the uplink
// section.
func (f *edgeFiles) writeSite(t *testing.T, broker string, extra ...map[string]any) {
	t.Helper()
	f.doc["uplink"] = map[string]any{
		"broker":             broker,
		"key":                "keys/" + sign.PrivateFile,
		"outbox":             "data/outbox",
		"central_key":        hex.EncodeToString(f.CentralPub),
		"reading_interval":   "100ms",
		"batch_max_readings": 500,
		"batch_max_delay":    "100ms",
	}
	for _, e := range extra {
		for k, v := range e {
			f.doc["uplink"].(map[string]any)[k] = v
		}
	}
	out, err := yaml.Marshal(f.doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.SitePath, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f.SitePath)
	if err != nil {
		t.Fatalf("generated site file: %v", err)
	}
	if cfg.Uplink == nil {
		t.Fatalf("generated site file %s has no uplink", f.SitePath)
	}
	f.Outbox = cfg.Uplink.Outbox
}

// uplinkConfig is the uplink the edge runs, for draining the outbox's tail
// in-process after the edge stopped.
func (f *edgeFiles) uplinkConfig(broker string) uplink.Config {
	return uplink.Config{Broker: broker, Site: f.Site, Gateway: f.Gateway, AckTimeout: 2 * time.Second,
		MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, CentralKey: f.CentralPub,
		Username: f.Gateway, Password: reading.MQTTPassword(f.Key, f.Gateway)}
}

// outboxReport opens the outbox of a stopped edge, as the next start would
// (recovery included), and closes it again.
func (f *edgeFiles) outboxReport(t *testing.T) outbox.Report {
	t.Helper()
	box, rep, err := outbox.Open(context.Background(), f.Outbox, outbox.Options{})
	if err != nil {
		t.Fatalf("outbox after kill: %v", err)
	}
	if err := box.Close(); err != nil {
		t.Fatal(err)
	}
	f.Epoch = rep.Epoch
	return rep
}

// drainOutbox sends what is left in the stopped edge's outbox with the
// edge's own uplink code, until central acknowledged everything; it returns
// the outbox head.
func (f *edgeFiles) drainOutbox(t *testing.T, broker string, within time.Duration) uint64 {
	t.Helper()
	box, _, err := outbox.Open(context.Background(), f.Outbox, outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	f.Epoch = box.Epoch()
	head := box.Head()
	if box.Acked() == head {
		return head
	}
	u, err := uplink.New(f.uplinkConfig(broker), box)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("drain uplink: %v", err)
		}
	}()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for box.Acked() < head {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("outbox not drained within %s: acked %d, head %d", within, box.Acked(), head)
		}
	}
	return head
}
