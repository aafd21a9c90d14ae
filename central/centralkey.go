package central

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// loadCentralKey reads central's own Ed25519 private key, which signs acks
// and commands: a PKCS#8 PEM file as `parkgrid keygen` writes it, readable
// by its owner only. (central may not import edge/sign, so this is its own
// reader of the same format.)
func loadCentralKey(path string) (ed25519.PrivateKey, error) {
	hint := fmt.Sprintf("(create it with `parkgrid keygen --out %s`, then enrol its public key on every edge as uplink.central_key)", dirOf(path))
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("central key %s %s: %w", path, hint, err)
	}
	if mode := st.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("central key %s has mode %04o; only its owner may access it (chmod 600 %s)", path, mode, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("central key %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("central key %s: no PEM \"PRIVATE KEY\" block %s", path, hint)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("central key %s: %w", path, err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("central key " + path + ": not an Ed25519 key")
	}
	return sk, nil
}

func dirOf(path string) string {
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			return path[:i]
		}
	}
	return "."
}
