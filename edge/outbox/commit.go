package outbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// commitLoop is the committer: it owns the write side of the last segment.
func (o *Outbox) commitLoop() {
	defer o.wg.Done()
	var w segmentFile
	defer func() {
		if w != nil {
			if err := w.Close(); err != nil {
				o.log.Error("outbox close segment", "err", err)
			}
		}
	}()
	var (
		spare     []byte
		lastGroup int // appenders released by the previous commit
	)
	for {
		stopping := false
		select {
		case <-o.kick:
		case <-o.stop:
			stopping = true
		}
		for {
			// The appenders the previous commit released usually append
			// again at once: give them a few scheduler turns to join this
			// group. An fdatasync costs far more than a yield.
			for range 8 {
				o.mu.Lock()
				n := len(o.waiters)
				o.mu.Unlock()
				if n == 0 || n >= lastGroup {
					break
				}
				runtime.Gosched()
			}
			o.mu.Lock()
			if len(o.waiters) == 0 {
				o.mu.Unlock()
				break
			}
			buf, recs, ws := o.queue, o.queueRecs, o.waiters
			first := ws[0].seq
			o.queue, o.queueRecs, o.waiters = spare[:0], nil, nil
			o.inCommit = int64(len(buf))
			seg := o.segs[len(o.segs)-1]
			segSize := seg.size
			roll := seg.size > 0 && (seg.sealed || o.retire || seg.size >= o.opts.SegmentBytes)
			o.mu.Unlock()

			var (
				err    error
				rolled bool
			)
			w, seg, rolled, err = o.commit(w, seg, segSize, roll, first, buf)

			o.mu.Lock()
			o.inCommit = 0
			if err == nil {
				for _, r := range recs {
					seg.recs = append(seg.recs, span{uint32(seg.size) + r.off, uint32(seg.size) + r.end})
				}
				seg.size += int64(len(buf))
				o.head = ws[len(ws)-1].seq
				o.syncs.Add(1)
				o.pending += int64(len(buf))
				close(o.changed)
				o.changed = make(chan struct{})
			} else {
				// Everything queued behind the failed group carries seqs
				// that would now leave a gap: fail it too and offer the
				// seqs again (none of them was ever durable or visible).
				o.commitErrors.Add(1)
				ws = append(ws, o.waiters...)
				o.queue, o.queueRecs, o.waiters = o.queue[:0], nil, nil
				o.nextSeq = o.head + 1
			}
			o.updateAlarmLocked()
			o.mu.Unlock()
			lastGroup = len(ws)
			for _, x := range ws {
				x.done <- err
			}
			spare = buf
			if rolled {
				o.deleteAcked()
			}
			o.reportAlarm()
		}
		if stopping {
			return
		}
	}
}

// commit writes one group of records (first seq first) to the last segment,
// rolling to a new segment first when roll says so, and fdatasyncs. On
// failure it truncates back to the durable size. It returns the writer and
// segment to use next, and whether it rolled.
func (o *Outbox) commit(w segmentFile, seg *segment, segSize int64, roll bool, first uint64, buf []byte) (segmentFile, *segment, bool, error) {
	rolled := false
	if roll {
		if w != nil {
			if err := w.Close(); err != nil {
				o.log.Warn("outbox close full segment", "path", seg.path, "err", err)
			}
			w = nil
		}
		next := &segment{first: first, path: filepath.Join(o.dir, segName(first))}
		nw, err := o.opts.openSegment(next.path)
		if err != nil {
			return nil, seg, false, o.ioError("create segment", next.path, err)
		}
		if err := syncDir(o.dir); err != nil {
			nw.Close()
			os.Remove(next.path)
			return nil, seg, false, o.ioError("sync directory", o.dir, err)
		}
		w, seg, segSize, rolled = nw, next, 0, true
		o.mu.Lock()
		o.segs = append(o.segs, seg)
		o.retire = false
		o.dirty = false
		o.mu.Unlock()
	}
	if w == nil {
		nw, err := o.opts.openSegment(seg.path)
		if err != nil {
			return nil, seg, rolled, o.ioError("open segment", seg.path, err)
		}
		w = nw
	}
	o.mu.Lock()
	dirty := o.dirty
	o.mu.Unlock()
	if dirty {
		// An earlier failed group is still in the file: cut it first.
		if err := w.Truncate(segSize); err != nil {
			return w, seg, rolled, o.ioError("truncate segment", seg.path, err)
		}
		if err := w.Datasync(); err != nil {
			return w, seg, rolled, o.ioError("fdatasync segment", seg.path, err)
		}
		o.mu.Lock()
		o.dirty = false
		o.mu.Unlock()
	}
	_, err := w.Write(buf)
	if err == nil {
		err = w.Datasync()
		if err != nil {
			err = o.ioError("fdatasync segment", seg.path, err)
		}
	} else {
		err = o.ioError("write segment", seg.path, err)
	}
	if err == nil {
		return w, seg, rolled, nil
	}
	if terr := w.Truncate(segSize); terr != nil {
		o.markDirty()
	} else if serr := w.Datasync(); serr != nil {
		o.markDirty()
	}
	return w, seg, rolled, err
}

func (o *Outbox) markDirty() {
	o.mu.Lock()
	o.dirty = true
	o.mu.Unlock()
}

func (o *Outbox) ioError(what, path string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %s %s: %w", ErrNoSpace, what, path, err)
	}
	return fmt.Errorf("outbox %s %s: %w", what, path, err)
}
