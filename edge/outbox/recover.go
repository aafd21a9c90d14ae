package outbox

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Report says what Open found and repaired.
type Report struct {
	Epoch    string // the outbox's epoch ("" for one made before epochs)
	Created  bool   // the directory held no outbox: a new epoch was made
	Acked    uint64 // acked head read from disk
	Head     uint64 // last durable seq after recovery
	Segments int    // segment files kept
	// Truncated lists torn tails cut off the last segment.
	Truncated []Truncation
	// Holes are seqs above Acked that cannot be delivered (damaged or
	// missing records), each with Declared set when a gap record on disk
	// already covers it. Intact records around them are delivered.
	Holes []Hole
}

// Truncation is one torn tail that Open cut off: a write that never
// completed (a short record, or one with a sector that never reached the
// disk). Its records were never durable, so nothing reached central.
type Truncation struct {
	Segment string // file name
	Offset  int64  // new size: the end of the last good record
	Bytes   int64  // bytes removed
	Why     string // "short record", "zero-filled record"
}

// Hole reasons (Hole.Reason); they match the gap reasons of edge/reading.
const (
	HoleCorrupt = "corrupt" // the records are on disk but fail their checks
	HoleMissing = "missing" // the records' segment file is gone
)

// Hole is a run of seqs the outbox cannot deliver.
type Hole struct {
	From, To uint64
	Reason   string // HoleCorrupt or HoleMissing
	Why      string // what was found, e.g. "bad CRC"
	Segment  string // file name; "" when the segment is missing
	Offset   int64  // where the damage starts in Segment
	Declared bool   // a gap record covers the run
}

// CorruptError is the *error Open returns when the outbox cannot be used at
// all (its epoch file is damaged).
type CorruptError struct {
	File string
	Why  string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("outbox corrupt: %s: %s", e.File, e.Why)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// recover reads the epoch and acked, scans every segment and fills o's
// durable state.
func (o *Outbox) recover(ctx context.Context) (Report, error) {
	var rep Report
	names, err := listSegments(o.dir)
	if err != nil {
		return rep, err
	}
	_, ackErr := os.Stat(filepath.Join(o.dir, "acked"))
	existing := len(names) > 0 || ackErr == nil
	o.epoch, rep.Created, err = loadEpoch(o.dir, existing, o.opts.newEpoch)
	if err != nil {
		return rep, err
	}
	rep.Epoch = o.epoch
	if !rep.Created && o.epoch == "" {
		o.log.Warn("outbox has no epoch file: an outbox from before epochs, kept as the legacy epoch \"\"", "dir", o.dir)
	}
	acked, err := readAcked(filepath.Join(o.dir, "acked"))
	if err != nil {
		o.log.Warn("outbox acked file unreadable; everything on disk will be resent", "err", err)
	}
	o.acked = acked
	rep.Acked = acked

	var (
		segs  []*segment
		holes []Hole
		gaps  []gapRec
		next  = acked + 1 // the seq the next segment should start at
	)
	if len(names) > 0 && names[0] < next {
		next = names[0]
	}
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("recover outbox: %w", err)
		}
		path := filepath.Join(o.dir, segName(n))
		if n > next {
			holes = append(holes, Hole{From: next, To: n - 1, Reason: HoleMissing, Why: "segment file missing"})
		}
		var limit uint64 // seqs of this segment stop below the next one's first
		isLast := i == len(names)-1
		if !isLast {
			limit = names[i+1]
		}
		sr, err := o.scanSegment(path, n, isLast, limit)
		if err != nil {
			return rep, err
		}
		if sr.trunc != nil {
			rep.Truncated = append(rep.Truncated, *sr.trunc)
		}
		holes = append(holes, sr.holes...)
		gaps = append(gaps, sr.gaps...)
		if len(sr.holes) > 0 && sr.seg.last() > acked {
			o.quarantine(path)
		}
		segs = append(segs, sr.seg)
		next = max(next, sr.seg.last()+1)
	}
	head := max(next-1, acked)
	if len(segs) == 0 || segs[len(segs)-1].sealed || segs[len(segs)-1].last() < acked {
		// Start a segment so the committer has one to append to; its name
		// keeps the next seq above everything stored or acknowledged.
		seg := &segment{first: head + 1, path: filepath.Join(o.dir, segName(head+1))}
		if err := createEmpty(seg.path, o.dir); err != nil {
			return rep, fmt.Errorf("outbox create segment: %w", err)
		}
		segs = append(segs, seg)
	}
	// Only what is above the ack matters.
	var kept []Hole
	for _, h := range holes {
		if h.To <= acked {
			continue
		}
		h.From = max(h.From, acked+1)
		for _, g := range gaps {
			if g.from <= h.From && h.To <= g.to {
				h.Declared = true
			}
		}
		kept = append(kept, h)
	}
	o.segs, o.holes, o.gaps = segs, kept, gaps
	o.head = head
	o.nextSeq = head + 1
	rep.Head, rep.Segments, rep.Holes = head, len(segs), kept
	for _, t := range rep.Truncated {
		o.log.Warn("outbox torn tail truncated (a write that never completed; nothing of it was durable)",
			"segment", t.Segment, "offset", t.Offset, "bytes", t.Bytes, "why", t.Why)
	}
	for _, h := range kept {
		o.log.Error("outbox records cannot be delivered; intact records around them are kept",
			"from_seq", h.From, "to_seq", h.To, "reason", h.Reason, "why", h.Why, "segment", h.Segment, "offset", h.Offset, "declared", h.Declared)
	}
	return rep, nil
}

