package session

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change of the session tables.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the session migrations of dialect ("postgres",
// "sqlite") in version order; versions start at 1 without gaps.
func Migrations(dialect string) ([]Migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("session migrations for %q: %w", dialect, err)
	}
	var ms []Migration
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), ".sql")
		if !ok {
			continue
		}
		num, label, ok := strings.Cut(stem, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("session migration %s/%s: name must be <version>_<name>.sql", dir, e.Name())
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("session migration %s/%s: %w", dir, e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: label, SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("session migrations %s: version %d where %d was expected", dir, m.Version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("session migrations %s: none", dir)
	}
	return ms, nil
}
