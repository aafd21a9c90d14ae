package token

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"
)

// ErrPermissions: the token file may be written by group or others.
var ErrPermissions = errors.New("token file writable by group or others")

// Load reads and parses the token file at path. It refuses a file that
// group or others may write.
func Load(path string) ([]Entry, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	if err := checkMode(path, fi); err != nil {
		return nil, err
	}
	if fi.Size() > MaxFileBytes {
		return nil, fmt.Errorf("token file %s: %w: %d bytes, at most %d", path, ErrInvalid, fi.Size(), MaxFileBytes)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	es, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", path, err)
	}
	return es, nil
}

func checkMode(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("token file %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("token file %s: %w (mode %04o; chmod go-w)", path, ErrPermissions, fi.Mode().Perm())
	}
	return nil
}

// recheckEvery is how often File looks whether the file changed.
const recheckEvery = time.Second

// File is a token file that is read again when it changes (size or
// modification time), at most once per second: a token added with
// `parkgrid token`, or removed by deleting its line, takes effect without a
// restart. When the file becomes unreadable or invalid, every token is
// refused until it is fixed (fail closed: a revoked token must not live on
// because its line was removed clumsily).
type File struct {
	path string
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex // protects the fields below
	checked time.Time
	modTime time.Time
	size    int64
	entries []Entry
	err     error
}

// Open reads the token file at path; it fails if the file cannot be read
// or parsed now. now (nil: time.Now) paces the re-reads; log (nil:
// discard) hears about changes and errors.
func Open(path string, now func() time.Time, log *slog.Logger) (*File, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &File{path: path, now: now, log: log}
	f.refresh(now())
	if f.err != nil {
		return nil, f.err
	}
	return f, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Authenticate returns the entry of the presented token.
func (f *File) Authenticate(presented string) (Entry, bool) {
	now := f.now()
	f.mu.Lock()
	if now.Sub(f.checked) >= recheckEvery || now.Before(f.checked) {
		f.mu.Unlock()
		f.refresh(now)
		f.mu.Lock()
	}
	entries, err := f.entries, f.err
	f.mu.Unlock()
	if err != nil {
		return Entry{}, false
	}
	return Lookup(entries, presented)
}

// refresh re-reads the file if it changed since the last read.
func (f *File) refresh(now time.Time) {
	fi, statErr := os.Stat(f.path)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked = now
	if statErr == nil && f.err == nil && f.entries != nil && fi.ModTime().Equal(f.modTime) && fi.Size() == f.size {
		return
	}
	es, err := Load(f.path)
	if err != nil {
		if f.err == nil {
			f.log.Error("token file unusable: every REST token is refused until it is fixed", "path", f.path, "err", err)
		}
		f.err = err
		return
	}
	if f.entries != nil || f.err != nil {
		f.log.Info("token file reloaded", "path", f.path, "tokens", len(es))
	}
	if es == nil {
		es = []Entry{}
	}
	f.entries, f.err = es, nil
	if statErr == nil {
		f.modTime, f.size = fi.ModTime(), fi.Size()
	}
}

// Append adds an entry to the token file at path, creating the file (mode
// 0600) if needed. It refuses a name already in the file and a file that
// does not parse, so a typo is not buried under new lines.
func Append(path string, e Entry) error {
	if err := CheckName(e.Name); err != nil {
		return err
	}
	if len(e.Scopes) == 0 {
		return errors.New("token: no scopes")
	}
	existing, err := Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	}
	for _, x := range existing {
		if x.Name == e.Name {
			return fmt.Errorf("token file %s: name %q exists; remove its line first to replace it", path, e.Name)
		}
	}
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	line := e.Line() + "\n"
	if fi, err := fd.Stat(); err == nil && fi.Size() == 0 {
		line = "# parkgrid EMS REST tokens: name scopes sha256-of-token (parkgrid token)\n" + line
	} else if b, err := os.ReadFile(path); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		line = "\n" + line
	}
	if _, err := fd.WriteString(line); err != nil {
		fd.Close()
		return fmt.Errorf("token file %s: %w", path, err)
	}
	if err := fd.Sync(); err != nil {
		fd.Close()
		return fmt.Errorf("token file %s: %w", path, err)
	}
	if err := fd.Close(); err != nil {
		return fmt.Errorf("token file %s: %w", path, err)
	}
	return nil
}
