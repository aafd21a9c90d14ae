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
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
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
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return sqlmigrate.Postgres(ctx, tx, store.MigrationSet(), ms, s.now(), s.logApplied)
	})
}

func (s *Store) logApplied(m sqlmigrate.Migration) {
	s.log.Info("applied migration", "version", m.Version, "name", m.Name)
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
	sg, se := make([]string, len(plan.Streams)), make([]string, len(plan.Streams))
	for i, st := range plan.Streams {
		sg[i], se[i] = st.Gateway, st.Epoch
	}
	if _, err := tx.Exec(ctx, `INSERT INTO gateway_seq (gateway, epoch, contiguous)
		SELECT g, e, 0 FROM unnest($1::text[], $2::text[]) AS u(g, e) ORDER BY g, e ON CONFLICT DO NOTHING`, sg, se); err != nil {
		return nil, fmt.Errorf("gateway_seq: %w", err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM gateway_seq gs JOIN unnest($1::text[], $2::text[]) AS u(g, e)
		ON gs.gateway = u.g AND gs.epoch = u.e ORDER BY gs.gateway, gs.epoch FOR UPDATE OF gs`, sg, se); err != nil {
		return nil, fmt.Errorf("lock gateway_seq: %w", err)
	}

	n := len(plan.Write)
	var (
		gws      = make([]string, n)
		epochs   = make([]string, n)
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
		gws[j], epochs[j], seqs[j], sites[j] = it.Gateway, it.Batch.Epoch, int64(it.Seq), it.Batch.Site
		versions[j], sent[j] = int32(it.Batch.Version), it.Batch.Sent
		bodies[j], hashes[j], sigs[j] = it.Body, plan.Hashes[i][:], it.Sig
		nread[j], nevent[j] = int32(len(it.Batch.Readings)), int32(len(it.Batch.Events))
	}
	rows, err := tx.Query(ctx, `INSERT INTO batches
		(gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events)
		SELECT g, e, q, st, v, sa, $6, b, h, sg, nr, ne
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::integer[], $5::timestamptz[],
		            $7::bytea[], $8::bytea[], $9::bytea[], $10::integer[], $11::integer[], $12::text[])
		     AS u(g, q, st, v, sa, b, h, sg, nr, ne, e)
		ON CONFLICT (gateway, epoch, seq) DO NOTHING
		RETURNING gateway, epoch, seq`,
		gws, seqs, sites, versions, sent, s.now(), bodies, hashes, sigs, nread, nevent, epochs)
	if err != nil {
		return nil, fmt.Errorf("insert batches: %w", err)
	}
	written := make(map[store.Key]store.Written, n)
	var (
		g, e string
		q    int64
	)
	_, err = pgx.ForEachRow(rows, []any{&g, &e, &q}, func() error {
		written[store.Key{Gateway: g, Epoch: e, Seq: uint64(q)}] = store.Written{Inserted: true}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("insert batches: %w", err)
	}

	// Hashes of keys stored before (redeliveries, replays).
	var oldG, oldE []string
	var oldQ []int64
	for j, i := range plan.Write {
		k := store.Key{Gateway: gws[j], Epoch: epochs[j], Seq: uint64(seqs[j])}
		if w, ok := written[k]; ok {
			w.Hash = plan.Hashes[i]
			written[k] = w
			continue
		}
		oldG, oldE, oldQ = append(oldG, gws[j]), append(oldE, epochs[j]), append(oldQ, seqs[j])
	}
	if len(oldG) > 0 {
		rows, err := tx.Query(ctx, `SELECT b.gateway, b.epoch, b.seq, b.body_sha256 FROM batches b
			JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS u(g, e, q) ON b.gateway = u.g AND b.epoch = u.e AND b.seq = u.q`, oldG, oldE, oldQ)
		if err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
		var h []byte
		_, err = pgx.ForEachRow(rows, []any{&g, &e, &q, &h}, func() error {
			var w store.Written
			copy(w.Hash[:], h)
			written[store.Key{Gateway: g, Epoch: e, Seq: uint64(q)}] = w
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
	}

	if err := s.copyContents(ctx, tx, plan, written); err != nil {
		return nil, err
	}

	ws := plan.Writes(func(k store.Key) bool { return written[k].Inserted })
	if err := store.AdvanceTx(ctx, pgtx{tx}, s.now(), ws); err != nil {
		return nil, err
	}
	return written, nil
}

// copyContents writes readings, snapshots and events of the batches this
// call inserted.
func (s *Store) copyContents(ctx context.Context, tx pgx.Tx, plan *store.Plan, written map[store.Key]store.Written) error {
	items := make([]*store.Item, 0, len(plan.Write))
	for _, i := range plan.Write {
		it := &plan.Items[i]
		if written[it.Key()].Inserted {
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
			events = append(events, []any{it.Gateway, it.Batch.Epoch, seq, int32(x), site, e.Time, e.Kind, e.Device, e.Point,
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
				rb.row(12)
				rb.text(it.Gateway)
				rb.text(it.Batch.Epoch)
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
					sb.row(10)
					sb.text(it.Gateway)
					sb.text(it.Batch.Epoch)
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
	readingColumns  = []string{"gateway", "epoch", "seq", "idx", "site", "device", "point", "quantity", "value", "stale", "t", "session"}
	snapshotColumns = []string{"gateway", "epoch", "seq", "idx", "site", "meter", "session", "t", "ocmf", "verified"}
	eventColumns    = []string{"gateway", "epoch", "seq", "idx", "site", "t", "kind", "device", "point", "message", "attrs"}
)

// HighestContiguousSeq implements store.Store.
func (s *Store) HighestContiguousSeq(ctx context.Context, gateway, epoch string) (uint64, error) {
	n, err := store.ContiguousTx(ctx, pgtx{s.pool}, gateway, epoch)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return n, nil
}

// Progress implements store.Store.
func (s *Store) Progress(ctx context.Context, f store.ProgressFilter) ([]store.Progress, error) {
	p, err := store.ProgressTx(ctx, pgtx{s.pool}, f)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return p, nil
}

// Gaps implements store.Store.
func (s *Store) Gaps(ctx context.Context, gateway string, epoch *string) ([]store.Gap, error) {
	g, err := store.GapsTx(ctx, pgtx{s.pool}, gateway, epoch)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return g, nil
}

// Batch implements store.Store.
func (s *Store) Batch(ctx context.Context, gateway, epoch string, seq uint64) (store.StoredBatch, error) {
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
	err := s.pool.QueryRow(ctx, `SELECT gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events
		FROM batches WHERE gateway = $1 AND epoch = $2 AND seq = $3`, gateway, epoch, int64(seq)).
		Scan(&b.Gateway, &b.Epoch, &q, &b.Site, &v, &b.Sent, &b.Received, &b.Body, &h, &b.Sig, &r, &e)
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
	_, err = pgx.ForEachRow(rows, []any{&r.Gateway, &r.Epoch, &q, &x, &r.Site, &r.Device, &r.Point, &r.Quantity, &r.Value,
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
	_, err = pgx.ForEachRow(rows, []any{&sn.Gateway, &sn.Epoch, &q, &x, &sn.Site, &sn.Meter, &sn.Session, &sn.Time, &sn.OCMF, &sn.Verified}, func() error {
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
