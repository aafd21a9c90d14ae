package outbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// epochFile holds the outbox's epoch: epochMagic, a space, 32 lower-case
// hex digits and a newline. It is written once, when the outbox is created
// (to a temporary name, fsynced, renamed, the directory fsynced), and only
// read afterwards.
const (
	epochFile  = "EPOCH"
	epochMagic = "parkgrid-outbox-epoch"
	epochHex   = 32
)

// randomEpoch makes a new epoch: 16 random bytes in hex.
func randomEpoch() (string, error) {
	var b [epochHex / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("outbox epoch: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// loadEpoch reads dir's epoch. A directory without an epoch file gets a new
// epoch when it holds no outbox yet (existing false), and is the legacy
// epoch "" otherwise (an outbox from before epochs).
func loadEpoch(dir string, existing bool, newEpoch func() (string, error)) (epoch string, created bool, err error) {
	path := filepath.Join(dir, epochFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		e, ok := parseEpoch(b)
		if !ok {
			return "", false, &CorruptError{File: path, Why: fmt.Sprintf("not an epoch file (%d bytes); the outbox's records name their epoch, restore the file or move the directory aside (a new outbox is a new epoch)", len(b))}
		}
		return e, false, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", false, fmt.Errorf("outbox read %s: %w", path, err)
	case existing:
		return "", false, nil
	}
	e, err := newEpoch()
	if err != nil {
		return "", false, err
	}
	tmp := path + ".tmp"
	if err := writeSynced(tmp, []byte(epochMagic+" "+e+"\n")); err != nil {
		return "", false, fmt.Errorf("outbox write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("outbox create %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return "", false, fmt.Errorf("outbox sync %s: %w", dir, err)
	}
	return e, true, nil
}

func parseEpoch(b []byte) (string, bool) {
	s, ok := strings.CutPrefix(string(b), epochMagic+" ")
	if !ok {
		return "", false
	}
	s, ok = strings.CutSuffix(s, "\n")
	if !ok || len(s) != epochHex {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", false
		}
	}
	return s, true
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
