package store

import (
	"context"
	"fmt"
	"time"
)

// Stream is one outbox epoch of one gateway: the unit in which seqs are
// gap-free (contract v2, edge/reading).
type Stream struct {
	Gateway string
	Epoch   string
}

// Progress is what central holds of one stream.
type Progress struct {
	Stream
	// Contiguous: every seq 1..Contiguous is stored or declared lost by a
	// stored gap record. It is what central acknowledges.
	Contiguous uint64
	MaxSeq     uint64 // highest seq stored
	Held       uint64 // batches stored (gap records included)
	Declared   uint64 // seqs named by stored gap records (lost on the edge)
	GapRecords uint64 // gap records stored
	FirstSeen  time.Time
	LastSeen   time.Time // when a batch of the stream last arrived (repeats included)
}

// Gap is one stored gap record: the edge declared seqs From..To of its
// epoch lost.
type Gap struct {
	Stream
	Seq      uint64 // the gap record's own seq
	From, To uint64
	Reason   string // reading.Gap* code
	Detail   string
	Received time.Time
}

// ProgressFilter selects streams; empty matches every gateway.
type ProgressFilter struct {
	Gateway string
}

// Completeness is central's account of what it holds: part of Store.
type Completeness interface {
	// Progress returns what is held per gateway and epoch, by gateway and
	// first arrival.
	Progress(ctx context.Context, f ProgressFilter) ([]Progress, error)
	// Gaps returns the gap records of a gateway (every epoch when epoch is
	// nil), by epoch and seq.
	Gaps(ctx context.Context, gateway string, epoch *string) ([]Gap, error)
}

// StreamWrite is what one SaveBatches transaction did to one stream.
type StreamWrite struct {
	Stream
	Inserted int    // new batches
	MaxSeq   uint64 // their highest seq (0: none)
	Gaps     []Gap  // gap records among them
}

// Writes sums the plan's new batches per stream; inserted says which keys
// this transaction inserted.
func (p *Plan) Writes(inserted func(Key) bool) []StreamWrite {
	idx := make(map[Stream]int, len(p.Streams))
	out := make([]StreamWrite, len(p.Streams))
	for i, s := range p.Streams {
		idx[s] = i
		out[i].Stream = s
	}
	for _, i := range p.Write {
		it := p.Items[i]
		k := it.Key()
		if !inserted(k) {
			continue
		}
		w := &out[idx[k.Stream()]]
		w.Inserted++
		w.MaxSeq = max(w.MaxSeq, it.Seq)
		if g := it.Batch.Gap; g != nil {
			w.Gaps = append(w.Gaps, Gap{Stream: k.Stream(), Seq: it.Seq, From: g.From, To: g.To, Reason: g.Reason, Detail: g.Detail})
		}
	}
	return out
}

