package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerateLoadSign(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	pub, err := Generate(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %04o, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, PrivateFile))
	if !bytes.HasPrefix(raw, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Fatalf("key file is not PKCS#8 PEM:\n%s", raw)
	}
	priv, err := LoadPrivate(filepath.Join(dir, PrivateFile))
	if err != nil {
		t.Fatal(err)
	}
	gotPub, err := LoadPublic(filepath.Join(dir, PublicFile))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(gotPub) || !pub.Equal(priv.Public()) {
		t.Fatal("public key file, returned key and private key disagree")
	}
	msg := []byte(`{"v":1}`)
	if !ed25519.Verify(gotPub, msg, ed25519.Sign(priv, msg)) {
		t.Fatal("signature does not verify")
	}
	pubText, _ := os.ReadFile(filepath.Join(dir, PublicFile))
	if string(pubText) != PublicHex(pub)+"\n" || len(PublicHex(pub)) != 64 {
		t.Fatalf("gateway.pub = %q", pubText)
	}
}

func TestGenerateRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	first, err := Generate(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(dir, false, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second Generate = %v, want ErrExists", err)
	}
	if pk, _ := LoadPublic(filepath.Join(dir, PublicFile)); !pk.Equal(first) {
		t.Fatal("refused Generate still changed the key")
	}
	second, err := Generate(dir, true, nil)
	if err != nil {
		t.Fatalf("Generate with force: %v", err)
	}
	if second.Equal(first) {
		t.Fatal("force did not make a new key")
	}
	if sk, err := LoadPrivate(filepath.Join(dir, PrivateFile)); err != nil || !second.Equal(sk.Public()) {
		t.Fatalf("forced key not in place: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestLoadPrivateRefusesOpenPermissions(t *testing.T) {
	dir := t.TempDir()
	if _, err := Generate(dir, false, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PrivateFile)
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o644, 0o602} {
		os.Chmod(path, mode)
		_, err := LoadPrivate(path)
		if !errors.Is(err, ErrPermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v, want ErrPermissions with a hint", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := LoadPrivate(path); err != nil {
		t.Errorf("mode 0400: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	for name, data := range map[string][]byte{
		"not PEM":           []byte("hello"),
		"wrong PEM type":    pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}),
		"not an Ed25519":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}),
		"garbage PKCS#8":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}),
		"empty":             nil,
		"public as private": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}),
	} {
		if _, err := ParsePrivate(data); err == nil {
			t.Errorf("ParsePrivate(%s) accepted it", name)
		}
	}
	for name, data := range map[string][]byte{
		"short hex":     []byte("abcd"),
		"not hex":       []byte(strings.Repeat("zz", 32)),
		"EC public key": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecPubDER}),
		"wrong type":    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ecPubDER}),
	} {
		if _, err := ParsePublic(data); err == nil {
			t.Errorf("ParsePublic(%s) accepted it", name)
		}
	}
}

func TestParsePublicPEM(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	got, err := ParsePublic(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParsePublic(PEM) = %x, %v", got, err)
	}
	got, err = ParsePublic([]byte("  " + strings.ToUpper(PublicHex(pub)) + "\n"))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParsePublic(hex) = %x, %v", got, err)
	}
}
