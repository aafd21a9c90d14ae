// Package postgres implements store.Store on PostgreSQL with pgx/v5: the
// production store. A group of batches is written in one transaction: the
// batch rows with one INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING
// RETURNING (which decides, per (gateway, seq), whether this call stores it),
// then the readings, snapshots and events of the new batches with COPY, then
// the gateways' contiguous seq. Gateway progress rows are locked first, in
// gateway order, so concurrent replicas serialise per gateway and never
// deadlock.
package postgres

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlbuild"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Options tune Open. The zero value is usable.
type Options struct {
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now
	MaxConns int32            // pool size; 0: pgx's default (max(4, CPUs))
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	log  *slog.Logger
}

var _ store.Store = (*Store)(nil)

// dialect spells placeholders $1, $2, … and passes times as timestamptz.
var dialect = sqlbuild.Dialect{
	Param: func(n int) string { return "$" + strconv.Itoa(n) },
	Time:  func(t time.Time) any { return t },
}

// migrationLockID is the advisory lock that serialises migrations of
// replicas starting at once ("parkgrid" in ASCII).
const migrationLockID = 0x7061726b67726964

// Open connects, applies pending migrations and returns the store.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse dsn: %w", err)
	}
	if opt.MaxConns > 0 {
		cfg.MaxConns = opt.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, now: opt.Now, log: opt.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the pool to benchmarks that measure raw ceilings.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

func (s *Store) migrate(ctx context.Context) error {
	ms, err := store.Migrations(store.DialectPostgres)
	if err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockID)); err != nil {
		return fmt.Errorf("postgres: migrate: lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: schema_migrations: %w", err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return fmt.Errorf("postgres: migrate: read version: %w", err)
	}
	if have > len(ms) {
		return fmt.Errorf("postgres: migrate: database is at schema version %d, this build knows up to %d", have, len(ms))
	}
	for _, m := range ms[have:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("postgres: migration %04d_%s: %w", m.Version, m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, s.now()); err != nil {
			return fmt.Errorf("postgres: migration %04d_%s: record: %w", m.Version, m.Name, err)
		}
		s.log.Info("applied migration", "version", m.Version, "name", m.Name)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: commit: %w", err)
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
	var written map[store.Key]store.Written
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		written, err = s.saveTx(ctx, tx, plan)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: save %d batches: %w", len(items), err)
	}
	return plan.Outcomes(written)
}

