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
		valid := code == 0 && strings.HasPrefix(out, "valid\n")
		if valid != (r.Expect == "valid") {
			t.Errorf("kat[%d] (%s): exit %d, out %q, err %q; want %s", i, r.Curve, code, out, errOut, r.Expect)
		}
		// A key that is no key in any spelling is a usage error (exit 2,
		// "could not check"); every other rejection is exit 1, "invalid".
		if keyErr := checkKeyText(r.Key); !valid && keyErr != nil {
			if code != 2 || !strings.Contains(errOut, "--pubkey") {
				t.Errorf("kat[%d]: a malformed key (%v) must exit 2 naming --pubkey, got %d %q", i, keyErr, code, errOut)
			}
		} else if !valid && (code != 1 || !strings.HasPrefix(out, "invalid: ")) {
			t.Errorf("kat[%d]: an invalid record must print 'invalid: <reason>' and exit 1, got %d %q", i, code, out)
		}
	}
}

// TestVerifyCommandExitCodes: 1 means "the record does not verify", 2
// "the check could not be made", so a script never takes a typo in a key
// for a forged record.
func TestVerifyCommandExitCodes(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := hex.EncodeToString(der)
	rec, err := ocmf.SignP256([]byte(`{"FV":"1.0","MV":"ACME","MM":"M1","MS":"SN-7","PG":"T3","RD":[{"TM":"2026-11-25T10:00:00,000+0000 S","TX":"B","RV":1.234,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}`), key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.ocmf")
	forged := filepath.Join(dir, "forged.ocmf")
	if err := os.WriteFile(good, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(forged, []byte(strings.Replace(rec, "1.234", "9.234", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout string // prefix
	}{
		{"valid", []string{"--pubkey", pub, good}, 0, "valid\nmeter: ACME M1 serial SN-7\npagination: T3\nreading 1: 2026-11-25T10:00:00,000+0000 S  B  1.234 kWh  (1-b:1.8.0)  meter state G\n"},
		{"forged", []string{"--pubkey", pub, forged}, 1, "invalid: "},
		{"not a record", []string{"--pubkey", pub, "-"}, 1, "invalid: "},
		{"no key source", []string{good}, 2, ""},
		{"two key sources", []string{"--pubkey", pub, "--embedded-key", good}, 2, ""},
		{"malformed key", []string{"--pubkey", "zz-not-hex", good}, 2, ""},
		{"missing file", []string{"--pubkey", pub, filepath.Join(dir, "missing")}, 2, ""},
		{"no file", []string{"--pubkey", pub}, 2, ""},
		{"bad flag", []string{"--frob", good}, 2, ""},
	} {
		code, out, errOut := run(t, append([]string{"verify"}, c.args...)...)
		if code != c.code || !strings.HasPrefix(out, c.stdout) || (c.stdout == "" && out != "") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stdout starting %q", c.name, code, out, errOut, c.code, c.stdout)
		}
	}
}

// TestVerifyBySessionCreatesNoDatabase: a wrong path in central's config
// is an error, not a new empty store.
func TestVerifyBySessionCreatesNoDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "nope", "central.db")
	cfg := filepath.Join(dir, "central.yaml")
	yaml := "store: {driver: sqlite, path: " + db + "}\nmqtt: {listen: 127.0.0.1:0}\nhttp: {listen: 127.0.0.1:0}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "rec.ocmf")
	if err := os.WriteFile(rec, []byte("OCMF|{}|{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, "verify", "--session", "s-1", "--config", cfg, rec)
	if code != 2 || !strings.Contains(errOut, db) {
		t.Errorf("exit %d, stderr %q; want 2 naming %s", code, errOut, db)
	}
	if _, err := os.Stat(filepath.Dir(db)); !os.IsNotExist(err) {
		t.Errorf("verify created %s (stat: %v)", filepath.Dir(db), err)
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
	if code, out, errOut := run(t, "verify", "--session", "s-42", "--config", cfg, f); code != 0 || !strings.HasPrefix(out, "valid\n") {
		t.Errorf("by session: exit %d, out %q, err %q", code, out, errOut)
	}
	tampered := strings.Replace(rec, "1.234", "1.235", 1)
	if err := os.WriteFile(f, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, "verify", "--session", "s-42", "--config", cfg, f); code != 1 || !strings.HasPrefix(out, "invalid: ") {
		t.Errorf("tampered by session: exit %d, out %q", code, out)
	}
	if code, _, errOut := run(t, "verify", "--session", "nope", "--config", cfg, f); code != 2 || !strings.Contains(errOut, "no stored snapshot") {
		t.Errorf("unknown session: exit %d, err %q", code, errOut)
	}
}
