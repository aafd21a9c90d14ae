// Package sqlstore is the catalog.Store on PostgreSQL (through pgx's
// database/sql driver) and SQLite (modernc.org/sqlite): one implementation,
// the dialects differing only in placeholders. Every operator-facing
// query filters by operator.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// MigrationSet is the catalog tables' migration set.
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "catalog", Table: "catalog_schema_migrations", LockID: 0x636174616c6f67}
}

// Migrate applies the pending migrations of the catalog tables.
func Migrate(ctx context.Context, db *sql.DB, dialect string, now time.Time) error {
	return sqldb.Migrate(ctx, db, dialect, MigrationSet(), catalog.MigrationFiles, now)
}

// Store is the catalog on one database handle. Run Migrate first.
type Store struct {
	db      *sql.DB
	dialect string
}

var _ catalog.Store = (*Store)(nil)

// New returns a store on db of dialect (sqldb.Postgres, sqldb.SQLite).
func New(db *sql.DB, dialect string) *Store { return &Store{db: db, dialect: dialect} }

func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return s.db.ExecContext(ctx, sqldb.Bind(s.dialect, q), args...)
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, sqldb.Bind(s.dialect, q), args...)
}

// list runs q and decodes the single JSON column of each row.
func list[T any](ctx context.Context, s *Store, what, q string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, sqldb.Bind(s.dialect, q), args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("catalog: %s: %w", what, err)
		}
		var v T
		if err := json.Unmarshal([]byte(data), &v); err != nil {
			return nil, fmt.Errorf("catalog: %s: decode: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("catalog: %s: %w", what, err)
	}
	return out, nil
}

// one runs q and decodes its one JSON column into v.
func one(row *sql.Row, what string, v any) error {
	var data string
	err := row.Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, catalog.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("catalog: %s: %w", what, err)
	}
	if err := json.Unmarshal([]byte(data), v); err != nil {
		return fmt.Errorf("catalog: %s: decode: %w", what, err)
	}
	return nil
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// PutOperator implements catalog.Store (insert or update).
func (s *Store) PutOperator(ctx context.Context, o catalog.Operator) error {
	if err := o.Validate(); err != nil {
		return err
	}
	data, err := encode(o)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `INSERT INTO catalog_operators (id, data) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data`, o.ID, data); err != nil {
		return fmt.Errorf("catalog: put operator %s: %w", o.ID, err)
	}
	return nil
}

// Operator implements catalog.Store.
func (s *Store) Operator(ctx context.Context, id string) (catalog.Operator, error) {
	var o catalog.Operator
	err := one(s.queryRow(ctx, `SELECT data FROM catalog_operators WHERE id = ?`, id), "operator "+id, &o)
	return o, err
}

// PutSite implements catalog.Store. A site stays with its operator.
func (s *Store) PutSite(ctx context.Context, site catalog.Site) error {
	if err := site.Validate(); err != nil {
		return err
	}
	data, err := encode(site)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `INSERT INTO catalog_sites (id, operator, data) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET data = excluded.data WHERE catalog_sites.operator = excluded.operator`,
		site.ID, site.Operator, data)
	if err != nil {
		return fmt.Errorf("catalog: put site %s: %w", site.ID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("catalog: put site %s: %w: it belongs to another operator", site.ID, catalog.ErrExists)
	}
	return nil
}

// Site implements catalog.Store.
func (s *Store) Site(ctx context.Context, operator, id string) (catalog.Site, error) {
	var site catalog.Site
	err := one(s.queryRow(ctx, `SELECT data FROM catalog_sites WHERE operator = ? AND id = ?`, operator, id), "site "+id, &site)
	return site, err
}

// Sites implements catalog.Store.
func (s *Store) Sites(ctx context.Context, operator string) ([]catalog.Site, error) {
	return list[catalog.Site](ctx, s, "sites", `SELECT data FROM catalog_sites WHERE operator = ? ORDER BY id`, operator)
}

