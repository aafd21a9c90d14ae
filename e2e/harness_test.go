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
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"go.yaml.in/yaml/v3"

	"github.com/parkgrid/parkgrid/central"
	centralbroker "github.com/parkgrid/parkgrid/central/broker"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/postgres"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
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

// ---------------------------------------------------------------------------
// Subprocesses.

// proc is a parkgrid subprocess whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done

	ready chan struct{} // closed when a line containing readyOn appeared
}

// startProc starts the binary with args, appending stdout and stderr to
// logPath; readyOn (if not "") is a log text that closes p.ready.
func startProc(t *testing.T, logPath, readyOn string, args ...string) *proc {
	return startProcEnv(t, "info", logPath, readyOn, args...)
}

// startProcEnv is startProc with PARKGRID_LOG=level.
func startProcEnv(t *testing.T, level, logPath, readyOn string, args ...string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	p := &proc{cmd: exec.Command(parkgridBinary(t), args...), done: make(chan struct{}), ready: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "PARKGRID_LOG="+level)
	var pw *io.PipeWriter
	if readyOn != "" {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		p.cmd.Stdout, p.cmd.Stderr = pw, pw
		go func() {
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			var once sync.Once
			for sc.Scan() {
				lf.Write(append(sc.Bytes(), '\n'))
				if strings.Contains(sc.Text(), readyOn) {
					once.Do(func() { close(p.ready) })
				}
			}
			io.Copy(io.Discard, pr)
			lf.Close()
		}()
	} else {
		p.cmd.Stdout, p.cmd.Stderr = lf, lf
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		if pw != nil {
			pw.Close()
		} else {
			lf.Close()
		}
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to within; it returns the exit error
// (nil: exit code 0).
func (p *proc) stop(within time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		p.kill()
		return fmt.Errorf("did not stop within %s after SIGTERM; killed", within)
	}
}

// ---------------------------------------------------------------------------
// The tap: what went over the wire.

// The tap's login at central's embedded broker (centralFile enrols it).
const (
	tapUser     = "e2e-tap"
	tapPassword = "e2e-tap-secret"
)

// wireTap subscribes to the site's batch and ack topics and records, per
// outbox epoch and seq, the hash of every distinct body published, and the
// highest ack. Methods without an epoch are about the latest epoch seen.
type wireTap struct {
	gateway string
	pub     ed25519.PublicKey
	central ed25519.PublicKey // verifies the acks

	mu        sync.Mutex // protects the fields below
	bodies    map[tapKey][32]byte
	sent      map[tapKey]time.Time // each batch's signed time
	conflicts []string             // seqs seen with two different bodies
	bad       []string             // messages that do not open with the gateway key
	messages  int
	epoch     string              // of the latest batch
	maxSeq    map[string]uint64   // by epoch
	acks      map[string]uint64   // by epoch
	ackTimes  []ackTime           // every rise of an epoch's ack, in order
	badAcks   int                 // acks that do not open with central's key
	ackWait   chan struct{}       // closed and replaced on every new ack
	lastSent  time.Time           // latest Sent of a batch
	sessions  map[string][]string // point → session of each OCMF snapshot, as published
	gaps      []reading.Gap
	changed   chan struct{} // closed and replaced on every new batch
}

type tapKey struct {
	epoch string
	seq   uint64
}

// ackTime is when an epoch's ack first reached seq.
type ackTime struct {
	epoch string
	seq   uint64
	at    time.Time
}

// ackedAt returns when central's ack of the latest epoch first reached seq
// (zero: not yet).
func (w *wireTap) ackedAt(seq uint64) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.ackTimes {
		if a.epoch == w.epoch && a.seq >= seq {
			return a.at
		}
	}
	return time.Time{}
}

func newWireTap(t *testing.T, broker string, f *edgeFiles) *wireTap {
	t.Helper()
	w := &wireTap{gateway: f.Gateway, pub: f.Pub, central: f.CentralPub, bodies: map[tapKey][32]byte{}, sent: map[tapKey]time.Time{},
		maxSeq: map[string]uint64{}, acks: map[string]uint64{},
		ackWait: make(chan struct{}), sessions: map[string][]string{}, changed: make(chan struct{})}
	topics := map[string]byte{reading.BatchTopic(f.Site): 1, reading.AckTopic(f.Site): 1}
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker).SetClientID(uniqueID("e2e-tap")).
		SetUsername(tapUser).SetPassword(tapPassword).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectTimeout(10 * time.Second).
		SetOnConnectHandler(func(c mqtt.Client) { c.SubscribeMultiple(topics, w.onMessage) }))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("tap connect %s: %v", broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	// The connect handler subscribes again after a reconnect; this first
	// subscription is awaited, so the tap listens once we return.
	if tok := c.SubscribeMultiple(topics, w.onMessage); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("tap subscribe: %v", tok.Error())
	}
	return w
}

