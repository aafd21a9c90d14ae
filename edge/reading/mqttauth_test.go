package reading

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

func TestMQTTPassword(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	other, _, _ := ed25519.GenerateKey(nil)
	pw := MQTTPassword(key, "gw-1")
	if pw != MQTTPassword(key, "gw-1") {
		t.Fatal("password differs between calls")
	}
	if !VerifyMQTTPassword(pub, "gw-1", pw) {
		t.Error("own password refused")
	}
	for name, ok := range map[string]bool{
		"other gateway": VerifyMQTTPassword(pub, "gw-2", pw),
		"other key":     VerifyMQTTPassword(other, "gw-1", pw),
		"truncated":     VerifyMQTTPassword(pub, "gw-1", pw[:126]),
		"not hex":       VerifyMQTTPassword(pub, "gw-1", strings.Repeat("z", 128)),
		"empty":         VerifyMQTTPassword(pub, "gw-1", ""),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestMQTTPasswordWithOpenSSL: the documented openssl command gives the
// same password, so an operator can fill a broker's password file without
// parkgrid.
func TestMQTTPasswordWithOpenSSL(t *testing.T) {
	openssl := svctest.Command(t, "openssl", "apt-get install openssl")
	_, key, _ := ed25519.GenerateKey(nil)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gateway.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(msg, []byte("parkgrid-mqtt-password/v1\ngw-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkeyutl", "-sign", "-inkey", path, "-rawin", "-in", msg).Output()
	if err != nil {
		t.Fatalf("openssl: %v", err)
	}
	if got := hex.EncodeToString(out); got != MQTTPassword(key, "gw-1") {
		t.Errorf("openssl gives %s, MQTTPassword %s", got, MQTTPassword(key, "gw-1"))
	}
}