// PutPoint implements catalog.Store. The point's site must be the
// operator's.
func (s *Store) PutPoint(ctx context.Context, p catalog.Point) error {
	if err := p.Validate(); err != nil {
		return err
	}
	if _, err := s.Site(ctx, p.Operator, p.Site); err != nil {
		return fmt.Errorf("catalog: put point %s/%s: %w", p.Site, p.ID, err)
	}
	data, err := encode(p)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `INSERT INTO catalog_points (site, id, operator, data) VALUES (?, ?, ?, ?)
		ON CONFLICT (site, id) DO UPDATE SET data = excluded.data, operator = excluded.operator`, p.Site, p.ID, p.Operator, data); err != nil {
		return fmt.Errorf("catalog: put point %s/%s: %w", p.Site, p.ID, err)
	}
	return nil
}

// Point implements catalog.Store.
func (s *Store) Point(ctx context.Context, site, id string) (catalog.Point, error) {
	var p catalog.Point
	err := one(s.queryRow(ctx, `SELECT data FROM catalog_points WHERE site = ? AND id = ?`, site, id), "point "+site+"/"+id, &p)
	return p, err
}

// Points implements catalog.Store.
func (s *Store) Points(ctx context.Context, operator string) ([]catalog.Point, error) {
	return list[catalog.Point](ctx, s, "points", `SELECT data FROM catalog_points WHERE operator = ? ORDER BY site, id`, operator)
}

// PutTariff implements catalog.Store.
func (s *Store) PutTariff(ctx context.Context, t catalog.Tariff, now time.Time) (catalog.Tariff, error) {
	t.Retired = false
	if err := t.Validate(); err != nil {
		return catalog.Tariff{}, err
	}
	return s.putVersion(ctx, t, now)
}

// RetireTariff implements catalog.Store.
func (s *Store) RetireTariff(ctx context.Context, operator, id string, now time.Time) error {
	cur, err := s.Tariff(ctx, operator, id)
	if err != nil {
		return err
	}
	cur.Retired = true
	_, err = s.putVersion(ctx, cur, now)
	return err
}

