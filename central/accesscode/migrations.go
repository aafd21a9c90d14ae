package accesscode

import "embed"

// MigrationFiles holds the access codes' own migration set:
// migrations/<dialect>/<version>_<name>.sql (applied by internal/sqldb).
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var MigrationFiles embed.FS
