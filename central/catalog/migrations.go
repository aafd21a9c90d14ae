package catalog

import "embed"

// MigrationFiles holds the catalog's own migration set:
// migrations/<dialect>/<version>_<name>.sql (applied by internal/sqldb).
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var MigrationFiles embed.FS
