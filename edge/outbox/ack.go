package outbox

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"slices"
)

const ackSlotSize = 16

// Ack records that central durably stored every seq up to and including
// seq. It persists the head (fdatasync) before it returns, then deletes the
// segments whose records are all acknowledged. An older or equal seq is a
// no-op; a seq beyond Head is refused with ErrAckAhead.
func (o *Outbox) Ack(ctx context.Context, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("outbox ack %d: %w", seq, err)
	}
	o.ackMu.Lock()
	defer o.ackMu.Unlock()

	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return ErrClosed
	}
	if seq > o.head {
		head := o.head
		o.mu.Unlock()
		return fmt.Errorf("%w: ack %d, head %d", ErrAckAhead, seq, head)
	}
	if seq > o.acked {
		o.acked = seq
		o.pending = o.pendingBytesLocked()
		o.updateAlarmLocked()
	}
	o.mu.Unlock()
	o.reportAlarm()

	if seq <= o.ackSaved {
		return nil
	}
	if err := o.saveAck(seq); err != nil {
		return err
	}
	o.ackSaved = seq
	o.mu.Lock()
	if last := o.segs[len(o.segs)-1]; len(last.recs) > 0 && (last.last() <= seq || ackedBytes(last, seq) >= o.opts.SegmentBytes/4) {
		// Everything, or a quarter segment's worth, is acknowledged: start
		// a new segment at the next commit, so this one goes (once the
		// rest is acknowledged) instead of waiting to fill up. Acknowledged
		// bytes stay on disk for a quarter segment at most, also while
		// records keep coming and the ack is always a few records behind.
		o.retire = true
	}
	o.mu.Unlock()
	o.deleteAcked()
	return nil
}

// deleteAcked deletes the segments, but the last, whose records are all
// acknowledged, unless a Hold is in force.
func (o *Outbox) deleteAcked() {
	o.readMu.Lock()
	defer o.readMu.Unlock()
	o.mu.Lock()
	if o.holds > 0 {
		o.mu.Unlock()
		return
	}
	var gone []*segment
	keep := o.segs[:0]
	for i, s := range o.segs {
		if i < len(o.segs)-1 && s.last() <= o.acked {
			gone = append(gone, s)
			continue
		}
		keep = append(keep, s)
	}
	for i := len(keep); i < len(o.segs); i++ {
		o.segs[i] = nil
	}
	o.segs = keep
	o.holes = slices.DeleteFunc(o.holes, func(h Hole) bool { return h.To <= o.acked })
	o.gaps = slices.DeleteFunc(o.gaps, func(g gapRec) bool { return g.seq <= o.acked })
	o.mu.Unlock()
	var errs []error
	for _, s := range gone {
		if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// The ack itself is durable; leftovers go at the next ack or roll.
		o.log.Warn("outbox remove acknowledged segments", "err", errors.Join(errs...))
	}
}

// saveAck writes seq into the next slot of the acked file and fdatasyncs.
func (o *Outbox) saveAck(seq uint64) error {
	var b [ackSlotSize]byte
	putU64(b[:], seq)
	putU32(b[8:], crc32.Checksum(b[:8], castagnoli))
	o.ackSlot ^= 1
	if _, err := o.ackFile.WriteAt(b[:], int64(o.ackSlot*ackSlotSize)); err != nil {
		return fmt.Errorf("outbox persist ack %d: %w", seq, err)
	}
	if err := datasync(o.ackFile); err != nil {
		return fmt.Errorf("outbox persist ack %d: fdatasync: %w", seq, err)
	}
	return nil
}

// readAcked returns the larger valid slot of the acked file (0 if none).
func readAcked(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	var best uint64
	valid := 0
	for off := 0; off+ackSlotSize <= len(b); off += ackSlotSize {
		s := b[off : off+ackSlotSize]
		if crc32.Checksum(s[:8], castagnoli) != getU32(s[8:]) {
			continue
		}
		valid++
		best = max(best, getU64(s))
	}
	if valid == 0 && len(b) > 0 {
		return 0, fmt.Errorf("read %s: no valid slot in %d bytes", path, len(b))
	}
	return best, nil
}

// ackedBytes is how many bytes of segment s hold records at or below
// acked.
func ackedBytes(s *segment, acked uint64) int64 {
	if acked < s.first || len(s.recs) == 0 {
		return 0
	}
	if acked >= s.last() {
		return s.size
	}
	for i := int(acked - s.first); i >= 0; i-- {
		if r := s.recs[i]; r.off != holeOff {
			return int64(r.end)
		}
	}
	return 0
}