// putVersion stores t as the next version; a concurrent writer of the same
// tariff makes the primary key refuse one of them, which retries.
func (s *Store) putVersion(ctx context.Context, t catalog.Tariff, now time.Time) (catalog.Tariff, error) {
	for attempt := 0; attempt < 5; attempt++ {
		var (
			version int64
			data    sql.NullString
		)
		err := s.queryRow(ctx, `SELECT version, data FROM catalog_tariffs WHERE operator = ? AND id = ?
			ORDER BY version DESC LIMIT 1`, t.Operator, t.Tariff.ID).Scan(&version, &data)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return catalog.Tariff{}, fmt.Errorf("catalog: tariff %s: %w", t.Tariff.ID, err)
		}
		if data.Valid {
			var cur catalog.Tariff
			if err := json.Unmarshal([]byte(data.String), &cur); err != nil {
				return catalog.Tariff{}, fmt.Errorf("catalog: tariff %s: decode: %w", t.Tariff.ID, err)
			}
			if cur.Tariff == t.Tariff && cur.Retired == t.Retired {
				return cur, nil
			}
		}
		t.Version, t.CreatedAt = version+1, now.UTC()
		enc, err := encode(t)
		if err != nil {
			return catalog.Tariff{}, err
		}
		retired := 0
		if t.Retired {
			retired = 1
		}
		_, err = s.exec(ctx, `INSERT INTO catalog_tariffs (operator, id, version, retired, created_at, data)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, t.Operator, t.Tariff.ID, t.Version, retired, now.UnixMicro(), enc)
		if err != nil {
			return catalog.Tariff{}, fmt.Errorf("catalog: put tariff %s: %w", t.Tariff.ID, err)
		}
		var stored string
		if err := s.queryRow(ctx, `SELECT data FROM catalog_tariffs WHERE operator = ? AND id = ? AND version = ?`,
			t.Operator, t.Tariff.ID, t.Version).Scan(&stored); err != nil {
			return catalog.Tariff{}, fmt.Errorf("catalog: put tariff %s: %w", t.Tariff.ID, err)
		}
		if stored == enc {
			return t, nil
		}
	}
	return catalog.Tariff{}, fmt.Errorf("catalog: put tariff %s: changed concurrently five times", t.Tariff.ID)
}

const currentTariffs = `SELECT t.data FROM catalog_tariffs t
	WHERE t.operator = ? AND t.retired = 0 AND t.version = (
		SELECT max(v.version) FROM catalog_tariffs v WHERE v.operator = t.operator AND v.id = t.id)`

// Tariff implements catalog.Store.
func (s *Store) Tariff(ctx context.Context, operator, id string) (catalog.Tariff, error) {
	var t catalog.Tariff
	err := one(s.queryRow(ctx, currentTariffs+` AND t.id = ?`, operator, id), "tariff "+id, &t)
	return t, err
}

// Tariffs implements catalog.Store.
func (s *Store) Tariffs(ctx context.Context, operator string) ([]catalog.Tariff, error) {
	return list[catalog.Tariff](ctx, s, "tariffs", currentTariffs+` ORDER BY t.id`, operator)
}

// AddToken implements catalog.Store.
func (s *Store) AddToken(ctx context.Context, t catalog.Token) error {
	if t.ID == "" || t.Operator == "" || len(t.Hash) != 64 {
		return fmt.Errorf("catalog: add token %q: %w: id, operator and a SHA-256 hash required", t.Name, catalog.ErrInvalid)
	}
	_, err := s.exec(ctx, `INSERT INTO catalog_tokens (id, operator, name, hash, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, hash = excluded.hash
		WHERE catalog_tokens.operator = excluded.operator`, t.ID, t.Operator, t.Name, t.Hash, t.CreatedAt.UnixMicro())
	if err != nil {
		return fmt.Errorf("catalog: add token %s: %w", t.ID, err)
	}
	return nil
}

// KeepTokens implements catalog.Store.
func (s *Store) KeepTokens(ctx context.Context, ids []string) (int64, error) {
	q, args := `DELETE FROM catalog_tokens`, []any{}
	if len(ids) > 0 {
		q += ` WHERE id NOT IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
		for _, id := range ids {
			args = append(args, id)
		}
	}
	res, err := s.exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("catalog: keep tokens: %w", err)
	}
	return res.RowsAffected()
}

// TokenByHash implements catalog.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (catalog.Token, error) {
	var (
		t  catalog.Token
		at int64
	)
	err := s.queryRow(ctx, `SELECT id, operator, name, hash, created_at FROM catalog_tokens WHERE hash = ?`, hash).
		Scan(&t.ID, &t.Operator, &t.Name, &t.Hash, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Token{}, fmt.Errorf("token: %w", catalog.ErrNotFound)
	}
	if err != nil {
		return catalog.Token{}, fmt.Errorf("catalog: token: %w", err)
	}
	t.CreatedAt = time.UnixMicro(at).UTC()
	return t, nil
}

// startJSON keeps the token hash, which catalog.Start hides from JSON.
type startJSON struct {
	catalog.Start
	TokenHash string `json:"tokenHash"`
}

func decodeStart(data string) (catalog.Start, error) {
	var sj startJSON
	if err := json.Unmarshal([]byte(data), &sj); err != nil {
		return catalog.Start{}, fmt.Errorf("catalog: start: decode: %w", err)
	}
	sj.Start.TokenHash = sj.TokenHash
	return sj.Start, nil
}

func (s *Store) startWhere(ctx context.Context, what, where string, args ...any) (catalog.Start, error) {
	var data, hold string
	err := s.queryRow(ctx, `SELECT data, hold_id FROM catalog_starts WHERE `+where, args...).Scan(&data, &hold)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Start{}, fmt.Errorf("%s: %w", what, catalog.ErrNotFound)
	}
	if err != nil {
		return catalog.Start{}, fmt.Errorf("catalog: %s: %w", what, err)
	}
	st, err := decodeStart(data)
	st.HoldID = hold
	return st, err
}