func (s *Store) saveTx(ctx context.Context, tx pgx.Tx, plan *store.Plan) (map[store.Key]store.Written, error) {
	// Lock the progress rows of the gateways, in order.
	if _, err := tx.Exec(ctx, `INSERT INTO gateway_seq (gateway, contiguous)
		SELECT g, 0 FROM unnest($1::text[]) AS g ORDER BY g ON CONFLICT DO NOTHING`, plan.Gateways); err != nil {
		return nil, fmt.Errorf("gateway_seq: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM gateway_seq WHERE gateway = ANY($1) ORDER BY gateway FOR UPDATE`, plan.Gateways); err != nil {
		return nil, fmt.Errorf("lock gateway_seq: %w", err)
	}

	n := len(plan.Write)
	var (
		gws      = make([]string, n)
		seqs     = make([]int64, n)
		sites    = make([]string, n)
		versions = make([]int32, n)
		sent     = make([]time.Time, n)
		bodies   = make([][]byte, n)
		hashes   = make([][]byte, n)
		sigs     = make([][]byte, n)
		nread    = make([]int32, n)
		nevent   = make([]int32, n)
	)
	for j, i := range plan.Write {
		it := plan.Items[i]
		gws[j], seqs[j], sites[j] = it.Gateway, int64(it.Seq), it.Batch.Site
		versions[j], sent[j] = int32(it.Batch.Version), it.Batch.Sent
		bodies[j], hashes[j], sigs[j] = it.Body, plan.Hashes[i][:], it.Sig
		nread[j], nevent[j] = int32(len(it.Batch.Readings)), int32(len(it.Batch.Events))
	}
	rows, err := tx.Query(ctx, `INSERT INTO batches
		(gateway, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events)
		SELECT g, q, st, v, sa, $6, b, h, sg, nr, ne
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::timestamptz[],
		            $7::bytea[], $8::bytea[], $9::bytea[], $10::integer[], $11::integer[])
		     AS u(g, q, st, v, sa, b, h, sg, nr, ne)
		ON CONFLICT (gateway, seq) DO NOTHING
		RETURNING gateway, seq`,
		gws, seqs, sites, versions, sent, s.now(), bodies, hashes, sigs, nread, nevent)
	if err != nil {
		return nil, fmt.Errorf("insert batches: %w", err)
	}
	written := make(map[store.Key]store.Written, n)
	var (
		g string
		q int64
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &q}, func() error {
		written[store.Key{Gateway: g, Seq: uint64(q)}] = store.Written{Inserted: true}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert batches: %w", err)
	}

	// Hashes of keys stored before (redeliveries, replays).
	var oldG []string
	var oldQ []int64
	for j, i := range plan.Write {
		k := store.Key{Gateway: gws[j], Seq: uint64(seqs[j])}
		if w, ok := written[k]; ok {
			w.Hash = plan.Hashes[i]
			written[k] = w
			continue
		}
		oldG, oldQ = append(oldG, gws[j]), append(oldQ, seqs[j])
	}
	if len(oldG) > 0 {
		rows, err := tx.Query(ctx, `SELECT b.gateway, b.seq, b.body_sha256 FROM batches b
			JOIN unnest($1::text[], $2::bigint[]) AS u(g, q) ON b.gateway = u.g AND b.seq = u.q`, oldG, oldQ)
		if err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
		var h []byte
		_, err = pgx.ForEachRow(rows, []any{&g, &q, &h}, func() error {
			var w store.Written
			copy(w.Hash[:], h)
			written[store.Key{Gateway: g, Seq: uint64(q)}] = w
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
	}

	if err := s.copyContents(ctx, tx, plan, written); err != nil {
		return nil, err
	}

	if _, err := tx.Exec(ctx, sqlbuild.AdvanceContiguous+` WHERE gs.gateway = ANY($1)`, plan.Gateways); err != nil {
		return nil, fmt.Errorf("advance gateway_seq: %w", err)
	}
	return written, nil
}

// copyContents writes readings, snapshots and events of the batches this
// call inserted.
func (s *Store) copyContents(ctx context.Context, tx pgx.Tx, plan *store.Plan, written map[store.Key]store.Written) error {
	items := make([]*store.Item, 0, len(plan.Write))
	for _, i := range plan.Write {
		it := &plan.Items[i]
		if written[store.Key{Gateway: it.Gateway, Seq: it.Seq}].Inserted {
			items = append(items, it)
		}
	}
	return copyItems(ctx, tx, items)
}

// CopyContents writes the readings, snapshots and events of items inside tx
// exactly as SaveBatches does (same rows, same encoding, one COPY per table),
// and nothing else: no batch rows, no gateway progress. It is exported for
// the benchmark that measures the raw COPY ceiling.
func CopyContents(ctx context.Context, tx pgx.Tx, items []store.Item) error {
	ptrs := make([]*store.Item, len(items))
	for i := range items {
		ptrs[i] = &items[i]
	}
	return copyItems(ctx, tx, ptrs)
}

// copyItems writes readings and snapshots with one binary COPY per table,
// encoded straight from the batches, and events (rare) with pgx's COPY.
func copyItems(ctx context.Context, tx pgx.Tx, items []*store.Item) error {
	var nread, nsnap, snapBytes int
	var events [][]any
	for _, it := range items {
		nread += len(it.Batch.Readings)
		for _, r := range it.Batch.Readings {
			if r.OCMF != "" {
				nsnap++
				snapBytes += len(r.OCMF)
			}
		}
		seq, site := int64(it.Seq), it.Batch.Site
		for x, e := range it.Batch.Events {
			var attrs []byte
			if len(e.Attrs) > 0 {
				b, err := json.Marshal(e.Attrs)
				if err != nil {
					return fmt.Errorf("event attrs gateway %q seq %d: %w", it.Gateway, it.Seq, err)
				}
				attrs = b
			}
			events = append(events, []any{it.Gateway, seq, int32(x), site, e.Time, e.Kind, e.Device, e.Point,
				e.Message, attrs})
		}
	}
	if nread > 0 {
		rb := newCopyBuf(nread * 160)
		var sb *copyBuf
		if nsnap > 0 {
			sb = newCopyBuf(nsnap*128 + snapBytes)
		}
		for _, it := range items {
			seq, site := int64(it.Seq), it.Batch.Site
			for x := range it.Batch.Readings {
				r := &it.Batch.Readings[x]
				rb.row(11)
				rb.text(it.Gateway)
				rb.int8(seq)
				rb.int4(int32(x))
				rb.text(site)
				rb.text(r.Device)
				rb.text(r.Point)
				rb.text(r.Quantity)
				rb.int8(r.Value)
				rb.bool(r.Stale)
				rb.timestamptz(r.Time)
				rb.text(r.Session)
				if r.OCMF != "" {
					sb.row(9)
					sb.text(it.Gateway)
					sb.int8(seq)
					sb.int4(int32(x))
					sb.text(site)
					sb.text(r.Device)
					sb.text(r.Session)
					sb.timestamptz(r.Time)
					sb.text(r.OCMF)
					sb.bool(it.OCMFVerified)
				}
			}
		}
		if err := rb.copyIn(ctx, tx, "readings", readingColumns); err != nil {
			return fmt.Errorf("copy %d readings: %w", nread, err)
		}
		if sb != nil {
			if err := sb.copyIn(ctx, tx, "snapshots", snapshotColumns); err != nil {
				return fmt.Errorf("copy %d snapshots: %w", nsnap, err)
			}
		}
	}
	if len(events) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventColumns, pgx.CopyFromRows(events)); err != nil {
			return fmt.Errorf("copy %d events: %w", len(events), err)
		}
	}
	return nil
}

// Columns of the COPYs, in the order the rows are encoded.
var (
	readingColumns  = []string{"gateway", "seq", "idx", "site", "device", "point", "quantity", "value", "stale", "t", "session"}
	snapshotColumns = []string{"gateway", "seq", "idx", "site", "meter", "session", "t", "ocmf", "verified"}
	eventColumns    = []string{"gateway", "seq", "idx", "site", "t", "kind", "device", "point", "message", "attrs"}
)

// HighestContiguousSeq implements store.Store.
func (s *Store) HighestContiguousSeq(ctx context.Context, gateway string) (uint64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT contiguous FROM gateway_seq WHERE gateway = $1`, gateway).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: contiguous seq of %q: %w", gateway, err)
	}
	return uint64(n), nil
}

// Batch implements store.Store.
func (s *Store) Batch(ctx context.Context, gateway string, seq uint64) (store.StoredBatch, error) {
	if seq > math.MaxInt64 {
		return store.StoredBatch{}, fmt.Errorf("postgres: batch %q seq %d: %w", gateway, seq, store.ErrNotFound)
	}
	var (
		b    store.StoredBatch
		q    int64
		h    []byte
		v    int32
		r, e int32
	)
	err := s.pool.QueryRow(ctx, `SELECT gateway, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events
		FROM batches WHERE gateway = $1 AND seq = $2`, gateway, int64(seq)).
		Scan(&b.Gateway, &q, &b.Site, &v, &b.Sent, &b.Received, &b.Body, &h, &b.Sig, &r, &e)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.StoredBatch{}, fmt.Errorf("postgres: batch %q seq %d: %w", gateway, seq, store.ErrNotFound)
	}
	if err != nil {
		return store.StoredBatch{}, fmt.Errorf("postgres: batch %q seq %d: %w", gateway, seq, err)
	}
	b.Seq, b.Version, b.Readings, b.Events = uint64(q), int(v), int(r), int(e)
	b.Sent, b.Received = store.UTC(b.Sent), store.UTC(b.Received)
	copy(b.BodySHA256[:], h)
	return b, nil
}

// Readings implements store.Store.
func (s *Store) Readings(ctx context.Context, f store.ReadingFilter) ([]store.StoredReading, error) {
	query, args := sqlbuild.Readings(dialect, f)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: readings: %w", err)
	}
	var (
		out []store.StoredReading
		r   store.StoredReading
		q   int64
		x   int32
	)
	_, err = pgx.ForEachRow(rows, []any{&r.Gateway, &q, &x, &r.Site, &r.Device, &r.Point, &r.Quantity, &r.Value,
		&r.Stale, &r.Time, &r.Session, &r.OCMF}, func() error {
		r.Seq, r.Index, r.Time = uint64(q), int(x), store.UTC(r.Time)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: readings: %w", err)
	}
	return out, nil
}

// CountReadings implements store.Store.
func (s *Store) CountReadings(ctx context.Context, f store.ReadingFilter) (int64, error) {
	query, args := sqlbuild.CountReadings(dialect, f)
	var n int64
	if err := s.pool.QueryRow(ctx, query, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count readings: %w", err)
	}
	return n, nil
}

// Snapshots implements store.Store.
func (s *Store) Snapshots(ctx context.Context, f store.SnapshotFilter) ([]store.Snapshot, error) {
	query, args := sqlbuild.Snapshots(dialect, f)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: snapshots: %w", err)
	}
	var (
		out []store.Snapshot
		sn  store.Snapshot
		q   int64
		x   int32
	)
	_, err = pgx.ForEachRow(rows, []any{&sn.Gateway, &q, &x, &sn.Site, &sn.Meter, &sn.Session, &sn.Time, &sn.OCMF, &sn.Verified}, func() error {
		sn.Seq, sn.Index, sn.Time = uint64(q), int(x), store.UTC(sn.Time)
		out = append(out, sn)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: snapshots: %w", err)
	}
	return out, nil
}

// Counts implements store.Store.
func (s *Store) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := s.pool.QueryRow(ctx, sqlbuild.Counts).
		Scan(&c.Batches, &c.Readings, &c.Snapshots, &c.Events, &c.Rejections)
	if err != nil {
		return store.Counts{}, fmt.Errorf("postgres: counts: %w", err)
	}
	return c, nil
}

// EnrollGateway implements store.Store.
func (s *Store) EnrollGateway(ctx context.Context, g store.Gateway) error {
	if err := store.CheckGateway(g); err != nil {
		return fmt.Errorf("postgres: enroll gateway %q: %w", g.ID, err)
	}
	_, err := s.pool.Exec(ctx, sqlbuild.EnrollGateway(dialect), g.ID, g.Site, []byte(g.PublicKey), s.now())
	if err != nil {
		return fmt.Errorf("postgres: enroll gateway %q: %w", g.ID, err)
	}
	return nil
}

// Gateway implements store.Store.
func (s *Store) Gateway(ctx context.Context, id string) (store.Gateway, error) {
	var (
		g   store.Gateway
		key []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT id, site, public_key, enrolled_at FROM gateways WHERE id = $1`, id).
		Scan(&g.ID, &g.Site, &key, &g.Enrolled)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Gateway{}, fmt.Errorf("gateway %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Gateway{}, fmt.Errorf("postgres: gateway %q: %w", id, err)
	}
	g.PublicKey, g.Enrolled = ed25519.PublicKey(key), store.UTC(g.Enrolled)
	return g, nil
}