// scanResult is what scanSegment found in one segment.
type scanResult struct {
	seg   *segment
	holes []Hole
	gaps  []gapRec
	trunc *Truncation
}

// scanSegment indexes one segment. Damaged records become hole spans and
// scanning resyncs on the next valid record; a torn tail of the last
// segment is truncated; complete frames that fail their CRC at the end of
// the last segment are holes, and the segment is sealed. limit (0: none) is
// the first seq of the next segment.
func (o *Outbox) scanSegment(path string, first uint64, isLast bool, limit uint64) (scanResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return scanResult{}, fmt.Errorf("outbox read segment: %w", err)
	}
	name := filepath.Base(path)
	seg := &segment{first: first, path: path}
	res := scanResult{seg: seg}
	hole := func(from, to uint64, why string, off int) {
		for range to - from + 1 {
			seg.recs = append(seg.recs, span{holeOff, holeOff})
		}
		res.holes = append(res.holes, Hole{From: from, To: to, Reason: HoleCorrupt, Why: why, Segment: name, Offset: int64(off)})
		seg.sealed = true
	}
	off, expect := 0, first
	for off < len(data) && (limit == 0 || expect < limit) {
		n, flags, why := o.checkRecord(data, off, expect)
		if why == "" {
			seg.recs = append(seg.recs, span{uint32(off), uint32(off + n)})
			if flags&gapFlag != 0 && n >= headerSize+gapPrefix {
				p := data[off+headerSize:]
				res.gaps = append(res.gaps, gapRec{seq: expect, from: getU64(p), to: getU64(p[8:])})
			}
			off += n
			expect++
			continue
		}
		// Resync: the next valid record with a seq at or above expect.
		if nOff, nSeq, ok := o.findNext(data, off, expect, limit); ok {
			if nSeq > expect {
				hole(expect, nSeq-1, why, off)
			} else {
				seg.sealed = true // stray bytes between records
			}
			off, expect = nOff, nSeq
			continue
		}
		if !isLast {
			// The rest of an older segment is damaged: its seqs up to the
			// next segment's first are lost.
			if limit > expect {
				hole(expect, limit-1, why, off)
			}
			off = len(data)
			break
		}
		// The tail of the last segment. A write that never completed
		// (short, or with a sector that never reached the disk) is torn:
		// never durable, cut. Complete frames that fail their CRC are
		// damage of durable records: holes.
		k, end := o.completeFrames(data, off)
		if k > 0 {
			hole(expect, expect+uint64(k)-1, why+" (complete record)", off)
			expect += uint64(k)
			off = end
		}
		if off < len(data) {
			tornWhy := why
			if k > 0 {
				_, _, tornWhy = o.checkRecord(data, off, expect)
			}
			if err := truncateFile(path, int64(off)); err != nil {
				return scanResult{}, fmt.Errorf("outbox truncate torn tail of %s at %d: %w", path, off, err)
			}
			res.trunc = &Truncation{Segment: name, Offset: int64(off), Bytes: int64(len(data) - off), Why: tornWhy}
			data = data[:off]
		}
		break
	}
	seg.size = int64(off)
	if off < len(data) && !isLast {
		seg.size = int64(len(data))
	}
	return res, nil
}

