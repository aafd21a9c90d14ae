package outbox

import (
	"context"
	"fmt"
)

// Holes returns the holes above the acked head, declared or not.
func (o *Outbox) Holes() []Hole {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Hole
	for _, h := range o.holes {
		if h.To > o.acked {
			h.From = max(h.From, o.acked+1)
			out = append(out, h)
		}
	}
	return out
}

// DeclareGaps appends one gap record for every hole above the acked head
// that no gap record covers yet, so that the seqs are accounted for instead
// of missing: payload returns the exact bytes to store for the gap record
// with seq (a signed gap batch naming h.From..h.To); it is called as for
// Append. A seq is never handed out twice: the damaged records keep theirs
// and the gap record gets a new one at the head. It returns how many gap
// records it stored; on an error the holes not yet covered stay undeclared
// and a later call tries again.
func (o *Outbox) DeclareGaps(ctx context.Context, payload func(seq uint64, h Hole) ([]byte, error)) (int, error) {
	o.declareMu.Lock()
	defer o.declareMu.Unlock()
	n := 0
	for _, h := range o.Holes() {
		if h.Declared {
			continue
		}
		var prefix [gapPrefix]byte
		putU64(prefix[:], h.From)
		putU64(prefix[8:], h.To)
		seq, err := o.append(ctx, gapFlag, prefix[:], func(seq uint64) ([]byte, error) { return payload(seq, h) })
		if err != nil {
			return n, fmt.Errorf("declare gap %d..%d: %w", h.From, h.To, err)
		}
		o.mu.Lock()
		o.gaps = append(o.gaps, gapRec{seq: seq, from: h.From, to: h.To})
		for i := range o.holes {
			if g := &o.holes[i]; h.From <= g.From && g.To <= h.To || g.From <= h.From && h.To <= g.To {
				g.Declared = true
			}
		}
		o.mu.Unlock()
		o.log.Warn("outbox declared a gap: these seqs will never be sent", "from_seq", h.From, "to_seq", h.To, "reason", h.Reason, "gap_record_seq", seq)
		n++
	}
	return n, nil
}
