// Package sqlite implements store.Store on an embedded SQLite database
// (modernc.org/sqlite, no cgo): the default store of `make run` and of a
// single-process central.
//
// The database runs in WAL mode with synchronous=FULL: every commit fsyncs
// the WAL. With NORMAL a commit survives a crash of the process but the last
// commits may be lost on power failure or an OS crash; central acks a seq to
// the edge right after the commit and the edge then deletes the batch, so a
// lost commit would be lost meter data. Group commit (many batches per
// transaction) pays for the one fsync per group. busy_timeout is 10 s.
//
// One connection writes (transactions BEGIN IMMEDIATE, so two writers never
// deadlock on a lock upgrade); a small pool of read-only connections reads
// beside it, which WAL allows.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlbuild"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Options tune Open. The zero value is usable.
type Options struct {
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
}

// Store is a store.Store on SQLite.
type Store struct {
	w   *sql.DB // one connection, writes
	r   *sql.DB // read-only connections
	now func() time.Time
	log *slog.Logger
}

var _ store.Store = (*Store)(nil)

const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)"

// Open opens (creating if needed) the database file at path, applies pending
// migrations and returns the store.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlite: path %q: %w: need a file path without '?' or '#'", path, store.ErrInvalid)
	}
	w, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, now: opt.Now, log: opt.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	// Readers open after the schema exists; WAL mode is persistent.
	r, err := sql.Open("sqlite", "file:"+path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s.r = r
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	return s, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	var errR error
	if s.r != nil {
		errR = s.r.Close()
	}
	return errors.Join(s.w.Close(), errR)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// dialect spells placeholders ? and passes times as microseconds since the
// epoch, as the schema stores them.
var dialect = sqlbuild.Dialect{
	Param: func(int) string { return "?" },
	Time:  func(t time.Time) any { return micros(t) },
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := store.Migrations(store.DialectSQLite)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrating process at a time
	if err != nil {
		return fmt.Errorf("sqlite: migrate: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	err = sqlmigrate.SQLite(ctx, tx, store.MigrationSet(), ms, s.now(), func(m sqlmigrate.Migration) {
		s.log.Info("applied migration", "version", m.Version, "name", m.Name)
	})
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: commit: %w", err)
	}
	return nil
}

// SaveBatch implements store.Store.
func (s *Store) SaveBatch(ctx context.Context, gateway string, seq uint64, batch reading.Batch, raw []byte) (bool, error) {
	return store.SaveOne(ctx, s, gateway, seq, batch, raw)
}

