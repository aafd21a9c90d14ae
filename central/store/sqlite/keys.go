package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
)

// This file implements the key lifecycle, the evidence index and the
// archive (store/keys.go, store/evidence.go) on SQLite, through the shared
// code over store.Tx.

// execQuerier is what *sql.DB and *sql.Tx share.
type execQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// tx adapts a database/sql handle to store.Tx: times become microseconds.
type tx struct{ q execQuerier }

func args(in []any) []any {
	out := make([]any, len(in))
	for i, a := range in {
		switch v := a.(type) {
		case time.Time:
			out[i] = micros(v)
		case store.NullTime:
			if time.Time(v).IsZero() {
				out[i] = nil
			} else {
				out[i] = micros(time.Time(v))
			}
		default:
			out[i] = a
		}
	}
	return out
}

func (t tx) Exec(ctx context.Context, query string, a ...any) (int64, error) {
	res, err := t.q.ExecContext(ctx, query, args(a)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t tx) Query(ctx context.Context, query string, a ...any) (store.Rows, error) {
	rows, err := t.q.QueryContext(ctx, query, args(a)...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// write runs fn in one write transaction (BEGIN IMMEDIATE).
func (s *Store) write(ctx context.Context, what string, fn func(store.Tx) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", what, err)
	}
	defer t.Rollback() //nolint:errcheck // no-op after commit
	if err := fn(tx{t}); err != nil {
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", what, err)
	}
	return nil
}

// EnrollGateway implements store.Store.
func (s *Store) EnrollGateway(ctx context.Context, g store.Gateway) error {
	err := s.write(ctx, "enroll gateway", func(t store.Tx) error { return store.EnrollGatewayTx(ctx, t, store.UTC(s.now()), g) })
	if err != nil {
		return fmt.Errorf("sqlite: enroll gateway %q: %w", g.ID, err)
	}
	return nil
}

// Gateway implements store.Store.
func (s *Store) Gateway(ctx context.Context, id string) (store.Gateway, error) {
	g, err := store.LoadGateway(ctx, tx{s.r}, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Gateway{}, fmt.Errorf("sqlite: %w", err)
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
	return s.write(ctx, "revoke gateway", func(t store.Tx) error { return store.RevokeGatewayTx(ctx, t, store.UTC(s.now()), id, by, why) })
}

// RevokeGatewayKey implements store.Store.
func (s *Store) RevokeGatewayKey(ctx context.Context, id string, key ed25519.PublicKey, by, why string) error {
	return s.write(ctx, "revoke key", func(t store.Tx) error {
		return store.RevokeGatewayKeyTx(ctx, t, store.UTC(s.now()), id, key, by, why)
	})
}

// GatewayIDs implements store.Store.
func (s *Store) GatewayIDs(ctx context.Context) ([]string, error) {
	ids, err := store.ListGatewayIDs(ctx, tx{s.r})
	if err != nil {
		return nil, fmt.Errorf("sqlite: gateways: %w", err)
	}
	return ids, nil
}

// SetMeterKey implements store.Store.
func (s *Store) SetMeterKey(ctx context.Context, k store.MeterKey) error {
	err := s.write(ctx, "meter key", func(t store.Tx) error { return store.SetMeterKeyTx(ctx, t, store.UTC(s.now()), k) })
	if err != nil {
		return fmt.Errorf("sqlite: meter key %s/%s: %w", k.Site, k.Device, err)
	}
	return nil
}

// MeterKey implements store.Store.
func (s *Store) MeterKey(ctx context.Context, site, device string) (store.MeterKey, error) {
	var (
		k store.MeterKey
		t int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT site, device, public_key, updated_at FROM meter_keys WHERE site = ? AND device = ?`,
		site, device).Scan(&k.Site, &k.Device, &k.PublicKey, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return store.MeterKey{}, fmt.Errorf("meter key %s/%s: %w", site, device, store.ErrNotFound)
	}
	if err != nil {
		return store.MeterKey{}, fmt.Errorf("sqlite: meter key %s/%s: %w", site, device, err)
	}
	k.Updated = fromMicros(t)
	return k, nil
}

// MeterKeys implements store.Store.
func (s *Store) MeterKeys(ctx context.Context, site, device string) ([]store.MeterKey, error) {
	ks, err := store.LoadMeterKeys(ctx, tx{s.r}, site, device)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return ks, nil
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	es, err := store.LoadAudit(ctx, tx{s.r}, f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return es, nil
}

// WithEvidence implements store.Store. The single writer connection and
// BEGIN IMMEDIATE serialise it with every other write.
func (s *Store) WithEvidence(ctx context.Context, _ string, _ []string, fn func(store.EvidenceTx) error) error {
	return s.write(ctx, "evidence", func(t store.Tx) error { return fn(store.NewEvidenceTx(t)) })
}

// Batches implements store.Store.
func (s *Store) Batches(ctx context.Context, f store.BatchFilter) ([]store.StoredBatch, error) {
	q := `SELECT gateway, epoch, seq, site, version, sent_at, received_at, body, body_sha256, sig, readings, events
		FROM batches WHERE gateway = ?`
	a := []any{f.Gateway}
	if !f.From.IsZero() {
		q, a = q+` AND sent_at >= ?`, append(a, micros(f.From))
	}
	if !f.To.IsZero() {
		q, a = q+` AND sent_at < ?`, append(a, micros(f.To))
	}
	q += ` ORDER BY epoch, seq`
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: batches of %q: %w", f.Gateway, err)
	}
	defer rows.Close()
	var out []store.StoredBatch
	for rows.Next() {
		var (
			b            store.StoredBatch
			seq, st, rcv int64
			h            []byte
		)
		if err := rows.Scan(&b.Gateway, &b.Epoch, &seq, &b.Site, &b.Version, &st, &rcv, &b.Body, &h, &b.Sig, &b.Readings, &b.Events); err != nil {
			return nil, fmt.Errorf("sqlite: batches of %q: %w", f.Gateway, err)
		}
		b.Seq, b.Sent, b.Received = uint64(seq), fromMicros(st), fromMicros(rcv)
		copy(b.BodySHA256[:], h)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: batches of %q: %w", f.Gateway, err)
	}
	return out, nil
}

// PruneRejections implements store.Store.
func (s *Store) PruneRejections(ctx context.Context, olderThan time.Time, maxBytes int64) (int64, error) {
	var n int64
	err := s.write(ctx, "prune rejections", func(t store.Tx) error {
		var err error
		n, err = store.PruneRejectionsTx(ctx, t, olderThan, maxBytes)
		return err
	})
	return n, err
}
