package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"
	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func row(id, site, point, cc, code string, end time.Time, wh, gross int64) Row {
	vat := gross * 1900 / 11900
	return Row{Session: id, Operator: "op", Site: site, Point: point, CostCentre: cc, AccessCode: code,
		Start: end.Add(-time.Hour), End: end, EnergyWh: wh, Currency: "EUR", GrossMinor: gross, NetMinor: gross - vat, VATMinor: vat}
}

func sampleRows() []Row {
	return []Row{
		row("s1", "mitte", "cp-1", "", "", t0, 12_345, 705),
		row("s2", "mitte", "cp-2", "CC-7", "", t0.Add(2*time.Hour), 1_000, 149),
		row("s3", "nord", "cp-1", "CC-7", "V-1", t0.Add(26*time.Hour), 20_000, 1_080),
		row("s4", "nord", "cp-1", "", "", t0.AddDate(0, 1, 0), 5, 100),                           // outside the range
		{Session: "s5", Operator: "other", Site: "mitte", End: t0, EnergyWh: 9, Currency: "EUR"}, // other operator
	}
}

func query() Query {
	return Query{Operator: "op", From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
}

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		by     Dimension
		period Period
		want   []Line
	}{
		{BySite, PeriodAll, []Line{
			{PeriodStart: query().From, Key: "mitte", Currency: "EUR", Sessions: 2, EnergyWh: 13_345, GrossMinor: 854, NetMinor: 854 - 112 - 23, VATMinor: 112 + 23},
			{PeriodStart: query().From, Key: "nord", Currency: "EUR", Sessions: 1, EnergyWh: 20_000, GrossMinor: 1080, NetMinor: 1080 - 172, VATMinor: 172},
		}},
		{ByCostCentre, PeriodDay, []Line{
			{PeriodStart: t0.Truncate(24 * time.Hour), Key: "", Currency: "EUR", Sessions: 1, EnergyWh: 12_345, GrossMinor: 705, NetMinor: 593, VATMinor: 112},
			{PeriodStart: t0.Truncate(24 * time.Hour), Key: "CC-7", Currency: "EUR", Sessions: 1, EnergyWh: 1_000, GrossMinor: 149, NetMinor: 126, VATMinor: 23},
			{PeriodStart: t0.Truncate(24*time.Hour).AddDate(0, 0, 1), Key: "CC-7", Currency: "EUR", Sessions: 1, EnergyWh: 20_000, GrossMinor: 1080, NetMinor: 908, VATMinor: 172},
		}},
		{ByPoint, PeriodMonth, []Line{
			{PeriodStart: query().From, Key: "mitte/cp-1", Currency: "EUR", Sessions: 1, EnergyWh: 12_345, GrossMinor: 705, NetMinor: 593, VATMinor: 112},
			{PeriodStart: query().From, Key: "mitte/cp-2", Currency: "EUR", Sessions: 1, EnergyWh: 1_000, GrossMinor: 149, NetMinor: 126, VATMinor: 23},
			{PeriodStart: query().From, Key: "nord/cp-1", Currency: "EUR", Sessions: 1, EnergyWh: 20_000, GrossMinor: 1080, NetMinor: 908, VATMinor: 172},
		}},
	} {
		t.Run(string(tc.by)+"/"+string(tc.period), func(t *testing.T) {
			u, err := Summarize(query(), sampleRows(), tc.by, tc.period, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, u.Lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if len(u.Totals) != 1 || u.Totals[0].Sessions != 3 || u.Totals[0].EnergyWh != 33_345 || u.Totals[0].GrossMinor != 1934 {
				t.Errorf("totals %+v", u.Totals)
			}
		})
	}
}

// TestSummarizeBerlinMidnight: a session ending 23:30 UTC on the 25th is
// on the 26th in Berlin.
func TestSummarizeBerlinMidnight(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		svctest.Missing(t, "time zone data (Europe/Berlin)", err.Error())
	}
	late := time.Date(2026, 11, 25, 23, 30, 0, 0, time.UTC)
	u, err := Summarize(query(), []Row{row("s", "mitte", "cp", "", "", late, 1, 1)}, BySite, PeriodDay, loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Lines[0].PeriodStart.Format("2006-01-02 MST"); got != "2026-11-26 CET" {
		t.Errorf("bucket %s, want 2026-11-26 CET", got)
	}
}