func (w *wireTap) onMessage(_ mqtt.Client, m mqtt.Message) {
	if strings.HasSuffix(m.Topic(), "/down/ack") {
		a, err := reading.OpenAck(m.Payload(), w.central)
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			w.badAcks++
			return
		}
		if a.Gateway != w.gateway {
			return
		}
		if a.Seq > w.acks[a.Epoch] {
			w.acks[a.Epoch] = a.Seq
			w.ackTimes = append(w.ackTimes, ackTime{a.Epoch, a.Seq, time.Now()})
			close(w.ackWait)
			w.ackWait = make(chan struct{})
		}
		return
	}
	b, body, err := reading.Open(m.Payload(), func(string) (ed25519.PublicKey, error) { return w.pub, nil })
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages++
	if err != nil {
		w.bad = append(w.bad, err.Error())
		return
	}
	h := sha256.Sum256(body)
	k := tapKey{b.Epoch, b.Seq}
	if old, ok := w.bodies[k]; ok && old != h {
		w.conflicts = append(w.conflicts, fmt.Sprintf("epoch %q seq %d published with two different bodies", b.Epoch, b.Seq))
		return
	}
	if _, dup := w.bodies[k]; dup {
		return
	}
	w.bodies[k] = h
	w.sent[k] = b.Sent
	w.epoch = b.Epoch
	w.maxSeq[b.Epoch] = max(w.maxSeq[b.Epoch], b.Seq)
	if b.Sent.After(w.lastSent) {
		w.lastSent = b.Sent
	}
	for _, r := range b.Readings {
		if r.OCMF != "" {
			w.sessions[r.Point] = append(w.sessions[r.Point], r.Session)
		}
	}
	if b.Gap != nil {
		w.gaps = append(w.gaps, *b.Gap)
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// waitFor waits until cond, called with the tap locked, holds.
func (w *wireTap) waitFor(t *testing.T, what string, within time.Duration, cond func(w *wireTap) bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		w.mu.Lock()
		ok, ch := cond(w), w.changed
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: not within %s", what, within)
		}
	}
}

// MaxSeq is the highest seq published so far in the latest epoch.
func (w *wireTap) MaxSeq() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.maxSeq[w.epoch]
}

// Ack is the highest ack central published for the gateway's latest epoch.
func (w *wireTap) Ack() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acks[w.epoch]
}

// waitAck waits until central acked at least seq of the latest epoch.
func (w *wireTap) waitAck(t *testing.T, seq uint64, within time.Duration) {
	t.Helper()
	w.waitAckIn(t, "", seq, within)
}

// waitAckIn waits until central acked at least seq of epoch ("": the
// latest epoch).
func (w *wireTap) waitAckIn(t *testing.T, epoch string, seq uint64, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		w.mu.Lock()
		e := epoch
		if e == "" {
			e = w.epoch
		}
		got, ch := w.acks[e], w.ackWait
		w.mu.Unlock()
		if got >= seq {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("central acked %d of epoch %q, not %d, within %s", got, e, seq, within)
		}
	}
}

// ---------------------------------------------------------------------------
// The check.

// exactlyOnce is what checkExactlyOnce found.
type exactlyOnce struct {
	Batches, Readings, Events, Snapshots, MeterKeyEvents int
}

// checkExactlyOnce checks central's store against an edge whose outbox head
// is head and whose every publish the tap saw:
//
//   - seqs 1..head are stored for the gateway, nothing above head, and
//     HighestContiguousSeq == head: nothing lost, nothing invented;
//   - every stored body verifies with the gateway key and its stored
//     signature, names its own seq, and is byte for byte the body published
//     for that seq (the tap saw each seq with one body only, and saw them
//     all): the content is what the edge signed, once;
//   - the store's row counts equal the sums over the stored bodies, so no
//     reading, event or snapshot is stored twice or missing;
//   - no reading appears in two batches;
//   - central rejected nothing.
func checkExactlyOnce(t *testing.T, st store.Store, f *edgeFiles, head uint64, tap *wireTap) exactlyOnce {
	t.Helper()
	return checkStreams(t, st, f, []stream{{epoch: f.Epoch, head: head}}, tap)
}

// stream is one outbox epoch of the edge as checkStreams sees it: its head,
// and the seqs its gap records declared lost (never stored, accounted for).
type stream struct {
	epoch string
	head  uint64
	lost  map[uint64]bool
}

