package safety

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// maxResets is how many reset records the state file keeps.
const maxResets = 100

// stateFile is the JSON kept at Config.StateFile (see the package doc).
type stateFile struct {
	Latched   bool          `json:"latched"`
	Cause     Cause         `json:"cause,omitempty"`
	TrippedAt time.Time     `json:"tripped_at,omitzero"`
	Resets    []ResetRecord `json:"resets,omitempty"`
}

// readStateFile reads the state file; a missing file is an unlatched state
// (a new site). Any other failure, a corrupt file included, is an error: the
// caller starts latched (New).
func readStateFile(path string) (stateFile, error) {
	var f stateFile
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("read state file: %w", err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("state file %s: %w", path, err)
	}
	return f, nil
}

// writeStateFile replaces the state file atomically: temp file, fsync,
// rename, fsync of the directory.
func writeStateFile(path string, f stateFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state file: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".safety-*.json")
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace state file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
