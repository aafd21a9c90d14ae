package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// stateVersion is the version of the state file this build writes.
const stateVersion = 1

// stateFile is the persisted state (see the package doc).
type stateFile struct {
	Version int                    `json:"v"`
	Epoch   string                 `json:"epoch"` // the outbox epoch Head belongs to
	Head    uint64                 `json:"head"`  // the last journal seq this file accounts for
	Points  map[string]*pointState `json:"points"`
}

// pointState is what is kept of one charge point.
type pointState struct {
	Session  *Session `json:"session,omitempty"`
	Pending  *Request `json:"pending,omitempty"`   // a snapshot asked for whose outcome is not known
	LastHash string   `json:"last_hash,omitempty"` // SHA-256 (hex) of the meter's last stored record
	// LastCentral is the last session central authorised here that ended:
	// an authorisation of it again is refused (access.go).
	LastCentral string `json:"last_central,omitempty"`
}

// Session is an open session.
type Session struct {
	ID             string    `json:"id"`
	Point          string    `json:"point"`
	Began          time.Time `json:"began"`
	BeganWhileDown bool      `json:"began_while_down,omitempty"`
	BeginSnap      bool      `json:"begin_snapshot,omitempty"` // the begin snapshot and the session-begin event are stored
	// Auth is central's authorisation of a session at a point with access
	// "central" (its ID is central's session id); nil for free access.
	Auth *Auth `json:"auth,omitempty"`
}

// Request is a snapshot asked of a meter.
type Request struct {
	Session string    `json:"session"`
	Kind    string    `json:"kind"` // "B" or "E"
	At      time.Time `json:"at"`
}

func (s *stateFile) encode() ([]byte, error) {
	s.Version = stateVersion
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return nil, fmt.Errorf("session: encode state: %w", err)
	}
	return append(b, '\n'), nil
}

// loadState reads the state file; a missing file is an empty state.
func loadState(path string) (stateFile, error) {
	st := stateFile{Points: map[string]*pointState{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("session: read state %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, fmt.Errorf("session: state %s: %w (move it aside to start without the open sessions)", path, err)
	}
	if st.Version != stateVersion {
		return st, fmt.Errorf("session: state %s: version %d, this build reads %d", path, st.Version, stateVersion)
	}
	if st.Points == nil {
		st.Points = map[string]*pointState{}
	}
	for id, p := range st.Points {
		if p == nil {
			st.Points[id] = &pointState{}
		}
	}
	return st, nil
}

// writeState replaces the file at path with data atomically and durably.
func writeState(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("session: state directory: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("session: write state: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("session: write state: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("session: write state: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("session: write state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("session: write state: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("session: sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("session: sync state directory: %w", err)
	}
	return nil
}

// atomic64 is a counter.
type atomic64 struct{ v atomic.Uint64 }

func (a *atomic64) add(n uint64) { a.v.Add(n) }
func (a *atomic64) load() uint64 { return a.v.Load() }

// logLimiter lets a repeated log line through at most once per every,
// counting what it held back. Callers serialise.
type logLimiter struct {
	every time.Duration
	now   func() time.Time
	last  time.Time
	n     int
}

func (l *logLimiter) allow() (int, bool) {
	l.n++
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return 0, false
	}
	n := l.n
	l.last, l.n = now, 0
	return n, true
}

// ocmfFields are the parts of an OCMF payload the edge looks at.
type ocmfFields struct {
	ID string `json:"ID"`
	PG string `json:"PG"`
}

// parseOCMF reads the identification and pagination of an OCMF record
// ("OCMF|{payload}|{signature}") without judging anything else; central
// verifies the record.
func parseOCMF(rec string) (ocmfFields, bool) {
	rest, ok := strings.CutPrefix(rec, "OCMF|")
	if !ok {
		return ocmfFields{}, false
	}
	i := strings.LastIndex(rest, "|")
	if i < 0 {
		return ocmfFields{}, false
	}
	var f ocmfFields
	if json.Unmarshal([]byte(rest[:i]), &f) != nil {
		return ocmfFields{}, false
	}
	return f, true
}

// trySave writes the state file; when that fails (a full disk) it is
// written again before the next step.
func (m *Manager) trySave(ctx context.Context) {
	err := m.save(ctx)
	m.mu.Lock()
	m.dirty = err != nil
	m.mu.Unlock()
	if err != nil {
		m.nFailures.add(1)
		m.logFailure(nil, fmt.Errorf("save state %s: %w", m.cfg.StateFile, err))
	}
}

// save writes the state file.
func (m *Manager) save(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.saveMu.Lock()
	defer m.saveMu.Unlock()
	if m.failSave != nil {
		if err := m.failSave(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	m.st.Epoch = m.cfg.Journal.Epoch()
	data, err := m.st.encode()
	m.mu.Unlock()
	if err != nil {
		return err
	}
	return writeState(m.cfg.StateFile, data)
}

func (m *Manager) logFailure(p *point, err error) {
	m.mu.Lock()
	n, ok := m.lim.allow()
	m.mu.Unlock()
	if !ok {
		return
	}
	if p == nil {
		m.log.Error("session: failed; retrying", "err", err, "failures_since_last_log", n)
		return
	}
	m.log.Error("session: step failed; retrying", "point", p.ID, "device", p.Device, "err", err, "failures_since_last_log", n)
}

func hash(s string) string {
	if s == "" {
		return ""
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
