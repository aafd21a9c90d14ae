package mail

import (
	"embed"
	"path"

	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change of the outbox.
type Migration = sqlmigrate.Migration

// Migrations returns the mail migrations of dialect ("postgres",
// "sqlite") in version order; versions start at 1 without gaps.
func Migrations(dialect string) ([]Migration, error) {
	return sqlmigrate.Load(migrationFiles, path.Join("migrations", dialect), "mail")
}

// MigrationSet names the outbox's migration set: its bookkeeping table and
// its PostgreSQL advisory lock ("mailbox" in ASCII).
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "mail", Table: "mail_schema_migrations", LockID: 0x6d61696c626f78}
}