// checkStreams is checkExactlyOnce over several epochs of the gateway,
// each with the seqs declared lost in it.
func checkStreams(t *testing.T, st store.Store, f *edgeFiles, streams []stream, tap *wireTap) exactlyOnce {
	t.Helper()
	ctx := context.Background()
	var res exactlyOnce
	type readingKey struct {
		device, point, q, session string
		t                         int64
		v                         int64
	}
	seen := map[readingKey]uint64{}
	dups := 0
	if tap != nil {
		tap.mu.Lock()
		defer tap.mu.Unlock()
		for _, c := range tap.conflicts {
			t.Error(c)
		}
		for _, b := range tap.bad[:min(len(tap.bad), 5)] {
			t.Errorf("published message does not open: %s", b)
		}
	}
	for _, sm := range streams {
		head := sm.head
		if head == 0 {
			t.Fatalf("epoch %q: the edge appended no batch at all", sm.epoch)
		}
		hc, err := st.HighestContiguousSeq(ctx, f.Gateway, sm.epoch)
		if err != nil {
			t.Fatal(err)
		}
		if hc != head {
			t.Errorf("epoch %q: central's highest contiguous seq is %d, the edge's outbox head %d", sm.epoch, hc, head)
		}
		if _, err := st.Batch(ctx, f.Gateway, sm.epoch, head+1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("epoch %q: batch %d (beyond the outbox head): %v, want not found", sm.epoch, head+1, err)
		}
		for seq := uint64(1); seq <= head; seq++ {
			sb, err := st.Batch(ctx, f.Gateway, sm.epoch, seq)
			if sm.lost[seq] {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("epoch %q: batch %d was declared lost but is stored (%v)", sm.epoch, seq, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("epoch %q: batch %d: %v", sm.epoch, seq, err)
				continue
			}
			res.Batches++
			if !ed25519.Verify(f.Pub, sb.Body, sb.Sig) {
				t.Errorf("batch %d: stored body does not verify with the gateway key", seq)
			}
			if sha256.Sum256(sb.Body) != sb.BodySHA256 {
				t.Errorf("batch %d: stored hash does not match the stored body", seq)
			}
			if tap != nil {
				if h, ok := tap.bodies[tapKey{sm.epoch, seq}]; !ok {
					t.Errorf("batch %d is stored but the tap never saw it published", seq)
				} else if h != sb.BodySHA256 {
					t.Errorf("batch %d: stored body differs from the body published", seq)
				}
			}
			b, err := reading.Decode(sb.Body)
			if err != nil {
				t.Errorf("batch %d: %v", seq, err)
				continue
			}
			if b.Seq != seq || b.Gateway != f.Gateway || b.Site != f.Site || b.Epoch != sm.epoch {
				t.Errorf("stored as %d: body says gateway %q site %q epoch %q seq %d", seq, b.Gateway, b.Site, b.Epoch, b.Seq)
			}
			if sb.Readings != len(b.Readings) || sb.Events != len(b.Events) {
				t.Errorf("batch %d: stored counts %d readings %d events, body has %d and %d", seq, sb.Readings, sb.Events, len(b.Readings), len(b.Events))
			}
			res.Readings += len(b.Readings)
			res.Events += len(b.Events)
			for _, r := range b.Readings {
				if r.OCMF != "" {
					res.Snapshots++
				}
				k := readingKey{r.Device, r.Point, r.Quantity, r.Session, r.Time.UnixNano(), r.Value}
				if prev, ok := seen[k]; ok && prev != seq {
					if dups++; dups <= 5 {
						t.Errorf("reading %+v is in batch %d and batch %d", r, prev, seq)
					}
				}
				seen[k] = seq
			}
			for _, e := range b.Events {
				if e.Kind == "meter-key" {
					res.MeterKeyEvents++
					if want, ok := f.Meters[e.Attrs["device"]]; ok && !strings.EqualFold(e.Attrs["pubkey"], want) {
						t.Errorf("batch %d: meter-key event of %s carries %s, the simulator's meter key is %s", seq, e.Attrs["device"], e.Attrs["pubkey"], want)
					}
				}
			}
		}
		if tap != nil {
			for k := range tap.bodies {
				if k.epoch == sm.epoch && k.seq > head {
					t.Errorf("epoch %q: seq %d was published but is beyond the outbox head %d", sm.epoch, k.seq, head)
				}
			}
		}
	}
	if dups > 5 {
		t.Errorf("… %d readings in two batches in all", dups)
	}
	n, err := st.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Counts{Batches: int64(res.Batches), Readings: int64(res.Readings), Snapshots: int64(res.Snapshots), Events: int64(res.Events),
		Rejections: n.Rejections}
	if n != want {
		t.Errorf("store counts %+v, the stored bodies hold %+v", n, want)
	}
	if cr, err := st.CountReadings(ctx, store.ReadingFilter{Gateway: f.Gateway}); err != nil || cr != int64(res.Readings) {
		t.Errorf("CountReadings(gateway) = %d, %v; want %d", cr, err, res.Readings)
	}
	// Central rejected nothing of this gateway. On a shared Mosquitto it may
	// have rejected other tests' batches (central's share group is fixed):
	// those are only logged.
	rej, err := st.Rejections(ctx, store.RejectionFilter{})
	if err != nil {
		t.Fatal(err)
	}
	foreign := map[string]int{}
	for _, r := range rej {
		if r.Gateway == f.Gateway {
			t.Errorf("central rejected seq %d of the gateway: %s: %s", r.Seq, r.Reason, r.Detail)
			continue
		}
		foreign[r.Gateway+" ("+r.Reason+")"]++
	}
	if len(foreign) > 0 {
		t.Logf("central also received and rejected other gateways' batches (crosstalk on a shared broker): %v", foreign)
	}
	return res
}

// String is a one-line account for the test log.
func (r exactlyOnce) String() string {
	return fmt.Sprintf("%d batches, %d readings (%d OCMF snapshots), %d events (%d meter-key)",
		r.Batches, r.Readings, r.Snapshots, r.Events, r.MeterKeyEvents)
}
