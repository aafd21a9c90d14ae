package store

import (
	"embed"
	"path"

	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change, a file
// migrations/<dialect>/<version>_<name>.sql applied once, in version order,
// inside one transaction together with its schema_migrations row.
type Migration = sqlmigrate.Migration

// Dialects with migrations.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Migrations returns the migrations of a dialect in version order. Versions
// must be unique and start at 1 without gaps, so a missing file is noticed.
func Migrations(dialect string) ([]Migration, error) {
	return sqlmigrate.Load(migrationFiles, path.Join("migrations", dialect), "store")
}

// MigrationSet names the ingest store's migration set: its bookkeeping
// table and its PostgreSQL advisory lock ("parkgrid" in ASCII).
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "store", Table: "schema_migrations", LockID: 0x7061726b67726964}
}