// AdvanceTx does, inside a SaveBatches transaction after the batch rows are
// written, what the streams' progress needs: it stores the new gap records,
// counts the new batches, and moves each stream's contiguous seq through
// stored and declared seqs. The gateway_seq rows exist and are locked.
func AdvanceTx(ctx context.Context, tx Tx, now time.Time, ws []StreamWrite) error {
	for _, w := range ws {
		var declared uint64
		for _, g := range w.Gaps {
			if _, err := tx.Exec(ctx, `INSERT INTO gaps (gateway, epoch, gap_seq, from_seq, to_seq, reason, detail, received_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				w.Gateway, w.Epoch, int64(g.Seq), int64(g.From), int64(g.To), g.Reason, g.Detail, now); err != nil {
				return fmt.Errorf("gap record %s/%s seq %d: %w", w.Gateway, w.Epoch, g.Seq, err)
			}
			declared += g.To - g.From + 1
		}
		if _, err := tx.Exec(ctx, `UPDATE gateway_seq SET held = held + ?,
				max_seq = CASE WHEN max_seq < ? THEN ? ELSE max_seq END,
				declared = declared + ?, gap_records = gap_records + ?,
				first_seen = coalesce(first_seen, ?), last_seen = ?
			WHERE gateway = ? AND epoch = ?`,
			w.Inserted, int64(w.MaxSeq), int64(w.MaxSeq), int64(declared), len(w.Gaps), now, now, w.Gateway, w.Epoch); err != nil {
			return fmt.Errorf("gateway_seq %s/%s: %w", w.Gateway, w.Epoch, err)
		}
		if w.Inserted == 0 {
			continue
		}
		if err := advance(ctx, tx, w.Stream); err != nil {
			return err
		}
	}
	return nil
}

// advanceStored moves gateway_seq.contiguous of one stream to the end of
// the gap-free run of stored seqs that follows it.
const advanceStored = `UPDATE gateway_seq AS gs SET contiguous = (
		SELECT coalesce(max(t.seq), gs.contiguous) FROM (
			SELECT b.seq, b.seq - row_number() OVER (ORDER BY b.seq) AS d
			FROM batches b WHERE b.gateway = gs.gateway AND b.epoch = gs.epoch AND b.seq > gs.contiguous) t
		WHERE t.d = gs.contiguous)
	WHERE gs.gateway = ? AND gs.epoch = ?`

// advance moves a stream's contiguous seq through stored batches and the
// ranges of stored gap records, alternately, until neither goes further.
func advance(ctx context.Context, tx Tx, s Stream) error {
	for range 1 << 16 {
		if _, err := tx.Exec(ctx, advanceStored, s.Gateway, s.Epoch); err != nil {
			return fmt.Errorf("advance %s/%s: %w", s.Gateway, s.Epoch, err)
		}
		var (
			jump  int64
			found bool
		)
		err := queryRows(ctx, tx, func(r Rows) error {
			var v *int64
			if err := r.Scan(&v); err != nil {
				return err
			}
			if v != nil {
				jump, found = *v, true
			}
			return nil
		}, `SELECT max(g.to_seq) FROM gaps g JOIN gateway_seq gs ON gs.gateway = g.gateway AND gs.epoch = g.epoch
			WHERE g.gateway = ? AND g.epoch = ? AND g.from_seq <= gs.contiguous + 1 AND g.to_seq > gs.contiguous`, s.Gateway, s.Epoch)
		if err != nil {
			return fmt.Errorf("advance %s/%s over gaps: %w", s.Gateway, s.Epoch, err)
		}
		if !found {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE gateway_seq SET contiguous = ? WHERE gateway = ? AND epoch = ?`, jump, s.Gateway, s.Epoch); err != nil {
			return fmt.Errorf("advance %s/%s over gaps: %w", s.Gateway, s.Epoch, err)
		}
	}
	return fmt.Errorf("advance %s/%s: too many gaps", s.Gateway, s.Epoch)
}

// ContiguousTx returns a stream's contiguous seq (0 when it has none).
func ContiguousTx(ctx context.Context, tx Tx, gateway, epoch string) (uint64, error) {
	var n int64
	err := queryRows(ctx, tx, func(r Rows) error { return r.Scan(&n) },
		`SELECT contiguous FROM gateway_seq WHERE gateway = ? AND epoch = ?`, gateway, epoch)
	if err != nil {
		return 0, fmt.Errorf("contiguous seq of %s/%s: %w", gateway, epoch, err)
	}
	return uint64(n), nil
}

// ProgressTx implements Completeness.Progress over tx.
func ProgressTx(ctx context.Context, tx Tx, f ProgressFilter) ([]Progress, error) {
	q := `SELECT gateway, epoch, contiguous, max_seq, held, declared, gap_records, first_seen, last_seen FROM gateway_seq`
	var args []any
	if f.Gateway != "" {
		q += ` WHERE gateway = ?`
		args = append(args, f.Gateway)
	}
	q += ` ORDER BY gateway, first_seen, epoch`
	var out []Progress
	err := queryRows(ctx, tx, func(r Rows) error {
		var (
			p             Progress
			c, m, h, d, g int64
			first, last   ScanTime
		)
		if err := r.Scan(&p.Gateway, &p.Epoch, &c, &m, &h, &d, &g, &first, &last); err != nil {
			return err
		}
		p.Contiguous, p.MaxSeq, p.Held, p.Declared, p.GapRecords = uint64(c), uint64(m), uint64(h), uint64(d), uint64(g)
		p.FirstSeen, p.LastSeen = first.T, last.T
		out = append(out, p)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("progress: %w", err)
	}
	return out, nil
}

// GapsTx implements Completeness.Gaps over tx.
func GapsTx(ctx context.Context, tx Tx, gateway string, epoch *string) ([]Gap, error) {
	q := `SELECT gateway, epoch, gap_seq, from_seq, to_seq, reason, detail, received_at FROM gaps WHERE gateway = ?`
	args := []any{gateway}
	if epoch != nil {
		q += ` AND epoch = ?`
		args = append(args, *epoch)
	}
	q += ` ORDER BY epoch, gap_seq`
	var out []Gap
	err := queryRows(ctx, tx, func(r Rows) error {
		var (
			g        Gap
			s, f, to int64
			t        ScanTime
		)
		if err := r.Scan(&g.Gateway, &g.Epoch, &s, &f, &to, &g.Reason, &g.Detail, &t); err != nil {
			return err
		}
		g.Seq, g.From, g.To, g.Received = uint64(s), uint64(f), uint64(to), t.T
		out = append(out, g)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("gaps of %s: %w", gateway, err)
	}
	return out, nil
}
