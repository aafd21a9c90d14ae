package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Evidence binding. A valid meter signature says the meter made the
// record, not that it belongs where a batch puts it: an old begin snapshot
// re-sent under another session id verifies just as well. So, beyond the
// signature, every OCMF snapshot must be bound to the session it claims
// and consistent with what central holds of the same meter:
//
//   - the record's signed identification (ID), when it has one, is the
//     session the reading claims (session_mismatch);
//   - one transaction page (PG "T<n>") of a meter is one record of one
//     session: the same page with other bytes is refused
//     (evidence_conflict), the same bytes again (a redelivery) pass, but
//     only for the session they were first accepted for (session_mismatch;
//     so a record without identification is bound to the first session
//     that claims it);
//   - a session has one begin (B) and one end (E) record per meter
//     (evidence_conflict), the begin before the end in page, time and
//     meter reading (evidence_order);
//   - readings never decrease: a page's reading is at least the one of the
//     page below it and at most the one above (evidence_order), whatever
//     order the batches arrive in;
//   - within a record, the readings never decrease either.
//
// A gap in the pagination (T4 then T6) is not refused: batches arrive out
// of order and a meter also pages transactions the edge never saw. It is
// counted (evidence_gaps_total) and the auditor export lists it.
//
// The checks and the insert into the evidence index run in one store
// transaction that holds the batch's meters (store.WithEvidence), so two
// replicas cannot both accept two different T1 of one meter. A batch's
// snapshots are indexed when the batch passes its checks, before the group
// commit stores it: a redelivered batch finds its own records and passes
// again; a batch refused by the commit itself (replay_conflict: its seq is
// stored with other bytes, which only a misbehaving gateway causes) leaves
// its records in the index.

// bindError is a binding failure: the batch is rejected with reason.
type bindError struct {
	reason string
	err    error
}

func (e *bindError) Error() string { return e.err.Error() }
func (e *bindError) Unwrap() error { return e.err }

func refuse(reason, format string, args ...any) error {
	return &bindError{reason: reason, err: fmt.Errorf(format, args...)}
}

// snapshotEvidence is one snapshot of a batch, parsed for the checks.
type snapshotEvidence struct {
	e        store.Evidence
	indexed  bool // it has a T page, so it goes into the index
	readings []store.Evidence
}

// parseEvidence reads what the checks need from a verified record.
func parseEvidence(site string, b reading.Batch, i int, rec ocmf.Record) (snapshotEvidence, error) {
	r := b.Readings[i]
	f := rec.Fields
	if f.ID != "" && f.ID != r.Session {
		return snapshotEvidence{}, refuse(ReasonSessionMismatch,
			"reading %d: OCMF snapshot of meter %s/%s claims session %q but the meter signed identification %q", i, site, r.Device, r.Session, f.ID)
	}
	sx := snapshotEvidence{e: store.Evidence{
		Site: site, Meter: r.Device, Session: r.Session, OCMFSHA256: sha256.Sum256([]byte(r.OCMF)),
		Gateway: b.Gateway, Epoch: b.Epoch, Seq: b.Seq, Index: i,
	}}
	var last *int64
	for j, rd := range f.RD {
		v, ok := milliWh(rd)
		if ok {
			if last != nil && v < *last {
				return snapshotEvidence{}, refuse(ReasonEvidenceOrder, "reading %d: OCMF snapshot of meter %s/%s: reading %d (%d mWh) below reading %d (%d mWh)",
					i, site, r.Device, j, v, j-1, *last)
			}
			last = &v
		}
		if rd.TX != "" {
			sx.e.TX = rd.TX
		}
		if !rd.TM.Time.IsZero() {
			sx.e.Time = rd.TM.Time.UTC()
		}
	}
	sx.e.ValueMilliWh = last
	if n, ok := transactionPage(f.PG); ok && len(f.RD) > 0 {
		sx.e.Page, sx.indexed = n, true
	}
	return sx, nil
}

