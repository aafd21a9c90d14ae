package outbox

import (
	"sync"
)

// Changed returns a channel that is closed when the durable head moves past
// its value at the time of the call. Get the channel before reading Head.
func (o *Outbox) Changed() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.changed
}

// Head returns the last durable seq (0 if none was ever stored).
func (o *Outbox) Head() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.head
}

// Acked returns the highest acknowledged seq.
func (o *Outbox) Acked() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked
}

// Stats returns a snapshot.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.pendingAllLocked()
	var holes, undeclared uint64
	for _, h := range o.holes {
		if h.To <= o.acked {
			continue
		}
		n := h.To - max(h.From, o.acked+1) + 1
		holes += n
		if !h.Declared {
			undeclared += n
		}
	}
	gaps := 0
	for _, g := range o.gaps {
		if g.seq > o.acked {
			gaps++
		}
	}
	var segBytes int64
	for _, s := range o.segs {
		segBytes += s.size
	}
	return Stats{
		Epoch:          o.epoch,
		Head:           o.head,
		Acked:          o.acked,
		PendingRecords: o.head - min(o.acked, o.head) - holes,
		PendingBytes:   p,
		MaxBytes:       o.opts.MaxBytes,
		AlarmBytes:     o.opts.AlarmBytes,
		Alarm:          o.alarm,
		Segments:       len(o.segs),
		SegmentBytes:   segBytes,
		Syncs:          o.syncs.Load(),
		Holes:          holes,
		Undeclared:     undeclared,
		GapRecords:     gaps,
		CommitErrors:   o.commitErrors.Load(),
	}
}

func (o *Outbox) updateAlarmLocked() {
	o.alarm = o.pendingAllLocked() >= o.opts.AlarmBytes
}

// pendingAllLocked counts durable unacknowledged bytes and those on their
// way to disk.
func (o *Outbox) pendingAllLocked() int64 {
	return o.pending + o.inCommit + int64(len(o.queue))
}

// reportAlarm calls OnAlarm if the alarm state changed since the last call.
// Callers hold no lock.
func (o *Outbox) reportAlarm() {
	o.alarmMu.Lock()
	defer o.alarmMu.Unlock()
	s := o.Stats()
	if s.Alarm == o.alarmed {
		return
	}
	o.alarmed = s.Alarm
	if s.Alarm {
		o.log.Warn("outbox above alarm threshold", "pending_bytes", s.PendingBytes, "alarm_bytes", s.AlarmBytes, "max_bytes", s.MaxBytes)
	} else {
		o.log.Info("outbox back below alarm threshold", "pending_bytes", s.PendingBytes, "alarm_bytes", s.AlarmBytes)
	}
	if o.opts.OnAlarm != nil {
		o.opts.OnAlarm(s)
	}
}

// pendingBytesLocked sums the bytes of durable records above acked.
func (o *Outbox) pendingBytesLocked() int64 {
	var n int64
	for _, s := range o.segs {
		if len(s.recs) == 0 || s.last() <= o.acked {
			continue
		}
		i := 0
		if s.first <= o.acked {
			i = int(o.acked + 1 - s.first)
		}
		for _, r := range s.recs[i:] {
			if r.off != holeOff {
				n += int64(r.end - r.off)
			}
		}
	}
	return n
}

// Hold keeps every segment on disk, acknowledged or not, until release is
// called: a caller that stored a record and has yet to note that elsewhere
// (edge/session) can still find it after a crash. Acks are persisted
// meanwhile; the deletions they allow happen at the next ack or roll after
// the release.
func (o *Outbox) Hold() (release func()) {
	o.mu.Lock()
	o.holds++
	o.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			o.mu.Lock()
			o.holds--
			o.mu.Unlock()
		})
	}
}