// GatewayKey implements store.Store.
func (s *Store) GatewayKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	g, err := s.Gateway(ctx, id)
	if err != nil {
		return nil, err
	}
	return g.PublicKey, nil
}

// SetMeterKey implements store.Store.
func (s *Store) SetMeterKey(ctx context.Context, k store.MeterKey) error {
	if err := store.CheckMeterKey(k); err != nil {
		return fmt.Errorf("postgres: meter key %s/%s: %w", k.Site, k.Device, err)
	}
	_, err := s.pool.Exec(ctx, sqlbuild.SetMeterKey(dialect), k.Site, k.Device, k.PublicKey, s.now())
	if err != nil {
		return fmt.Errorf("postgres: meter key %s/%s: %w", k.Site, k.Device, err)
	}
	return nil
}

// MeterKey implements store.Store.
func (s *Store) MeterKey(ctx context.Context, site, device string) (store.MeterKey, error) {
	var k store.MeterKey
	err := s.pool.QueryRow(ctx, `SELECT site, device, public_key, updated_at FROM meter_keys WHERE site = $1 AND device = $2`,
		site, device).Scan(&k.Site, &k.Device, &k.PublicKey, &k.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.MeterKey{}, fmt.Errorf("meter key %s/%s: %w", site, device, store.ErrNotFound)
	}
	if err != nil {
		return store.MeterKey{}, fmt.Errorf("postgres: meter key %s/%s: %w", site, device, err)
	}
	k.Updated = store.UTC(k.Updated)
	return k, nil
}

// RecordRejections implements store.Store.
func (s *Store) RecordRejections(ctx context.Context, rs []store.Rejection) error {
	if len(rs) == 0 {
		return nil
	}
	now := s.now()
	rows := make([][]any, len(rs))
	for i, r := range rs {
		rows[i] = sqlbuild.RejectionRow(dialect, r, now)
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{"rejections"}, sqlbuild.RejectionColumns, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("postgres: record %d rejections: %w", len(rs), err)
	}
	return nil
}

// Rejections implements store.Store.
func (s *Store) Rejections(ctx context.Context, f store.RejectionFilter) ([]store.Rejection, error) {
	query, args := sqlbuild.Rejections(dialect, f)
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("postgres: rejections: %w", err)
	}
	var (
		out  []store.Rejection
		r    store.Rejection
		seq  int64
		size int32
		h    []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.Received, &r.Topic, &r.Gateway, &seq, &r.Reason, &r.Detail, &size, &h, &r.Head}, func() error {
		r.Seq, r.Size, r.Received = uint64(seq), int(size), store.UTC(r.Received)
		copy(r.SHA256[:], h)
		r.Head = append([]byte(nil), r.Head...)
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: rejections: %w", err)
	}
	return out, nil
}
