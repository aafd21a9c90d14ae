// Package sign manages the edge gateway's Ed25519 key: it generates the key
// pair, stores it on disk and loads it for signing reading batches.
//
// On disk, in the key directory:
//
//	gateway.key  the private key, PKCS#8 PEM ("PRIVATE KEY"), mode 0600
//	gateway.pub  the public key as 64 hex digits and a newline: what central
//	             enrols for the gateway
//
// LoadPrivate refuses a key file that group or others may read or write.
package sign

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names in the key directory.
const (
	PrivateFile = "gateway.key"
	PublicFile  = "gateway.pub"
)

// Errors callers branch on with errors.Is.
var (
	// ErrExists: Generate would overwrite a key and force was not set.
	ErrExists = errors.New("gateway key exists")
	// ErrPermissions: a private key file is accessible to group or others.
	ErrPermissions = errors.New("gateway key file permissions too open")
)

// Generate creates a key pair in dir (created 0700 if missing), writing
// PrivateFile and PublicFile, and returns the public key. Without force it
// fails with ErrExists if either file exists. Each file is written to a
// temporary name, fsynced, then linked (or, with force, renamed) into
// place, so a crash never leaves half a key. rnd is the entropy source (nil:
// crypto/rand).
func Generate(dir string, force bool, rnd io.Reader) (ed25519.PublicKey, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("key directory: %w", err)
	}
	priv, pub := filepath.Join(dir, PrivateFile), filepath.Join(dir, PublicFile)
	if !force {
		for _, p := range []string{priv, pub} {
			if _, err := os.Lstat(p); err == nil {
				return nil, fmt.Errorf("%w: %s (use --force to replace it)", ErrExists, p)
			}
		}
	}
	pk, sk, err := ed25519.GenerateKey(rnd)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := writeFile(priv, keyPEM, 0o600, force); err != nil {
		return nil, err
	}
	if err := writeFile(pub, []byte(PublicHex(pk)+"\n"), 0o644, force); err != nil {
		return nil, err
	}
	return pk, nil
}

// writeFile puts data at path atomically with mode perm.
func writeFile(path string, data []byte, perm fs.FileMode, replace bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path) // fails if path appeared meanwhile
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: %s", ErrExists, path)
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// LoadPrivate reads a PKCS#8 PEM Ed25519 private key. It refuses a file
// with any group or other permission bit (ErrPermissions) before reading it.
func LoadPrivate(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("gateway key: %w", err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; only its owner may access it (chmod 600 %s)", ErrPermissions, path, mode, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway key: %w", err)
	}
	return ParsePrivate(data)
}

// ParsePrivate decodes a PKCS#8 PEM Ed25519 private key.
func ParsePrivate(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("gateway key: no PEM \"PRIVATE KEY\" block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("gateway key: %w", err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("gateway key: %T, want an Ed25519 key", k)
	}
	return sk, nil
}

// LoadPublic reads a public key file: 64 hex digits, or a PEM "PUBLIC KEY"
// (SubjectPublicKeyInfo) block.
func LoadPublic(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gateway public key: %w", err)
	}
	pk, err := ParsePublic(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pk, nil
}

// ParsePublic decodes a public key given as hex (surrounding space ignored)
// or as a PEM SubjectPublicKeyInfo block.
func ParsePublic(data []byte) (ed25519.PublicKey, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("gateway public key: PEM block %q, want \"PUBLIC KEY\"", block.Type)
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("gateway public key: %w", err)
		}
		pk, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("gateway public key: %T, want an Ed25519 key", k)
		}
		return pk, nil
	}
	s := strings.TrimSpace(string(data))
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gateway public key: not hex: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("gateway public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// PublicHex is the enrolment form of a public key: lower-case hex.
func PublicHex(pk ed25519.PublicKey) string { return hex.EncodeToString(pk) }