func TestSummarizeRefuses(t *testing.T) {
	q := query()
	for name, fn := range map[string]func() error{
		"empty range": func() error {
			_, err := Summarize(Query{Operator: "op", From: t0, To: t0}, nil, BySite, PeriodDay, nil)
			return err
		},
		"no operator": func() error {
			_, err := Summarize(Query{From: q.From, To: q.To}, nil, BySite, PeriodDay, nil)
			return err
		},
		"dimension": func() error { _, err := Summarize(q, nil, "colour", PeriodDay, nil); return err },
		"period":    func() error { _, err := Summarize(q, nil, BySite, "week", nil); return err },
	} {
		if err := fn(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// TestSummarizeConserves: whatever the rows, grouping, period and zone,
// the lines add up to the totals, and the totals to the rows in range.
func TestSummarizeConserves(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		q := query()
		n := rapid.IntRange(0, 40).Draw(t, "n")
		var rows []Row
		want := map[string][3]int64{}
		for i := range n {
			end := q.From.Add(time.Duration(rapid.Int64Range(-48, 24*35).Draw(t, "hour")) * time.Hour)
			r := Row{Session: string(rune('a' + i)), Operator: rapid.SampledFrom([]string{"op", "x"}).Draw(t, "op"),
				Site: rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "site"), End: end,
				CostCentre: rapid.SampledFrom([]string{"", "cc"}).Draw(t, "cc"),
				AccessCode: rapid.SampledFrom([]string{"", "k1", "k2"}).Draw(t, "code"),
				Currency:   rapid.SampledFrom([]string{"EUR", "CHF"}).Draw(t, "cur"),
				EnergyWh:   rapid.Int64Range(0, 1e9).Draw(t, "wh"), GrossMinor: rapid.Int64Range(0, 1e8).Draw(t, "gross")}
			rows = append(rows, r)
			if q.Contains(r) {
				w := want[r.Currency]
				want[r.Currency] = [3]int64{w[0] + 1, w[1] + r.EnergyWh, w[2] + r.GrossMinor}
			}
		}
		for i := range rows { // one group per code, as the labels give it
			rows[i].Group = map[string]string{"k1": "fleet", "k2": ""}[rows[i].AccessCode]
		}
		by := rapid.SampledFrom([]Dimension{BySite, ByPoint, ByCostCentre, ByAccessCode, ByGroup}).Draw(t, "by")
		p := rapid.SampledFrom([]Period{PeriodDay, PeriodMonth, PeriodAll}).Draw(t, "period")
		u, err := Summarize(q, rows, by, p, time.FixedZone("x", 3600*rapid.IntRange(-12, 14).Draw(t, "zone")))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][3]int64{}
		for _, l := range u.Lines {
			g := got[l.Currency]
			got[l.Currency] = [3]int64{g[0] + l.Sessions, g[1] + l.EnergyWh, g[2] + l.GrossMinor}
		}
		tot := map[string][3]int64{}
		for _, l := range u.Totals {
			tot[l.Currency] = [3]int64{l.Sessions, l.EnergyWh, l.GrossMinor}
		}
		if !cmp.Equal(want, got, cmp.Comparer(func(a, b [3]int64) bool { return a == b })) || len(want) != len(tot) {
			t.Fatalf("lines %v, totals %v, rows %v", got, tot, want)
		}
		for c, w := range want {
			if tot[c] != w {
				t.Fatalf("totals %v, rows %v", tot, want)
			}
		}
	})
}

func TestWriteCSV(t *testing.T) {
	u, err := Summarize(query(), sampleRows(), BySite, PeriodMonth, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, u); err != nil {
		t.Fatal(err)
	}
	want := "period_start,key,sessions,energy_kwh,currency,gross,net,vat\n" +
		"2026-11,mitte,2,13.345,EUR,8.54,7.19,1.35\n" +
		"2026-11,nord,1,20.000,EUR,10.80,9.08,1.72\n" +
		"total,,3,33.345,EUR,19.34,16.27,3.07\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("csv (-want +got):\n%s", diff)
	}
}

