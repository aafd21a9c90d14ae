package outbox

import (
	"fmt"
	"hash/crc32"
	"iter"
	"os"
	"path/filepath"
)

// piece is a run of consecutive readable records in one segment.
type piece struct {
	path     string
	seq      uint64 // seq of the first record
	from, to int64  // byte range
	n        int
}

// ReadFrom returns up to max durable records with seq ≥ from, skipping
// acknowledged ones and holes, in seq order. It returns no records when
// there are none yet. Record.Data is freshly allocated and belongs to the
// caller. A record that no longer verifies on disk becomes a hole (to be
// declared, see DeclareGaps) and is skipped.
func (o *Outbox) ReadFrom(from uint64, max int) ([]Record, error) {
	return o.read(from, max, false)
}

// read reads records with seq ≥ from; with acked it also returns
// acknowledged records still on disk.
func (o *Outbox) read(from uint64, max int, acked bool) ([]Record, error) {
	if max <= 0 {
		return nil, nil
	}
	o.readMu.RLock()
	defer o.readMu.RUnlock()

	var pieces []piece
	o.mu.Lock()
	seq := from
	if !acked && seq <= o.acked {
		seq = o.acked + 1
	}
	left := max
	for _, s := range o.segs {
		if left == 0 || seq > o.head {
			break
		}
		if len(s.recs) == 0 || s.last() < seq {
			continue
		}
		if seq < s.first {
			seq = s.first
		}
		i := int(seq - s.first)
		var cur *piece
		for ; i < len(s.recs) && left > 0; i++ {
			r := s.recs[i]
			if r.off == holeOff {
				cur = nil
				continue
			}
			if cur == nil {
				pieces = append(pieces, piece{path: s.path, seq: s.first + uint64(i), from: int64(r.off)})
				cur = &pieces[len(pieces)-1]
			}
			cur.to = int64(r.end)
			cur.n++
			left--
		}
		seq = s.first + uint64(i)
	}
	o.mu.Unlock()

	recs := make([]Record, 0, max-left)
	for _, p := range pieces {
		buf := make([]byte, p.to-p.from)
		if err := readAt(p.path, buf, p.from); err != nil {
			return recs, err
		}
		for k, off := 0, 0; k < p.n; k++ {
			want := p.seq + uint64(k)
			if len(buf)-off < headerSize {
				o.holeAtRuntime(p.path, want, "short record on read")
				break
			}
			word := getU32(buf[off:])
			n := int(word & lengthMask)
			end := off + headerSize + n
			if end > len(buf) || crc32.Update(0, castagnoli, buf[off+8:end]) != getU32(buf[off+4:]) || getU64(buf[off+8:]) != want {
				o.holeAtRuntime(p.path, want, "record does not verify on read")
				if end > len(buf) {
					break
				}
				off = end
				continue
			}
			r := Record{Seq: want, Data: buf[off+headerSize : end : end]}
			if word&gapFlag != 0 && n >= gapPrefix {
				r.Gap, r.Data = true, r.Data[gapPrefix:]
			}
			recs = append(recs, r)
			off = end
		}
	}
	return recs, nil
}

// holeAtRuntime turns a record that stopped verifying into a hole.
func (o *Outbox) holeAtRuntime(path string, seq uint64, why string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range o.segs {
		if s.path != path || seq < s.first || seq > s.last() {
			continue
		}
		r := &s.recs[seq-s.first]
		if r.off == holeOff {
			return
		}
		off := int64(r.off)
		*r = span{holeOff, holeOff}
		o.holes = append(o.holes, Hole{From: seq, To: seq, Reason: HoleCorrupt, Why: why, Segment: filepath.Base(path), Offset: off})
		o.pending = o.pendingBytesLocked()
		o.log.Error("outbox record does not verify any more; it becomes a hole", "seq", seq, "segment", filepath.Base(path), "offset", off)
		return
	}
}

func readAt(path string, buf []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("outbox read %s: %w", path, err)
	}
	defer f.Close()
	if _, err := f.ReadAt(buf, off); err != nil {
		return fmt.Errorf("outbox read %s at %d: %w", path, off, err)
	}
	return nil
}

// Pending yields the durable records with seq ≥ from that are not
// acknowledged, up to the head at the time of the call, reading chunk
// records at a time. It stops at the first error, which it yields.
func (o *Outbox) Pending(from uint64, chunk int) iter.Seq2[Record, error] {
	return o.iterate(from, chunk, false)
}

// Stored yields every durable record with seq ≥ from still on disk,
// acknowledged or not (acknowledged segments go at the next ack or roll,
// see Hold), up to the head at the time of the call.
func (o *Outbox) Stored(from uint64, chunk int) iter.Seq2[Record, error] {
	return o.iterate(from, chunk, true)
}

func (o *Outbox) iterate(from uint64, chunk int, acked bool) iter.Seq2[Record, error] {
	if chunk <= 0 {
		chunk = 256
	}
	return func(yield func(Record, error) bool) {
		end := o.Head()
		for from <= end {
			recs, err := o.read(from, chunk, acked)
			if err != nil {
				yield(Record{}, err)
				return
			}
			if len(recs) == 0 {
				return
			}
			for _, r := range recs {
				if r.Seq > end {
					return
				}
				if !yield(r, nil) {
					return
				}
			}
			from = recs[len(recs)-1].Seq + 1
		}
	}
}

// PendingGaps returns the seqs of the gap records not yet acknowledged,
// ascending. A sender sends them before the rest of a backlog: central
// cannot acknowledge past a hole before its gap record arrives.
func (o *Outbox) PendingGaps() []uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []uint64
	for _, g := range o.gaps {
		if g.seq > o.acked && g.seq <= o.head {
			out = append(out, g.seq)
		}
	}
	return out
}