// SaveBatches implements store.Store.
func (s *Store) SaveBatches(ctx context.Context, items []store.Item) ([]store.Outcome, error) {
	if len(items) == 0 {
		return nil, nil
	}
	plan, err := store.NewPlan(items)
	if err != nil {
		return nil, err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: save %d batches: begin: %w", len(items), err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	written, err := s.saveTx(ctx, tx, plan)
	if err != nil {
		return nil, fmt.Errorf("sqlite: save %d batches: %w", len(items), err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: save %d batches: commit: %w", len(items), err)
	}
	return plan.Outcomes(written)
}

type stmts struct {
	batch, hash, reading, snap, event *sql.Stmt
}

func (s *Store) prepare(ctx context.Context, tx *sql.Tx) (*stmts, error) {
	var st stmts
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&st.batch, `INSERT INTO batches (gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (gateway, epoch, seq) DO NOTHING`},
		{&st.hash, `SELECT body_sha256 FROM batches WHERE gateway = ? AND epoch = ? AND seq = ?`},
		{&st.reading, `INSERT INTO readings (gateway, epoch, seq, idx, site, device, point, quantity, value, stale, t, session)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.snap, `INSERT INTO snapshots (gateway, epoch, seq, idx, site, meter, session, t, ocmf, verified)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&st.event, `INSERT INTO events (gateway, epoch, seq, idx, site, t, kind, device, point, message, attrs)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
	} {
		stmt, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*p.dst = stmt
	}
	return &st, nil
}

func (s *Store) saveTx(ctx context.Context, tx *sql.Tx, plan *store.Plan) (map[store.Key]store.Written, error) {
	st, err := s.prepare(ctx, tx)
	if err != nil {
		return nil, err
	}
	now := micros(s.now())
	written := make(map[store.Key]store.Written, len(plan.Write))
	for _, i := range plan.Write {
		it := plan.Items[i]
		k := it.Key()
		seq, site, epoch := int64(it.Seq), it.Batch.Site, it.Batch.Epoch
		res, err := st.batch.ExecContext(ctx, it.Gateway, epoch, seq, site, it.Batch.Version, micros(it.Batch.Sent), now,
			it.Body, plan.Hashes[i][:], it.Sig, len(it.Batch.Readings), len(it.Batch.Events))
		if err != nil {
			return nil, fmt.Errorf("insert batch %q seq %d: %w", it.Gateway, it.Seq, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, fmt.Errorf("insert batch %q seq %d: %w", it.Gateway, it.Seq, err)
		}
		if n == 0 {
			var h []byte
			if err := st.hash.QueryRowContext(ctx, it.Gateway, epoch, seq).Scan(&h); err != nil {
				return nil, fmt.Errorf("stored hash of %q seq %d: %w", it.Gateway, it.Seq, err)
			}
			var w store.Written
			copy(w.Hash[:], h)
			written[k] = w
			continue
		}
		written[k] = store.Written{Inserted: true, Hash: plan.Hashes[i]}
		for x, r := range it.Batch.Readings {
			if _, err := st.reading.ExecContext(ctx, it.Gateway, epoch, seq, x, site, r.Device, r.Point, r.Quantity,
				r.Value, r.Stale, micros(r.Time), r.Session); err != nil {
				return nil, fmt.Errorf("insert reading %d of %q seq %d: %w", x, it.Gateway, it.Seq, err)
			}
			if r.OCMF != "" {
				if _, err := st.snap.ExecContext(ctx, it.Gateway, epoch, seq, x, site, r.Device, r.Session, micros(r.Time),
					r.OCMF, it.OCMFVerified); err != nil {
					return nil, fmt.Errorf("insert snapshot %d of %q seq %d: %w", x, it.Gateway, it.Seq, err)
				}
			}
		}
		for x, e := range it.Batch.Events {
			var attrs any
			if len(e.Attrs) > 0 {
				b, err := json.Marshal(e.Attrs)
				if err != nil {
					return nil, fmt.Errorf("event attrs of %q seq %d: %w", it.Gateway, it.Seq, err)
				}
				attrs = string(b)
			}
			if _, err := st.event.ExecContext(ctx, it.Gateway, epoch, seq, x, site, micros(e.Time), e.Kind, e.Device, e.Point,
				e.Message, attrs); err != nil {
				return nil, fmt.Errorf("insert event %d of %q seq %d: %w", x, it.Gateway, it.Seq, err)
			}
		}
	}
	for _, g := range plan.Streams {
		if _, err := tx.ExecContext(ctx, `INSERT INTO gateway_seq (gateway, epoch, contiguous) VALUES (?, ?, 0) ON CONFLICT DO NOTHING`, g.Gateway, g.Epoch); err != nil {
			return nil, fmt.Errorf("gateway_seq %q: %w", g, err)
		}
	}
	ws := plan.Writes(func(k store.Key) bool { return written[k].Inserted })
	if err := store.AdvanceTx(ctx, sqltx{tx}, s.now(), ws); err != nil {
		return nil, err
	}
	return written, nil
}

// HighestContiguousSeq implements store.Store.
func (s *Store) HighestContiguousSeq(ctx context.Context, gateway, epoch string) (uint64, error) {
	n, err := store.ContiguousTx(ctx, sqltx{s.r}, gateway, epoch)
	if err != nil {
		return 0, fmt.Errorf("sqlite: %w", err)
	}
	return n, nil
}

// Progress implements store.Store.
func (s *Store) Progress(ctx context.Context, f store.ProgressFilter) ([]store.Progress, error) {
	p, err := store.ProgressTx(ctx, sqltx{s.r}, f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return p, nil
}

// Gaps implements store.Store.
func (s *Store) Gaps(ctx context.Context, gateway string, epoch *string) ([]store.Gap, error) {
	g, err := store.GapsTx(ctx, sqltx{s.r}, gateway, epoch)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return g, nil
}

// Batch implements store.Store.
func (s *Store) Batch(ctx context.Context, gateway, epoch string, seq uint64) (store.StoredBatch, error) {
	if seq > math.MaxInt64 {
		return store.StoredBatch{}, fmt.Errorf("sqlite: batch %q seq %d: %w", gateway, seq, store.ErrNotFound)
	}
	var (
		b            store.StoredBatch
		q, sent, rcv int64
		h            []byte
	)
	err := s.r.QueryRowContext(ctx, `SELECT gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events
		FROM batches WHERE gateway = ? AND epoch = ? AND seq = ?`, gateway, epoch, int64(seq)).
		Scan(&b.Gateway, &b.Epoch, &q, &b.Site, &b.Version, &sent, &rcv, &b.Body, &h, &b.Sig, &b.Readings, &b.Events)
	if errors.Is(err, sql.ErrNoRows) {
		return store.StoredBatch{}, fmt.Errorf("sqlite: batch %q seq %d: %w", gateway, seq, store.ErrNotFound)
	}
	if err != nil {
		return store.StoredBatch{}, fmt.Errorf("sqlite: batch %q seq %d: %w", gateway, seq, err)
	}
	b.Seq, b.Sent, b.Received = uint64(q), fromMicros(sent), fromMicros(rcv)
	copy(b.BodySHA256[:], h)
	return b, nil
}

// Readings implements store.Store.
func (s *Store) Readings(ctx context.Context, f store.ReadingFilter) ([]store.StoredReading, error) {
	query, args := sqlbuild.Readings(dialect, f)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: readings: %w", err)
	}
	defer rows.Close()
	var out []store.StoredReading
	for rows.Next() {
		var (
			r    store.StoredReading
			q, t int64
		)
		if err := rows.Scan(&r.Gateway, &r.Epoch, &q, &r.Index, &r.Site, &r.Device, &r.Point, &r.Quantity, &r.Value,
			&r.Stale, &t, &r.Session, &r.OCMF); err != nil {
			return nil, fmt.Errorf("sqlite: readings: %w", err)
		}
		r.Seq, r.Time = uint64(q), fromMicros(t)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: readings: %w", err)
	}
	return out, nil
}

// CountReadings implements store.Store.
func (s *Store) CountReadings(ctx context.Context, f store.ReadingFilter) (int64, error) {
	query, args := sqlbuild.CountReadings(dialect, f)
	var n int64
	if err := s.r.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count readings: %w", err)
	}
	return n, nil
}

// Snapshots implements store.Store.
func (s *Store) Snapshots(ctx context.Context, f store.SnapshotFilter) ([]store.Snapshot, error) {
	query, args := sqlbuild.Snapshots(dialect, f)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: snapshots: %w", err)
	}
	defer rows.Close()
	var out []store.Snapshot
	for rows.Next() {
		var (
			sn   store.Snapshot
			q, t int64
		)
		if err := rows.Scan(&sn.Gateway, &sn.Epoch, &q, &sn.Index, &sn.Site, &sn.Meter, &sn.Session, &t, &sn.OCMF, &sn.Verified); err != nil {
			return nil, fmt.Errorf("sqlite: snapshots: %w", err)
		}
		sn.Seq, sn.Time = uint64(q), fromMicros(t)
		out = append(out, sn)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: snapshots: %w", err)
	}
	return out, nil
}

// Counts implements store.Store.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := s.r.QueryRowContext(ctx, sqlbuild.Counts).
		Scan(&c.Batches, &c.Readings, &c.Snapshots, &c.Events, &c.Rejections)
	if err != nil {
		return store.Counts{}, fmt.Errorf("sqlite: counts: %w", err)
	}
	return c, nil
}

// RecordRejections implements store.Store.
func (s *Store) RecordRejections(ctx context.Context, rs []store.Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: record %d rejections: begin: %w", len(rs), err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO rejections (received_at, topic, gateway, seq, reason, detail, size, sha256, head)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("sqlite: record %d rejections: %w", len(rs), err)
	}
	now := s.now()
	for _, r := range rs {
		if _, err := stmt.ExecContext(ctx, sqlbuild.RejectionRow(dialect, r, now)...); err != nil {
			return fmt.Errorf("sqlite: record rejection: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: record %d rejections: commit: %w", len(rs), err)
	}
	return nil
}

// Rejections implements store.Store.
func (s *Store) Rejections(ctx context.Context, f store.RejectionFilter) ([]store.Rejection, error) {
	query, args := sqlbuild.Rejections(dialect, f)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: rejections: %w", err)
	}
	defer rows.Close()
	var out []store.Rejection
	for rows.Next() {
		var (
			r      store.Rejection
			t, seq int64
			h      []byte
		)
		if err := rows.Scan(&r.ID, &t, &r.Topic, &r.Gateway, &seq, &r.Reason, &r.Detail, &r.Size, &h, &r.Head); err != nil {
			return nil, fmt.Errorf("sqlite: rejections: %w", err)
		}
		r.Received, r.Seq = fromMicros(t), uint64(seq)
		copy(r.SHA256[:], h)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: rejections: %w", err)
	}
	return out, nil
}
