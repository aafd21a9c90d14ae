// Package sqldb is what stores written once for both databases share: a
// database/sql handle on PostgreSQL (pgx's stdlib driver, "pgx") or SQLite
// (modernc.org/sqlite, "sqlite"), queries written with ? placeholders and
// bound per dialect, and a package's own migration set applied with
// internal/sqlmigrate.
package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// Bind rewrites ? placeholders to $1, $2, … for PostgreSQL. Queries must
// not contain ? in literals.
func Bind(dialect, q string) string {
	if dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Migrate applies the pending migrations of set found in fsys under
// migrations/<dialect>, in one transaction, with applied time now.
func Migrate(ctx context.Context, db *sql.DB, dialect string, set sqlmigrate.Set, fsys fs.FS, now time.Time) error {
	apply := sqlmigrate.SQLite
	switch dialect {
	case SQLite:
	case Postgres:
		apply = sqlmigrate.PostgresSQL
	default:
		return fmt.Errorf("%s migrate: unknown dialect %q", set.What, dialect)
	}
	ms, err := sqlmigrate.Load(fsys, path.Join("migrations", dialect), set.What)
	if err != nil {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s migrate: begin: %w", set.What, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if err := apply(ctx, tx, set, ms, now, nil); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s migrate: commit: %w", set.What, err)
	}
	return nil
}