// milliWh is a reading's energy in mWh (rounded to Wh when finer).
func milliWh(rd ocmf.Reading) (int64, bool) {
	if v, err := rd.EnergyMilliWh(); err == nil {
		return v, true
	}
	if v, err := rd.EnergyWh(); err == nil {
		return v * 1000, true
	}
	return 0, false
}

// transactionPage reads "T<n>" (n ≥ 1).
func transactionPage(pg string) (int64, bool) {
	n, ok := strings.CutPrefix(strings.TrimSpace(pg), "T")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(n, 10, 64)
	return v, err == nil && v >= 1
}

// bind checks the batch's snapshots against the evidence index and
// records them, in one store transaction. A *bindError means the batch is
// refused; any other error is the store's.
func (in *Ingester) bind(ctx context.Context, site string, snaps []snapshotEvidence) error {
	var meters []string
	for _, s := range snaps {
		if s.indexed {
			meters = append(meters, s.e.Meter)
		}
	}
	if len(meters) == 0 {
		return nil
	}
	slices.Sort(meters)
	gaps := 0
	err := in.store.WithEvidence(ctx, site, slices.Compact(meters), func(tx store.EvidenceTx) error {
		gaps = 0
		for _, s := range snaps {
			if !s.indexed {
				continue
			}
			fresh, gap, err := checkAgainstIndex(ctx, tx, s.e)
			if err != nil {
				return err
			}
			if gap {
				gaps++
			}
			if fresh {
				if err := tx.Insert(ctx, s.e); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil && gaps > 0 {
		in.tm.evidenceGaps.Add(float64(gaps))
	}
	return err
}

// checkAgainstIndex checks one snapshot; fresh is false for a snapshot
// the index holds already (same bytes), gap is true when the page below
// it is not its predecessor.
func checkAgainstIndex(ctx context.Context, tx store.EvidenceTx, e store.Evidence) (fresh, gap bool, err error) {
	name := fmt.Sprintf("meter %s/%s T%d", e.Site, e.Meter, e.Page)
	have, ok, err := tx.Page(ctx, e.Site, e.Meter, e.Page)
	if err != nil {
		return false, false, err
	}
	if ok {
		if have.OCMFSHA256 == e.OCMFSHA256 && have.Session != e.Session {
			return false, false, refuse(ReasonSessionMismatch, "%s was accepted for session %q (gateway %s seq %d), now claimed for %q",
				name, have.Session, have.Gateway, have.Seq, e.Session)
		}
		if have.OCMFSHA256 == e.OCMFSHA256 {
			return false, false, nil
		}
		return false, false, refuse(ReasonEvidenceConflict, "%s is stored with other content (gateway %s seq %d reading %d); a page is one record",
			name, have.Gateway, have.Seq, have.Index)
	}
	prev, next, err := tx.Neighbours(ctx, e.Site, e.Meter, e.Page)
	if err != nil {
		return false, false, err
	}
	if prev != nil && below(e, *prev) {
		return false, false, refuse(ReasonEvidenceOrder, "%s reads %d mWh, below T%d's %d mWh: a meter register never decreases",
			name, *e.ValueMilliWh, prev.Page, *prev.ValueMilliWh)
	}
	if next != nil && below(*next, e) {
		return false, false, refuse(ReasonEvidenceOrder, "%s reads %d mWh, above T%d's %d mWh: a meter register never decreases",
			name, *e.ValueMilliWh, next.Page, *next.ValueMilliWh)
	}
	gap = prev != nil && prev.Page != e.Page-1 || prev == nil && e.Page != 1
	if e.Session == "" {
		return true, gap, nil
	}
	others, err := tx.Session(ctx, e.Site, e.Meter, e.Session)
	if err != nil {
		return false, false, err
	}
	for _, o := range others {
		switch {
		case o.TX == e.TX && (e.TX == "B" || e.TX == "E"):
			return false, false, refuse(ReasonEvidenceConflict, "%s: session %q already has a %s record (T%d)", name, e.Session, txName(e.TX), o.Page)
		case e.TX == "E" && o.TX == "B":
			if err := beginBeforeEnd(name, e.Session, o, e); err != nil {
				return false, false, err
			}
		case e.TX == "B" && o.TX == "E":
			if err := beginBeforeEnd(name, e.Session, e, o); err != nil {
				return false, false, err
			}
		}
	}
	return true, gap, nil
}

// below reports whether a's reading is below b's (both known).
func below(a, b store.Evidence) bool {
	return a.ValueMilliWh != nil && b.ValueMilliWh != nil && *a.ValueMilliWh < *b.ValueMilliWh
}

func beginBeforeEnd(name, session string, begin, end store.Evidence) error {
	switch {
	case begin.Page > end.Page:
		return refuse(ReasonEvidenceOrder, "%s: session %q ends at T%d, before its begin T%d", name, session, end.Page, begin.Page)
	case below(end, begin):
		return refuse(ReasonEvidenceOrder, "%s: session %q ends at %d mWh, below its begin's %d mWh", name, session, *end.ValueMilliWh, *begin.ValueMilliWh)
	case !begin.Time.IsZero() && !end.Time.IsZero() && end.Time.Before(begin.Time):
		return refuse(ReasonEvidenceOrder, "%s: session %q ends at %s, before its begin at %s", name, session, end.Time, begin.Time)
	}
	return nil
}

func txName(tx string) string {
	if tx == "B" {
		return "begin"
	}
	return "end"
}

// verifySnapshot checks an OCMF record against the meter's current key,
// then against its earlier keys: a record made before the meter got a new
// key verifies with the key it had then (its signed time before that key
// was retired).
func (in *Ingester) verifySnapshot(ctx context.Context, site string, r reading.Reading) error {
	key, err := in.keys.meter(ctx, site, r.Device)
	if err != nil {
		return err
	}
	first := in.verifier.VerifySnapshot(r.OCMF, key.PublicKey)
	if first == nil {
		return nil
	}
	history, err := in.store.MeterKeys(ctx, site, r.Device)
	if err != nil {
		return errTransient{err}
	}
	rec, perr := ocmf.Parse(r.OCMF)
	for _, k := range history {
		if k.Retired.IsZero() || k.PublicKey == key.PublicKey {
			continue
		}
		if in.verifier.VerifySnapshot(r.OCMF, k.PublicKey) != nil {
			continue
		}
		if perr == nil && recordBefore(rec, k.Retired) {
			return nil
		}
		return fmt.Errorf("signed with the meter's key retired at %s, for a reading not before that", k.Retired.Format("2006-01-02T15:04:05Z07:00"))
	}
	return first
}

// recordBefore reports whether rec's readings carry a time and all those
// times are before t.
func recordBefore(rec ocmf.Record, t time.Time) bool {
	seen := false
	for _, rd := range rec.Fields.RD {
		if rd.TM.Time.IsZero() {
			continue
		}
		if !rd.TM.Time.Before(t) {
			return false
		}
		seen = true
	}
	return seen
}

// rejectedBinding is the verdict for a binding failure.
func rejectedBinding(topic string, b reading.Batch, err error, msg []byte) verdict {
	reason := ReasonEvidenceOrder
	var be *bindError
	if errors.As(err, &be) {
		reason = be.reason
	}
	return rejected(topic, b.Gateway, b.Seq, reason, err, msg)
}

// bindRetrying is bind, retried with backoff while the store fails (as
// key lookups are), until ctx ends. A refusal is returned at once.
func (in *Ingester) bindRetrying(ctx context.Context, site string, snaps []snapshotEvidence) error {
	wait := 50 * time.Millisecond
	for {
		err := in.bind(ctx, site, snaps)
		var be *bindError
		if err == nil || errors.As(err, &be) || ctx.Err() != nil {
			return err
		}
		in.log.Warn("evidence index unavailable; retrying", "site", site, "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}
