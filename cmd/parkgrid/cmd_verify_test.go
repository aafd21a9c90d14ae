package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

type katRecord struct {
	OCMF   string `json:"ocmf"`
	Key    string `json:"public_key_hex"`
	Expect string `json:"expect"`
	Curve  string `json:"curve"`
}

// TestVerifyCommandOnRealRecords runs `parkgrid verify` on every record of
// the shared known-answer set: exit 0 and "valid" exactly for the valid ones.
func TestVerifyCommandOnRealRecords(t *testing.T) {
	dir := svctest.SharedDir(t, "testdata/ocmf")
	b, err := os.ReadFile(filepath.Join(dir, "kat.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []katRecord
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		f := filepath.Join(t.TempDir(), "rec.ocmf")
		if err := os.WriteFile(f, []byte(r.OCMF), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, "verify", "--pubkey", r.Key, f)
		valid := code == 0 && out == "valid\n"
		if valid != (r.Expect == "valid") {
			t.Errorf("kat[%d] (%s): exit %d, out %q, err %q; want %s", i, r.Curve, code, out, errOut, r.Expect)
		}
		if !valid && (code != 1 || !strings.HasPrefix(out, "invalid: ")) {
			t.Errorf("kat[%d]: an invalid record must print 'invalid: <reason>' and exit 1, got %d %q", i, code, out)
		}
	}
}

func TestVerifyCommandUsage(t *testing.T) {
	if code, _, _ := run(t, "verify", "x"); code != 2 {
		t.Errorf("no key source: exit %d, want 2", code)
	}
	if code, _, errOut := run(t, "verify", "--pubkey", "00", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	code, out, _ := run(t, "verify", "--pubkey", "00", "-")
	if code != 1 || !strings.HasPrefix(out, "invalid: ") {
		t.Errorf("empty stdin: exit %d, out %q", code, out)
	}
}

// TestVerifyCommandBySession stores a session's signed snapshot in a SQLite
// store, enrols the meter's key and verifies the record by session id.
func TestVerifyCommandBySession(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "central.db")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"FV":"1.0","GI":"test","PG":"T1","ID":"s-42","RD":[{"TM":"2026-11-25T10:00:00,000+0000 S","TX":"B","RV":1.234,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}`)
	rec, err := ocmf.SignP256(payload, key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := reading.Batch{Version: reading.CurrentVersion, Site: "s1", Gateway: "gw1", Seq: 1, Sent: time.Unix(1_800_000_000, 0).UTC(),
		Readings: []reading.Reading{{Time: time.Unix(1_800_000_000, 0).UTC(), Device: "p01.meter", Point: "p01", Quantity: reading.QSnapshot, OCMF: rec, Session: "s-42"}}}
	body, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveBatches(ctx, []store.Item{{Gateway: "gw1", Seq: 1, Batch: b, Body: body, OCMFVerified: true}}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeterKey(ctx, store.MeterKey{Site: "s1", Device: "p01.meter", PublicKey: hex.EncodeToString(der)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(dir, "central.yaml")
	yaml := "store: {driver: sqlite, path: " + dbPath + "}\nmqtt: {listen: 127.0.0.1:0}\nhttp: {listen: 127.0.0.1:0}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "rec.ocmf")
	if err := os.WriteFile(f, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, "verify", "--session", "s-42", "--config", cfg, f); code != 0 || out != "valid\n" {
		t.Errorf("by session: exit %d, out %q, err %q", code, out, errOut)
	}
	tampered := strings.Replace(rec, "1.234", "1.235", 1)
	if err := os.WriteFile(f, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, "verify", "--session", "s-42", "--config", cfg, f); code != 1 || !strings.HasPrefix(out, "invalid: ") {
		t.Errorf("tampered by session: exit %d, out %q", code, out)
	}
	if code, _, errOut := run(t, "verify", "--session", "nope", "--config", cfg, f); code != 1 || !strings.Contains(errOut, "no stored snapshot") {
		t.Errorf("unknown session: exit %d, err %q", code, errOut)
	}
}