func TestWriteXLSX(t *testing.T) {
	u, err := Summarize(query(), sampleRows(), ByCostCentre, PeriodAll, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteXLSX(&b, u); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("usage", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		usageHeader,
		{"2026-11-01/2026-12-01", "", "1", "12.345", "EUR", "7.05", "5.93", "1.12"},
		{"2026-11-01/2026-12-01", "CC-7", "2", "21", "EUR", "12.29", "10.34", "1.95"},
		{"total", "", "3", "33.345", "EUR", "19.34", "16.27", "3.07"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("xlsx (-want +got):\n%s", diff)
	}
}

func TestKWh(t *testing.T) {
	for wh, want := range map[int64]string{0: "0.000", 7: "0.007", 12345: "12.345", 1_234_567: "1234.567", -5: "-0.005"} {
		if got := KWh(wh); got != want {
			t.Errorf("KWh(%d) = %q, want %q", wh, got, want)
		}
	}
}

func station(t *testing.T) Station {
	m, err := sessiontest.NewMeter("SIM-1")
	if err != nil {
		t.Fatal(err)
	}
	return Station{
		Operator: "Parkhaus Mitte GmbH", Street: "Hauptstraße", HouseNumber: "1", AddressExtra: "Ebene -1",
		PostalCode: "10115", City: "Berlin", State: "Berlin", District: "Berlin",
		LatMicroDeg: 52_520_008, LonMicroDeg: 13_404_954, CommissionedOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		Points: []RegisterPoint{
			{EVSEID: "DE*PGR*E0001*1", Plugs: []Plug{PlugType2Socket}, PowerW: 11_000, MeterPublicKey: m.PublicKey},
			{EVSEID: "DE*PGR*E0001*2", Plugs: []Plug{PlugType2Socket, PlugSchuko}, PowerW: 22_000, MeterPublicKey: m.PublicKey},
		},
	}
}

func TestRegisterCSV(t *testing.T) {
	s := station(t)
	fast := s
	fast.Points = []RegisterPoint{{EVSEID: "DE*PGR*E0002*1", Plugs: []Plug{PlugCCS}, PowerW: 150_500, MeterPublicKey: s.Points[0].MeterPublicKey}}
	var b bytes.Buffer
	if err := WriteRegisterCSV(&b, []Station{s, fast}); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(&b)
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || len(recs[0]) != 14+3*MaxPointsPerStation || recs[0][16] != "Public Key1" {
		t.Fatalf("header %v, %d rows", recs[0], len(recs))
	}
	key := strings.ToUpper(s.Points[0].MeterPublicKey)
	wantRow := []string{"Parkhaus Mitte GmbH", "Hauptstraße", "1", "Ebene -1", "10115", "Berlin", "Berlin", "Berlin",
		"52,520008", "13,404954", "01.03.2026", "33", "Normalladeeinrichtung", "2",
		"AC Steckdose Typ 2", "11", key, "AC Steckdose Typ 2, AC Schuko", "22", key, "", "", "", "", "", ""}
	if diff := cmp.Diff(wantRow, recs[1]); diff != "" {
		t.Errorf("row (-want +got):\n%s", diff)
	}
	if recs[2][11] != "150,5" || recs[2][12] != "Schnellladeeinrichtung" {
		t.Errorf("fast station: power %q kind %q", recs[2][11], recs[2][12])
	}
}

func TestRegisterRefusesIncomplete(t *testing.T) {
	for name, change := range map[string]func(*Station){
		"no key":         func(s *Station) { s.Points[0].MeterPublicKey = "" },
		"bad key":        func(s *Station) { s.Points[1].MeterPublicKey = "3059" },
		"no plug":        func(s *Station) { s.Points[0].Plugs = nil },
		"no coordinates": func(s *Station) { s.LatMicroDeg, s.LonMicroDeg = 0, 0 },
		"no date":        func(s *Station) { s.CommissionedOn = time.Time{} },
		"five points":    func(s *Station) { s.Points = append(s.Points, s.Points[0], s.Points[0], s.Points[0]) },
	} {
		s := station(t)
		change(&s)
		if err := WriteRegisterCSV(&bytes.Buffer{}, []Station{s}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestRegisterXLSX(t *testing.T) {
	var b bytes.Buffer
	if err := WriteRegisterXLSX(&b, []Station{station(t)}); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows("Ladepunkte")
	if err != nil || len(rows) != 2 || rows[0][0] != "Betreiber" || rows[1][10] != "01.03.2026" {
		t.Fatalf("rows %v, %v", rows, err)
	}
}

// katRecord is one record of the shared real-world OCMF data.
type katRecord struct {
	OCMF   string `json:"ocmf"`
	Key    string `json:"public_key_hex"`
	Expect string `json:"expect"`
	Curve  string `json:"curve"`
}

func kat(t *testing.T) []katRecord {
	data, err := os.ReadFile(filepath.Join(svctest.SharedDir(t, "testdata/ocmf"), "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []katRecord
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestSAFEExportVerifies: every record exported, read back from the XML,
// verifies with central/ocmf: the simulator-style meter's session and
// every valid real record of the shared data; a record changed in the
// file does not.
func TestSAFEExportVerifies(t *testing.T) {
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	sets := []SignedRecords{{Session: "s-1", PublicKey: m.PublicKey,
		OCMF: []string{m.Record(1, "B", 1_000, t0), m.Record(2, "E", 13_345, t0.Add(time.Hour))}}}
	for _, k := range kat(t) {
		if k.Expect == "valid" && k.Key != "" {
			sets = append(sets, SignedRecords{Session: "kat", OCMF: []string{k.OCMF}, PublicKey: k.Key})
		}
	}
	if len(sets) < 10 {
		t.Fatalf("only %d record sets", len(sets))
	}
	for i, sr := range sets {
		var b bytes.Buffer
		if err := WriteSAFE(&b, sr); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		vals, err := ReadSAFE(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
		if len(vals) != len(sr.OCMF) {
			t.Fatalf("set %d: %d values, want %d", i, len(vals), len(sr.OCMF))
		}
		for j, v := range vals {
			if v.Data != sr.OCMF[j] {
				t.Errorf("set %d value %d: record changed in the XML:\n%s\n%s", i, j, v.Data, sr.OCMF[j])
			}
		}
		if err := VerifySAFE(vals); err != nil {
			t.Errorf("set %d (%s): %v", i, sr.OCMF[0][:min(60, len(sr.OCMF[0]))], err)
		}
		if i == 0 {
			if vals[0].Context != ContextBegin || vals[1].Context != ContextEnd || vals[0].KeyEncoding != "hex" {
				t.Errorf("contexts %q %q, key encoding %q", vals[0].Context, vals[1].Context, vals[0].KeyEncoding)
			}
			tampered := strings.Replace(b.String(), `13.345`, `23.345`, 1)
			tv, err := ReadSAFE(strings.NewReader(tampered))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifySAFE(tv); err == nil {
				t.Error("a record changed in the file verifies")
			}
		}
	}
}

func TestSAFERefuses(t *testing.T) {
	for name, sr := range map[string]SignedRecords{
		"no records": {Session: "s"},
		"not ocmf":   {Session: "s", OCMF: []string{"hello"}},
		"bad key":    {Session: "s", OCMF: []string{`OCMF|{"FV":"1.0"}|{"SD":"30"}`}, PublicKey: "zz"},
	} {
		if err := WriteSAFE(&bytes.Buffer{}, sr); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func FuzzReadSAFE(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><values><value transactionId="1" context="Transaction.Begin"><signedData format="OCMF" encoding="plain">OCMF|{}|{"SD":"30"}</signedData><publicKey encoding="hex">3059</publicKey></value></values>`))
	f.Add([]byte(`<values/>`))
	f.Add([]byte(`<values><value><signedData>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, err := ReadSAFE(bytes.NewReader(data))
		if err != nil {
			return
		}
		_ = VerifySAFE(vals) // must not panic
		var b bytes.Buffer
		sr := SignedRecords{Session: "f"}
		for _, v := range vals {
			sr.OCMF = append(sr.OCMF, v.Data)
		}
		if WriteSAFE(&b, sr) == nil {
			back, err := ReadSAFE(&b)
			if err != nil || len(back) != len(vals) {
				t.Fatalf("written export does not read back: %v", err)
			}
			for i := range back {
				if back[i].Data != vals[i].Data {
					t.Fatalf("record %d changed: %q → %q", i, vals[i].Data, back[i].Data)
				}
			}
		}
	})
}

type fakeSource []Row

func (f fakeSource) Rows(_ context.Context, q Query) ([]Row, error) { return f, nil }

type fakeRecords map[string]SignedRecords

func (f fakeRecords) SignedRecords(_ context.Context, op, id string) (SignedRecords, error) {
	sr, ok := f[op+"/"+id]
	if !ok {
		return SignedRecords{}, ErrNotFound
	}
	return sr, nil
}

func TestHandler(t *testing.T) {
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	h := Handler(HandlerConfig{
		Usage:   fakeSource(sampleRows()),
		Records: fakeRecords{"op/s-1": {Session: "s-1", PublicKey: m.PublicKey, OCMF: []string{m.Record(1, "B", 1, t0)}}},
		Operator: func(r *http.Request) (string, bool) {
			op := r.Header.Get("X-Test-Operator")
			return op, op != ""
		},
	})
	for _, tc := range []struct {
		op, path string
		code     int
		want     string
	}{
		{"", "/usage?from=2026-11-01&to=2026-12-01", 401, ""},
		{"op", "/usage?from=2026-11-01&to=2026-12-01&by=site&period=month", 200, "2026-11,nord,1,20.000,EUR,10.80"},
		{"op", "/usage?from=2026-11-01&to=2026-12-01&format=xlsx", 200, "PK"},
		{"op", "/usage?from=2026-12-01&to=2026-11-01", 400, "empty"},
		{"op", "/usage?from=yesterday&to=2026-11-01&by=colour", 400, "colour"},
		{"op", "/sessions/s-1/safe.xml", 200, `context="Transaction.Begin"`},
		{"other", "/sessions/s-1/safe.xml", 404, ""},
		{"op", "/register", 404, ""},
	} {
		req := httptest.NewRequest("GET", tc.path, nil)
		if tc.op != "" {
			req.Header.Set("X-Test-Operator", tc.op)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s as %q: %d %q; want %d containing %q", tc.path, tc.op, rec.Code, rec.Body.String(), tc.code, tc.want)
		}
	}
}

// TestUsageByGroup: by=group counts a session without a code in group
// public, a code's sessions in its group ("" for none); by=accesscode
// carries each code's group into the CSV and XLSX "group" column.
func TestUsageByGroup(t *testing.T) {
	rows := sampleRows()
	rows = append(rows, row("s6", "nord", "cp-2", "", "E-1", t0.Add(3*time.Hour), 2_000, 200),
		row("s7", "nord", "cp-2", "", "N-1", t0.Add(4*time.Hour), 3_000, 300))
	rows[2].Group, rows[5].Group = "fleet", "employees" // V-1, E-1; N-1 is in no group
	u, err := Summarize(query(), rows, ByGroup, PeriodAll, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]int64{}
	for _, l := range u.Lines {
		got[l.Key] = [2]int64{l.Sessions, l.EnergyWh}
		if l.Group != l.Key {
			t.Errorf("line %q has group %q", l.Key, l.Group)
		}
	}
	want := map[string][2]int64{"public": {2, 13_345}, "fleet": {1, 20_000}, "employees": {1, 2_000}, "": {1, 3_000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("by group (-want +got):\n%s", diff)
	}
	u, err = Summarize(query(), rows, ByAccessCode, PeriodAll, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, u); err != nil {
		t.Fatal(err)
	}
	wantCSV := "period_start,key,group,sessions,energy_kwh,currency,gross,net,vat\n" +
		"2026-11-01/2026-12-01,,public,2,13.345,EUR,8.54,7.19,1.35\n" +
		"2026-11-01/2026-12-01,E-1,employees,1,2.000,EUR,2.00,1.69,0.31\n" +
		"2026-11-01/2026-12-01,N-1,,1,3.000,EUR,3.00,2.53,0.47\n" +
		"2026-11-01/2026-12-01,V-1,fleet,1,20.000,EUR,10.80,9.08,1.72\n" +
		"total,,,5,38.345,EUR,24.34,20.49,3.85\n"
	if diff := cmp.Diff(wantCSV, b.String()); diff != "" {
		t.Errorf("csv by access code (-want +got):\n%s", diff)
	}
	b.Reset()
	if err := WriteXLSX(&b, u); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := f.GetRows("usage", excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(x) != 6 || x[0][2] != "group" || x[4][1] != "V-1" || x[4][2] != "fleet" || x[1][2] != "public" {
		t.Errorf("xlsx by access code: %v", x)
	}
	if _, err := ParseDimension("group"); err != nil {
		t.Errorf("ParseDimension(group): %v", err)
	}
}
