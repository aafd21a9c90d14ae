package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/receiptcheck"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/drivers/eichrecht"
	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var update = flag.Bool("update", false, "regenerate docs/examples from the simulator")

// demoSite is the simulated small car park of deploy/sim-small.yaml and
// deploy/site-small.yaml, with a made-up operator and address.
type demoSite struct {
	sim  *sim.Sim
	bus  *modbus.Bus
	keys map[string]string // point → meter public key, hex SPKI
}

func startDemoSite(t *testing.T) *demoSite {
	t.Helper()
	root := svctest.RepoRoot(t)
	yml, err := os.ReadFile(filepath.Join(root, "deploy", "sim-small.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := sim.ParseConfig(yml)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.API = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Cars.ArrivalsPerHour, cfg.Cars.ConnectedAtStart = 0, 0
	s, err := sim.New(cfg, sim.Options{Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	bus := modbus.NewTCP(s.ModbusAddr(sim.MainListener), modbus.Options{Name: "sim", Timeout: 2 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = bus.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	d := &demoSite{sim: s, bus: bus, keys: map[string]string{}}
	for i := 1; i <= 10; i++ {
		p := fmt.Sprintf("p%02d", i)
		der, err := d.meter(p).PublicKey(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		d.keys[p] = strings.ToUpper(hex.EncodeToString(der))
	}
	return d
}

func (d *demoSite) meter(point string) *eichrecht.Meter {
	var n int
	fmt.Sscanf(point, "p%d", &n)
	return eichrecht.New(point+".meter", d.bus, uint8(200+n), eichrecht.Options{PollInterval: time.Millisecond})
}

// session charges a car at point for dur and returns the meter's signed
// begin and end records.
func (d *demoSite) session(t *testing.T, point string, dur time.Duration) (begin, end string) {
	t.Helper()
	if err := d.sim.PlugCar(point, sim.Car{Phases: 3, MaxA: 16, SocPct: 20, BatteryWh: 77_000}); err != nil {
		t.Fatal(err)
	}
	m := d.meter(point)
	var err error
	if begin, err = m.Snapshot(t.Context(), drivers.SnapshotBegin, ""); err != nil {
		t.Fatal(err)
	}
	for step := time.Duration(0); step < dur; step += time.Minute {
		d.sim.Step(time.Minute)
	}
	if end, err = m.Snapshot(t.Context(), drivers.SnapshotEnd, ""); err != nil {
		t.Fatal(err)
	}
	return begin, end
}

var demoOperator = invoice.Seller{Name: "Parkhaus Mitte Demo GmbH", Address: "Hauptstraße 1, 10115 Berlin", VATID: "DE000000000"}

func demoStations(keys map[string]string) []Station {
	var out []Station
	for s := range 5 { // five columns of two points each
		st := Station{
			Operator: demoOperator.Name, Street: "Hauptstraße", HouseNumber: "1", AddressExtra: fmt.Sprintf("Parkhaus Ebene -1, Säule %d", s+1),
			PostalCode: "10115", City: "Berlin", State: "Berlin", District: "Berlin",
			LatMicroDeg: 52_531_600 + int64(s)*12, LonMicroDeg: 13_384_300 + int64(s)*20,
			CommissionedOn: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
		}
		for p := range 2 {
			name := fmt.Sprintf("p%02d", 2*s+p+1)
			st.Points = append(st.Points, RegisterPoint{EVSEID: "DE*PGD*E" + strings.ToUpper(name) + "*1",
				Plugs: []Plug{PlugType2Socket}, PowerW: 22_000, MeterPublicKey: keys[name]})
		}
		out = append(out, st)
	}
	return out
}

// TestDemoSiteExamples checks the files in docs/examples: the receipt
// verifies (records, key and billed energy), the S.A.F.E. export
// verifies with central/ocmf, and the register lists the simulator's meter
// keys. With -update it makes them again from a session on the
// simulator: its Eichrecht meters sign the OCMF records.
func TestDemoSiteExamples(t *testing.T) {
	dir := filepath.Join(svctest.RepoRoot(t), "docs", "examples")
	if *update {
		generateExamples(t, dir)
	}
	pdf, err := os.ReadFile(filepath.Join(dir, "receipt.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := receiptcheck.Read(pdf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := receiptcheck.Check(r, r.PrintedKey)
	if err != nil || !res.Valid || res.Measured.EnergyWh <= 0 {
		t.Fatalf("receipt.pdf: %+v, %v", res, err)
	}
	f, err := os.Open(filepath.Join(dir, "session-safe.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals, err := ReadSAFE(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifySAFE(vals); err != nil || len(vals) != 2 || vals[0].Data != r.Records[0] {
		t.Fatalf("session-safe.xml: %d values, %v", len(vals), err)
	}
	reg, err := os.ReadFile(filepath.Join(dir, "ladesaeulenregister.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(bytes.NewReader(reg))
	cr.Comma = ';'
	rows, err := cr.ReadAll()
	if err != nil || len(rows) != 6 {
		t.Fatalf("register: %d rows, %v", len(rows), err)
	}
	if !strings.EqualFold(rows[1][16], r.PrintedKey) {
		t.Errorf("register's first key %s is not the receipt's meter key %s", rows[1][16], r.PrintedKey)
	}
}

func generateExamples(t *testing.T, dir string) {
	d := startDemoSite(t)
	begin, end := d.session(t, "p01", 95*time.Minute)
	m := session.Measure([]session.Snapshot{{OCMF: begin, Verified: true}, {OCMF: end, Verified: true}})
	if len(m.Flags) > 0 {
		t.Fatalf("simulator records flagged %v", m.Flags)
	}
	tr := tariff.Tariff{ID: "eco-mitte", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 49, StartFeeMinor: 100,
		TimeFeePerMinuteMinor: 10, FreeTime: 240 * time.Minute, VATRateBP: 1900}
	p, err := tariff.Price(tr, m.EnergyWh, m.End.Sub(m.Start))
	if err != nil {
		t.Fatal(err)
	}
	issued := m.End.Add(2 * time.Minute).Truncate(time.Second)
	rc := invoice.Receipt{
		Number: invoice.FormatNumber("MITTE-", 1), Seller: demoOperator, IssuedAt: issued,
		ChargePoint: invoice.ChargePoint{Site: "sim-small", Point: "p01", EVSEID: "DE*PGD*EP01*1", Address: "Hauptstraße 1, 10115 Berlin"},
		Start:       m.Start, End: m.End, Price: p, Payment: "Karte über den Demo-Zahlungsanbieter / card via the demo payment provider",
		OCMF: m.OCMF, MeterPublicKey: d.keys["p01"],
	}
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var pdf bytes.Buffer
	if err := receiptpdf.Render(&pdf, rc, receiptpdf.Options{Location: loc}); err != nil {
		t.Fatal(err)
	}
	var safe, reg bytes.Buffer
	if err := WriteSAFE(&safe, SignedRecords{Session: "demo-p01-1", OCMF: m.OCMF, PublicKey: d.keys["p01"]}); err != nil {
		t.Fatal(err)
	}
	if err := WriteRegisterCSV(&reg, demoStations(d.keys)); err != nil {
		t.Fatal(err)
	}
	var regx bytes.Buffer
	if err := WriteRegisterXLSX(&regx, demoStations(d.keys)); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"receipt.pdf": pdf.Bytes(), "session-safe.xml": safe.Bytes(),
		"ladesaeulenregister.csv": reg.Bytes(), "ladesaeulenregister.xlsx": regx.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("session on p01: %d Wh, %d cents; wrote %s", m.EnergyWh, p.GrossMinor, dir)
}
