package session

import (
	"embed"
	"path"

	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change of the session tables.
type Migration = sqlmigrate.Migration

// Migrations returns the session migrations of dialect ("postgres",
// "sqlite") in version order; versions start at 1 without gaps.
func Migrations(dialect string) ([]Migration, error) {
	return sqlmigrate.Load(migrationFiles, path.Join("migrations", dialect), "session")
}

// MigrationSet names the session tables' migration set: its bookkeeping
// table and its PostgreSQL advisory lock ("sessions" in ASCII).
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "session", Table: "session_schema_migrations", LockID: 0x73657373696f6e73}
}
