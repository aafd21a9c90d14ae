package outbox

import (
	"fmt"
	"hash/crc32"
	"iter"
	"os"
)

// ReadFrom returns up to max durable records with seq ≥ from, skipping
// acknowledged ones, in seq order. It returns no records when there are none
// yet. Record.Data is freshly allocated and belongs to the caller.
func (o *Outbox) ReadFrom(from uint64, max int) ([]Record, error) {
	if max <= 0 {
		return nil, nil
	}
	o.readMu.RLock()
	defer o.readMu.RUnlock()

	type piece struct {
		path     string
		seq      uint64 // seq at from
		from, to int64
		n        int
	}
	var pieces []piece
	o.mu.Lock()
	seq := from
	if seq <= o.acked {
		seq = o.acked + 1
	}
	left := max
	for _, s := range o.segs {
		if left == 0 || seq > o.head {
			break
		}
		if len(s.offs) == 0 || s.last() < seq {
			continue
		}
		i := int(seq - s.first)
		j := min(len(s.offs), i+left)
		p := piece{path: s.path, seq: seq, from: int64(s.offs[i]), n: j - i}
		if j == len(s.offs) {
			p.to = s.size
		} else {
			p.to = int64(s.offs[j])
		}
		pieces = append(pieces, p)
		left -= p.n
		seq += uint64(p.n)
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
				return recs, fmt.Errorf("%w: %s: short record at seq %d", ErrCorrupt, p.path, want)
			}
			n := int(getU32(buf[off:]))
			end := off + headerSize + n
			if end > len(buf) || crc32.Update(0, castagnoli, buf[off+8:end]) != getU32(buf[off+4:]) || getU64(buf[off+8:]) != want {
				return recs, fmt.Errorf("%w: %s: record seq %d does not verify on read", ErrCorrupt, p.path, want)
			}
			recs = append(recs, Record{Seq: want, Data: buf[off+headerSize : end : end]})
			off = end
		}
	}
	return recs, nil
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
	if chunk <= 0 {
		chunk = 256
	}
	return func(yield func(Record, error) bool) {
		end := o.Head()
		for from <= end {
			recs, err := o.ReadFrom(from, chunk)
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
