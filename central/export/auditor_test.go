package export_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/export"
	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

const epoch = "0123456789abcdef0123456789abcdef"

// fixture stores two batches of gw-1: the first signed with its first key
// and carrying a session's begin snapshot, the second, after a key
// rotation, signed with the new key and carrying the end snapshot.
func fixture(t *testing.T) *sqlite.Store {
	t.Helper()
	now := t0
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	meter, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&meter.PublicKey)
	if err := st.SetMeterKey(t.Context(), store.MeterKey{Site: "site-a", Device: "meter-1", PublicKey: hex.EncodeToString(der)}); err != nil {
		t.Fatal(err)
	}
	key1, key2 := newKey(t), newKey(t)
	enrol := func(k ed25519.PrivateKey) {
		if err := st.EnrollGateway(t.Context(), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: k.Public().(ed25519.PublicKey)}); err != nil {
			t.Fatal(err)
		}
	}
	save := func(epoch string, seq uint64, sent time.Time, k ed25519.PrivateKey, tx string, page int, kwh string) {
		payload := fmt.Sprintf(`{"FV":"1.0","PG":"T%d","ID":"s-1","RD":[{"TM":"%s S","TX":%q,"RV":%s,"RU":"kWh","ST":"G"}]}`,
			page, sent.Format("2006-01-02T15:04:05,000-0700"), tx, kwh)
		rec, err := ocmf.SignP256([]byte(payload), meter)
		if err != nil {
			t.Fatal(err)
		}
		b := reading.Batch{Version: reading.CurrentVersion, Site: "site-a", Gateway: "gw-1", Epoch: epoch, Seq: seq, Sent: sent, Readings: []reading.Reading{
			{Time: sent, Device: "meter-1", Point: "cp-1", Quantity: reading.QPowerW, Value: 7200},
			{Time: sent, Device: "meter-1", Point: "cp-1", Quantity: reading.QSnapshot, OCMF: rec, Session: "s-1"},
		}}
		msg, err := reading.Seal(b, k)
		if err != nil {
			t.Fatal(err)
		}
		var env reading.Envelope
		if err := json.Unmarshal(msg, &env); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SaveBatches(t.Context(), []store.Item{{Gateway: "gw-1", Seq: seq, Batch: b, Body: env.Body, Sig: env.Sig, OCMFVerified: true}}); err != nil {
			t.Fatal(err)
		}
	}
	enrol(key1)
	save("", 1, t0.Add(10*time.Minute), key1, "B", 1, "100.000")
	now = t0.Add(time.Hour)
	enrol(key2)
	save("", 2, t0.Add(2*time.Hour), key2, "E", 2, "112.500")
	// A new outbox (epoch) starts at seq 1 again.
	save(epoch, 1, t0.Add(3*time.Hour), key2, "B", 3, "113.000")
	return st
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func runVerify(t *testing.T, dir string) (string, error) {
	t.Helper()
	svctest.Command(t, "openssl", "apt-get install openssl")
	sh := svctest.Command(t, "sh", "a POSIX shell")
	out, err := exec.Command(sh, filepath.Join(dir, "verify.sh")).CombinedOutput()
	return string(out), err
}

// TestAuditorExportVerifiesWithOpenSSL: the export of a gateway with a key
// rotation re-verifies with openssl alone (verify.sh), and a changed byte
// is caught.
func TestAuditorExportVerifiesWithOpenSSL(t *testing.T) {
	st := fixture(t)
	dir := filepath.Join(t.TempDir(), "export")
	sum, err := export.Auditor(t.Context(), st, export.AuditorOptions{Gateway: "gw-1", Dir: dir, Now: func() time.Time { return t0.Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Batches != 3 || sum.Snapshots != 3 || len(sum.Findings) != 0 {
		t.Fatalf("summary %+v", sum)
	}
	out, err := runVerify(t, dir)
	if err != nil || !strings.Contains(out, "ALL CHECKS PASSED") || strings.Contains(out, "FAIL") {
		t.Fatalf("verify.sh: %v\n%s", err, out)
	}
	for _, want := range []string{
		"OK   batches/000000000001.body signed by gateway/key-1.pem",
		"OK   batches/000000000002.body signed by gateway/key-2.pem",
		"OK   snapshots/000000000001-1.payload signed by meters/meter-1-1.pem",
		"OK   snapshots/000000000002-1.ocmf is inside batches/000000000002.body",
		"OK   batches/" + epoch + "-000000000001.body signed by gateway/key-2.pem",
		"OK   snapshots/" + epoch + "-000000000001-1.ocmf is inside batches/" + epoch + "-000000000001.body",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify.sh output lacks %q:\n%s", want, out)
		}
	}
	keys, err := os.ReadFile(filepath.Join(dir, "gateway", "keys.csv"))
	if err != nil || strings.Count(string(keys), "\n") != 3 || !strings.Contains(string(keys), t0.Add(time.Hour).Format(time.RFC3339)) {
		t.Errorf("gateway/keys.csv: %v\n%s", err, keys)
	}

	// The README's commands, run as written, verify too.
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if !strings.Contains(string(readme), "openssl pkeyutl -verify -pubin -inkey gateway/key-1.pem -rawin") {
		t.Errorf("README lacks the batch command")
	}
	cmd := exec.Command("openssl", "dgst", "-sha256", "-verify", "meters/meter-1-1.pem", "-signature",
		"snapshots/000000000001-1.sig.der", "snapshots/000000000001-1.payload")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Errorf("README's snapshot command: %v %s", err, out)
	}

	// One changed byte in a body: caught (signature and checksum).
	body := filepath.Join(dir, "batches", "000000000002.body")
	b, _ := os.ReadFile(body)
	b[len(b)/2] ^= 1
	if err := os.WriteFile(body, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runVerify(t, dir)
	if err == nil || !strings.Contains(out, "FAIL batches/000000000002.body signed by gateway/key-2.pem") || !strings.Contains(out, "FAIL sha256 batches/000000000002.body") {
		t.Errorf("tampered export: %v\n%s", err, out)
	}
}

func TestAuditorExportRange(t *testing.T) {
	st := fixture(t)
	dir := filepath.Join(t.TempDir(), "export")
	sum, err := export.Auditor(t.Context(), st, export.AuditorOptions{Gateway: "gw-1", Dir: dir, From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Batches != 1 || sum.Snapshots != 1 {
		t.Errorf("summary %+v: want the first batch only", sum)
	}
	if _, err := export.Auditor(t.Context(), st, export.AuditorOptions{Gateway: "gw-1", Dir: dir}); err == nil {
		t.Error("export into a non-empty directory succeeded")
	}
	if _, err := export.Auditor(t.Context(), st, export.AuditorOptions{Gateway: "gw-9", Dir: filepath.Join(t.TempDir(), "x")}); err == nil {
		t.Error("export of an unknown gateway succeeded")
	}
}
