package modbus

import (
	"slices"
	"time"
)

// Stats is a snapshot of a bus's counters since it was made.
type Stats struct {
	Requests    uint64 // requests the bus executed (sent, or refused during backoff)
	Errors      uint64 // requests that failed, for any reason below or another
	Timeouts    uint64 // requests without a reply in time
	Exceptions  uint64 // Modbus exception replies
	Preempted   uint64 // requests interrupted for a priority unit's request
	Quarantined uint64 // requests refused at once: their unit timed out again and again
	Reconnects  uint64 // successful dials after the connection had been lost
	DialErrors  uint64 // failed dials
	Latency     Histogram
}

// Histogram holds request latencies (send to reply, dial excluded) of the
// requests that got a reply.
type Histogram struct {
	// Bounds are the buckets' upper bounds, ascending.
	Bounds []time.Duration
	// Counts[i] counts latencies in (Bounds[i-1], Bounds[i]];
	// Counts[len(Bounds)] those above the last bound.
	Counts []uint64
	Count  uint64        // all observations
	Sum    time.Duration // sum of all observations
}

func newHistogram() Histogram {
	bounds := []time.Duration{
		250 * time.Microsecond, 500 * time.Microsecond,
		time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
		10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second,
	}
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds)+1)}
}

func (h *Histogram) observe(d time.Duration) {
	i, _ := slices.BinarySearch(h.Bounds, d) // first bound >= d
	h.Counts[i]++
	h.Count++
	h.Sum += d
}

func (h Histogram) clone() Histogram {
	h.Bounds = slices.Clone(h.Bounds)
	h.Counts = slices.Clone(h.Counts)
	return h
}

// Stats returns a snapshot of the counters; safe to call at any time.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Latency = s.Latency.clone()
	return s
}