// checkRecord checks the record at off, which should carry seq. It returns
// the record's size and flags, or why it is bad.
func (o *Outbox) checkRecord(data []byte, off int, seq uint64) (int, uint32, string) {
	rest := data[off:]
	if len(rest) < headerSize {
		return 0, 0, "short record"
	}
	if allZero(rest[:headerSize]) {
		return 0, 0, "zero-filled record"
	}
	word := getU32(rest)
	n, flags := int(word&lengthMask), word&gapFlag
	if n > o.opts.MaxRecordBytes+gapPrefix {
		if hasZeroSector(data, off, len(data)) {
			return 0, 0, "zero-filled record"
		}
		return 0, 0, fmt.Sprintf("length %d above the limit", n)
	}
	if len(rest) < headerSize+n {
		return 0, 0, "short record"
	}
	if crc := crc32.Update(0, castagnoli, rest[8:headerSize+n]); crc != getU32(rest[4:]) {
		if hasZeroSector(data, off, off+headerSize+n) {
			return 0, 0, "zero-filled record"
		}
		return 0, 0, "bad CRC"
	}
	if s := getU64(rest[8:]); s != seq {
		return 0, 0, fmt.Sprintf("bad seq %d", s)
	}
	return headerSize + n, flags, ""
}

// findNext returns the first offset ≥ from holding a record that verifies
// with a seq in [seq, limit) (or any seq ≥ seq without a limit, up to 2^24
// ahead).
func (o *Outbox) findNext(data []byte, from int, seq, limit uint64) (int, uint64, bool) {
	hi := seq + 1<<24
	if limit != 0 {
		hi = min(hi, limit)
	}
	for off := from; off+headerSize <= len(data); off++ {
		s := getU64(data[off+8:])
		if s < seq || s >= hi {
			continue
		}
		if _, _, why := o.checkRecord(data, off, s); why == "" {
			return off, s, true
		}
	}
	return 0, 0, false
}

// completeFrames counts the frames from off whose header is there, whose
// length is plausible and whose bytes are all on disk with no zero-filled
// sector: records that were written whole. It returns how many and where
// they end.
func (o *Outbox) completeFrames(data []byte, off int) (int, int) {
	k := 0
	for off+headerSize <= len(data) {
		if allZero(data[off : off+headerSize]) {
			break
		}
		n := int(getU32(data[off:]) & lengthMask)
		if n > o.opts.MaxRecordBytes+gapPrefix || off+headerSize+n > len(data) || hasZeroSector(data, off, off+headerSize+n) {
			break
		}
		k++
		off += headerSize + n
	}
	return k, off
}

// quarantine keeps a copy of a damaged segment for the operator, once.
func (o *Outbox) quarantine(path string) {
	qdir := filepath.Join(o.dir, "quarantine")
	q := filepath.Join(qdir, filepath.Base(path))
	if _, err := os.Stat(q); err == nil {
		return
	}
	if err := copyFile(path, q, qdir); err != nil {
		o.log.Error("outbox quarantine copy", "path", path, "err", err)
		return
	}
	o.log.Warn("outbox copied a damaged segment for inspection", "segment", filepath.Base(path), "copy", q)
}

func copyFile(src, dst, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func createEmpty(path, dir string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncDir(dir)
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// listSegments returns the first seqs of the segment files, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("outbox list segments: %w", err)
	}
	var firsts []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil || len(name) != 20 || n == 0 {
			return nil, fmt.Errorf("outbox: unexpected segment file %s in %s", e.Name(), dir)
		}
		firsts = append(firsts, n)
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	return firsts, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// hasZeroSector reports whether data[from:to] covers a whole 512-byte
// file sector that is all zeros: a page that never reached the disk.
func hasZeroSector(data []byte, from, to int) bool {
	const sector = 512
	for s := (from + sector - 1) / sector * sector; s+sector <= to; s += sector {
		if allZero(data[s : s+sector]) {
			return true
		}
	}
	return false
}
