package postgres

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parkgrid/parkgrid/central/store"
)

// This file implements the key lifecycle, the evidence index and the
// archive (store/keys.go, store/evidence.go) on PostgreSQL, through the
// shared code over store.Tx.

// pgxQuerier is what pgx.Tx and *pgxpool.Pool share.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// tx adapts pgx to store.Tx: ? placeholders become $n.
type tx struct{ q pgxQuerier }

func (t tx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := t.q.Exec(ctx, store.Rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (t tx) Query(ctx context.Context, query string, args ...any) (store.Rows, error) {
	rows, err := t.q.Query(ctx, store.Rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// write runs fn in one transaction.
func (s *Store) write(ctx context.Context, fn func(store.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(t pgx.Tx) error { return fn(tx{t}) })
}

// EnrollGateway implements store.Store.
func (s *Store) EnrollGateway(ctx context.Context, g store.Gateway) error {
	err := s.write(ctx, func(t store.Tx) error { return store.EnrollGatewayTx(ctx, t, store.UTC(s.now()), g) })
	if err != nil {
		return fmt.Errorf("postgres: enroll gateway %q: %w", g.ID, err)
	}
	return nil
}

// Gateway implements store.Store.
func (s *Store) Gateway(ctx context.Context, id string) (store.Gateway, error) {
	g, err := store.LoadGateway(ctx, tx{s.pool}, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Gateway{}, fmt.Errorf("postgres: %w", err)
	}
	return g, err
}

// GatewayKey implements store.Store.
func (s *Store) GatewayKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	g, err := s.Gateway(ctx, id)
	if err != nil {
		return nil, err
	}
	return g.PublicKey, nil
}

// RevokeGateway implements store.Store.
func (s *Store) RevokeGateway(ctx context.Context, id, by, why string) error {
	err := s.write(ctx, func(t store.Tx) error { return store.RevokeGatewayTx(ctx, t, store.UTC(s.now()), id, by, why) })
	if err != nil {
		return fmt.Errorf("postgres: revoke gateway %q: %w", id, err)
	}
	return nil
}

// RevokeGatewayKey implements store.Store.
func (s *Store) RevokeGatewayKey(ctx context.Context, id string, key ed25519.PublicKey, by, why string) error {
	err := s.write(ctx, func(t store.Tx) error { return store.RevokeGatewayKeyTx(ctx, t, store.UTC(s.now()), id, key, by, why) })
	if err != nil {
		return fmt.Errorf("postgres: revoke key of %q: %w", id, err)
	}
	return nil
}

// GatewayIDs implements store.Store.
func (s *Store) GatewayIDs(ctx context.Context) ([]string, error) {
	ids, err := store.ListGatewayIDs(ctx, tx{s.pool})
	if err != nil {
		return nil, fmt.Errorf("postgres: gateways: %w", err)
	}
	return ids, nil
}

// SetMeterKey implements store.Store.
func (s *Store) SetMeterKey(ctx context.Context, k store.MeterKey) error {
	err := s.write(ctx, func(t store.Tx) error { return store.SetMeterKeyTx(ctx, t, store.UTC(s.now()), k) })
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

// MeterKeys implements store.Store.
func (s *Store) MeterKeys(ctx context.Context, site, device string) ([]store.MeterKey, error) {
	ks, err := store.LoadMeterKeys(ctx, tx{s.pool}, site, device)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ks, nil
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	es, err := store.LoadAudit(ctx, tx{s.pool}, f)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return es, nil
}

// WithEvidence implements store.Store: the transaction takes an advisory
// lock per meter, in sorted order, so replicas checking the same meter
// wait for each other and never deadlock.
func (s *Store) WithEvidence(ctx context.Context, site string, meters []string, fn func(store.EvidenceTx) error) error {
	keys := make([]string, 0, len(meters))
	for _, m := range meters {
		keys = append(keys, site+"|"+m)
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return pgx.BeginFunc(ctx, s.pool, func(t pgx.Tx) error {
		for _, k := range keys {
			if _, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "parkgrid-evidence|"+k); err != nil {
				return fmt.Errorf("postgres: evidence lock: %w", err)
			}
		}
		return fn(store.NewEvidenceTx(tx{t}))
	})
}

// Batches implements store.Store.
func (s *Store) Batches(ctx context.Context, f store.BatchFilter) ([]store.StoredBatch, error) {
	q := []string{`SELECT gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events
		FROM batches WHERE gateway = $1`}
	a := []any{f.Gateway}
	if !f.From.IsZero() {
		a = append(a, f.From)
		q = append(q, fmt.Sprintf(`AND sent_at >= $%d`, len(a)))
	}
	if !f.To.IsZero() {
		a = append(a, f.To)
		q = append(q, fmt.Sprintf(`AND sent_at < $%d`, len(a)))
	}
	q = append(q, `ORDER BY epoch, seq`)
	if f.Limit > 0 {
		q = append(q, fmt.Sprintf(`LIMIT %d`, f.Limit))
	}
	rows, err := s.pool.Query(ctx, strings.Join(q, " "), a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: batches of %q: %w", f.Gateway, err)
	}
	var (
		out  []store.StoredBatch
		b    store.StoredBatch
		seq  int64
		ver  int32
		h    []byte
		n, e int32
	)
	_, err = pgx.ForEachRow(rows, []any{&b.Gateway, &b.Epoch, &seq, &b.Site, &ver, &b.Sent, &b.Received, &b.Body, &h, &b.Sig, &n, &e}, func() error {
		x := b
		x.Seq, x.Version, x.Readings, x.Events = uint64(seq), int(ver), int(n), int(e)
		x.Sent, x.Received = store.UTC(x.Sent), store.UTC(x.Received)
		x.Body, x.Sig = append([]byte(nil), b.Body...), append([]byte(nil), b.Sig...)
		copy(x.BodySHA256[:], h)
		out = append(out, x)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: batches of %q: %w", f.Gateway, err)
	}
	return out, nil
}

// PruneRejections implements store.Store.
func (s *Store) PruneRejections(ctx context.Context, olderThan time.Time, maxBytes int64) (int64, error) {
	var n int64
	err := s.write(ctx, func(t store.Tx) error {
		var err error
		n, err = store.PruneRejectionsTx(ctx, t, olderThan, maxBytes)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return n, nil
}
