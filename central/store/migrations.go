package store

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

// Migration is one versioned schema change, a file
// migrations/<dialect>/<version>_<name>.sql applied once, in version order,
// inside one transaction together with its schema_migrations row.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Dialects with migrations.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Migrations returns the migrations of a dialect in version order. Versions
// must be unique and start at 1 without gaps, so a missing file is noticed.
func Migrations(dialect string) ([]Migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations for %q: %w", dialect, err)
	}
	var ms []Migration
	for _, e := range entries {
		name := e.Name()
		stem, ok := strings.CutSuffix(name, ".sql")
		if !ok {
			continue
		}
		num, label, ok := strings.Cut(stem, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s/%s: name must be <version>_<name>.sql", dir, name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("migration %s/%s: %w", dir, name, err)
		}
		ms = append(ms, Migration{Version: v, Name: label, SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migrations %s: version %d where %d was expected", dir, m.Version, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("migrations %s: none", dir)
	}
	return ms, nil
}
