package command

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const doneVersion = 1

// States of a done entry.
const (
	stateStarted = "started" // noted before execution; no outcome stored
	stateDone    = "done"
)

// doneFile is the set of command ids carried out (see the package doc).
type doneFile struct {
	Version int                   `json:"v"`
	Done    map[string]*doneEntry `json:"done"`
}

type doneEntry struct {
	Expires time.Time         `json:"expires"`
	Kind    string            `json:"kind"`
	State   string            `json:"state"`
	OK      bool              `json:"ok,omitempty"`
	Error   string            `json:"error,omitempty"`
	Result  map[string]string `json:"result,omitempty"`
}

// loadDone reads the done file; a missing file is empty.
func loadDone(path string) (doneFile, error) {
	d := doneFile{Version: doneVersion, Done: map[string]*doneEntry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, fmt.Errorf("command done file %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, fmt.Errorf("command done file %s: %w (moving it aside lets commands not yet expired run again)", path, err)
	}
	if d.Version != doneVersion {
		return d, fmt.Errorf("command done file %s: version %d, this build reads %d", path, d.Version, doneVersion)
	}
	if d.Done == nil {
		d.Done = map[string]*doneEntry{}
	}
	for id, e := range d.Done {
		if e == nil {
			delete(d.Done, id)
		}
	}
	return d, nil
}

// prune forgets commands expired at now: OpenCommand refuses them anyway.
func (d *doneFile) prune(now time.Time) {
	for id, e := range d.Done {
		if !now.Before(e.Expires) {
			delete(d.Done, id)
		}
	}
}

// save writes the file atomically and durably.
func (d *doneFile) save(path string) error {
	d.Version = doneVersion
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode done file: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("done file directory: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write done file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write done file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write done file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write done file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write done file: %w", err)
	}
	dh, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync done file directory: %w", err)
	}
	defer dh.Close()
	if err := dh.Sync(); err != nil {
		return fmt.Errorf("sync done file directory: %w", err)
	}
	return nil
}