// PutStart implements catalog.Store.
func (s *Store) PutStart(ctx context.Context, st catalog.Start) (catalog.Start, bool, error) {
	if st.Session == "" || st.ClientID == "" || st.Operator == "" || len(st.TokenHash) != 64 {
		return catalog.Start{}, false, fmt.Errorf("catalog: start %q: %w: session, client id, operator and token hash required", st.ClientID, catalog.ErrInvalid)
	}
	enc, err := encode(startJSON{Start: st, TokenHash: st.TokenHash})
	if err != nil {
		return catalog.Start{}, false, err
	}
	res, err := s.exec(ctx, `INSERT INTO catalog_starts (session, site, point, client_id, operator, hold_id, created_at, data)
		VALUES (?, ?, ?, ?, ?, '', ?, ?) ON CONFLICT DO NOTHING`,
		st.Session, st.Site, st.Point, st.ClientID, st.Operator, st.CreatedAt.UnixMicro(), enc)
	if err != nil {
		return catalog.Start{}, false, fmt.Errorf("catalog: put start %s: %w", st.ClientID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return st, true, nil
	}
	got, err := s.startWhere(ctx, "start "+st.ClientID, `site = ? AND point = ? AND client_id = ?`, st.Site, st.Point, st.ClientID)
	if errors.Is(err, catalog.ErrNotFound) {
		return catalog.Start{}, false, fmt.Errorf("catalog: put start %s: %w: session id %s taken", st.ClientID, catalog.ErrExists, st.Session)
	}
	return got, false, err
}

// StartOf implements catalog.Store.
func (s *Store) StartOf(ctx context.Context, session string) (catalog.Start, error) {
	return s.startWhere(ctx, "start of "+session, `session = ?`, session)
}

// OperatorStart implements catalog.Store.
func (s *Store) OperatorStart(ctx context.Context, operator, session string) (catalog.Start, error) {
	return s.startWhere(ctx, "start of "+session, `operator = ? AND session = ?`, operator, session)
}

// StartByHold implements catalog.Store.
func (s *Store) StartByHold(ctx context.Context, holdID string) (catalog.Start, error) {
	if holdID == "" {
		return catalog.Start{}, fmt.Errorf("start of hold: %w", catalog.ErrNotFound)
	}
	return s.startWhere(ctx, "start of hold "+holdID, `hold_id = ?`, holdID)
}

// SetStartHold implements catalog.Store.
func (s *Store) SetStartHold(ctx context.Context, session, holdID string) error {
	res, err := s.exec(ctx, `UPDATE catalog_starts SET hold_id = ? WHERE session = ?`, holdID, session)
	if err != nil {
		return fmt.Errorf("catalog: start %s: hold: %w", session, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("start of %s: %w", session, catalog.ErrNotFound)
	}
	return nil
}

// Starts implements catalog.Store.
func (s *Store) Starts(ctx context.Context, operator string, limit int) ([]catalog.Start, error) {
	q := `SELECT data, hold_id FROM catalog_starts WHERE operator = ? ORDER BY created_at DESC, session`
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := s.db.QueryContext(ctx, sqldb.Bind(s.dialect, q), operator)
	if err != nil {
		return nil, fmt.Errorf("catalog: starts: %w", err)
	}
	defer rows.Close()
	out := []catalog.Start{}
	for rows.Next() {
		var data, hold string
		if err := rows.Scan(&data, &hold); err != nil {
			return nil, fmt.Errorf("catalog: starts: %w", err)
		}
		st, err := decodeStart(data)
		if err != nil {
			return nil, err
		}
		st.HoldID = hold
		out = append(out, st)
	}
	return out, rows.Err()
}

// Seen implements payment.EventLog.
func (s *Store) Seen(ctx context.Context, provider, eventID string) (bool, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM catalog_webhook_events WHERE provider = ? AND event_id = ?`,
		provider, eventID).Scan(&n); err != nil {
		return false, fmt.Errorf("catalog: webhook event: %w", err)
	}
	return n > 0, nil
}

// Record implements payment.EventLog.
func (s *Store) Record(ctx context.Context, provider, eventID string, now time.Time) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO catalog_webhook_events (provider, event_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		provider, eventID, now.UnixMicro())
	if err != nil {
		return false, fmt.Errorf("catalog: record webhook event: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
