package store

import (
	"context"
	"fmt"
	"time"
)

// Evidence is one accepted OCMF snapshot in the evidence index: what
// central knows of a meter's transaction pagination (PG "T<n>"), so that a
// new snapshot can be checked against the ones before and after it and
// against its session's other snapshots. The index is written when a
// snapshot passes the checks, before its batch is stored; a batch that is
// redelivered finds its own rows (same hash) and passes again.
type Evidence struct {
	Site    string
	Meter   string // the reading's device
	Page    int64  // n of "T<n>"
	Session string // the session the reading claims (and the record's ID)
	TX      string // the record's last reading's transaction letter: B, C, E …
	// ValueMilliWh is the last reading's energy register in mWh; nil when
	// the record carries no energy reading.
	ValueMilliWh *int64
	Time         time.Time // the last reading's time; zero when unreadable
	OCMFSHA256   [32]byte
	Gateway      string // the batch that brought it: gateway, epoch, seq
	Epoch        string
	Seq          uint64
	Index        int // the reading's index in its batch
}

// EvidenceTx reads and writes the evidence index inside WithEvidence.
type EvidenceTx interface {
	// Page returns the evidence of one page of a meter.
	Page(ctx context.Context, site, meter string, page int64) (Evidence, bool, error)
	// Neighbours returns the pages just below and above page.
	Neighbours(ctx context.Context, site, meter string, page int64) (prev, next *Evidence, err error)
	// Session returns a meter's pages of one session, by page.
	Session(ctx context.Context, site, meter, session string) ([]Evidence, error)
	// Insert adds a page.
	Insert(ctx context.Context, e Evidence) error
}

// EvidenceIndex is the evidence index: part of Store.
type EvidenceIndex interface {
	// WithEvidence runs fn in one transaction that holds the given meters
	// of site against every other WithEvidence (on any replica): checks
	// and inserts are atomic per call. fn's error rolls back and is
	// returned as is.
	WithEvidence(ctx context.Context, site string, meters []string, fn func(EvidenceTx) error) error
}

// NewEvidenceTx is the shared EvidenceTx over a transaction.
func NewEvidenceTx(tx Tx) EvidenceTx { return evidenceTx{tx} }

type evidenceTx struct{ tx Tx }

const evidenceCols = `site, meter, page, session, tx, value_mwh, t, ocmf_sha256, gateway, epoch, seq, idx`

func scanEvidence(r Rows) (Evidence, error) {
	var (
		e    Evidence
		v    *int64
		t    ScanTime
		h    []byte
		seq  int64
		page int64
	)
	if err := r.Scan(&e.Site, &e.Meter, &page, &e.Session, &e.TX, &v, &t, &h, &e.Gateway, &e.Epoch, &seq, &e.Index); err != nil {
		return Evidence{}, err
	}
	e.Page, e.ValueMilliWh, e.Time, e.Seq = page, v, t.T, uint64(seq)
	copy(e.OCMFSHA256[:], h)
	return e, nil
}

func (x evidenceTx) list(ctx context.Context, q string, args ...any) ([]Evidence, error) {
	var out []Evidence
	err := queryRows(ctx, x.tx, func(r Rows) error {
		e, err := scanEvidence(r)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	return out, nil
}

func (x evidenceTx) Page(ctx context.Context, site, meter string, page int64) (Evidence, bool, error) {
	es, err := x.list(ctx, `SELECT `+evidenceCols+` FROM evidence WHERE site = ? AND meter = ? AND page = ?`, site, meter, page)
	if err != nil || len(es) == 0 {
		return Evidence{}, false, err
	}
	return es[0], true, nil
}

func (x evidenceTx) Neighbours(ctx context.Context, site, meter string, page int64) (*Evidence, *Evidence, error) {
	prev, err := x.list(ctx, `SELECT `+evidenceCols+` FROM evidence WHERE site = ? AND meter = ? AND page < ? ORDER BY page DESC LIMIT 1`, site, meter, page)
	if err != nil {
		return nil, nil, err
	}
	next, err := x.list(ctx, `SELECT `+evidenceCols+` FROM evidence WHERE site = ? AND meter = ? AND page > ? ORDER BY page LIMIT 1`, site, meter, page)
	if err != nil {
		return nil, nil, err
	}
	var p, n *Evidence
	if len(prev) > 0 {
		p = &prev[0]
	}
	if len(next) > 0 {
		n = &next[0]
	}
	return p, n, nil
}

func (x evidenceTx) Session(ctx context.Context, site, meter, session string) ([]Evidence, error) {
	return x.list(ctx, `SELECT `+evidenceCols+` FROM evidence WHERE site = ? AND meter = ? AND session = ? ORDER BY page`, site, meter, session)
}

func (x evidenceTx) Insert(ctx context.Context, e Evidence) error {
	_, err := x.tx.Exec(ctx, `INSERT INTO evidence (`+evidenceCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Site, e.Meter, e.Page, e.Session, e.TX, e.ValueMilliWh, NullTime(e.Time), e.OCMFSHA256[:], e.Gateway, e.Epoch, int64(e.Seq), e.Index)
	if err != nil {
		return fmt.Errorf("evidence %s/%s T%d: %w", e.Site, e.Meter, e.Page, err)
	}
	return nil
}

// Archive is what exports and retention need: part of Store.
type Archive interface {
	// Batches returns a gateway's stored batches whose signed Sent time is
	// in [From, To), by epoch and seq.
	Batches(ctx context.Context, f BatchFilter) ([]StoredBatch, error)
	// PruneRejections applies the rejection log's retention: it deletes
	// rejections received before olderThan, then the oldest ones until the
	// stored messages take at most maxBytes (0: no size bound). It returns
	// how many it deleted.
	PruneRejections(ctx context.Context, olderThan time.Time, maxBytes int64) (int64, error)
}

// BatchFilter selects stored batches of one gateway.
type BatchFilter struct {
	Gateway  string // required
	From, To time.Time
	Limit    int // 0: no limit
}

// PruneRejectionsTx is PruneRejections over a transaction.
func PruneRejectionsTx(ctx context.Context, tx Tx, olderThan time.Time, maxBytes int64) (int64, error) {
	var deleted int64
	if !olderThan.IsZero() {
		n, err := tx.Exec(ctx, `DELETE FROM rejections WHERE received_at < ?`, olderThan)
		if err != nil {
			return 0, fmt.Errorf("prune rejections: %w", err)
		}
		deleted += n
	}
	if maxBytes <= 0 {
		return deleted, nil
	}
	// The newest row at which the messages kept, counted from the newest,
	// exceed maxBytes: it and everything older go.
	var cut []int64
	err := queryRows(ctx, tx, func(r Rows) error {
		var id int64
		if err := r.Scan(&id); err != nil {
			return err
		}
		cut = append(cut, id)
		return nil
	}, `SELECT id FROM (SELECT id, sum(length(head)) OVER (ORDER BY id DESC) AS kept FROM rejections) AS t
		WHERE kept > ? ORDER BY id DESC LIMIT 1`, maxBytes)
	if err != nil {
		return deleted, fmt.Errorf("prune rejections: %w", err)
	}
	if len(cut) > 0 {
		n, err := tx.Exec(ctx, `DELETE FROM rejections WHERE id <= ?`, cut[0])
		if err != nil {
			return deleted, fmt.Errorf("prune rejections: %w", err)
		}
		deleted += n
	}
	return deleted, nil
}
