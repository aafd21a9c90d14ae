package outbox

import (
	"context"
	"errors"
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
	Acked    uint64 // acked head read from disk
	Head     uint64 // last durable seq after recovery
	Segments int    // segment files kept
	Deleted  int    // fully acknowledged segments removed
	// Truncated lists torn tails cut off the last segment.
	Truncated []Truncation
}

// Truncation is one torn tail that Open cut off.
type Truncation struct {
	Segment string // file name
	Offset  int64  // new size: the end of the last good record
	Bytes   int64  // bytes removed
	// Why: "short record", "zero-filled record", "bad CRC" or "bad seq".
	Why string
	// Dropped counts valid-looking records found after the torn one; they
	// were never fdatasync'ed (see the package doc).
	Dropped int
}

// CorruptError is the *error Open returns for damage it will not repair.
type CorruptError struct {
	Segment    string // file name
	Offset     int64
	Seq        uint64 // seq expected at Offset
	Why        string
	Quarantine string // path of the copy, "" if copying failed too
}

func (e *CorruptError) Error() string {
	q := e.Quarantine
	if q == "" {
		q = "no copy made"
	}
	return fmt.Sprintf("outbox corrupt: segment %s offset %d (seq %d): %s; copy in %s", e.Segment, e.Offset, e.Seq, e.Why, q)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// recover reads acked, scans the segments and fills o's durable state.
func (o *Outbox) recover(ctx context.Context) (Report, error) {
	var rep Report
	acked, err := readAcked(filepath.Join(o.dir, "acked"))
	if err != nil {
		o.log.Warn("outbox acked file unreadable; everything on disk will be resent", "err", err)
	}
	o.acked = acked
	rep.Acked = acked

	names, err := listSegments(o.dir)
	if err != nil {
		return rep, err
	}
	var (
		segs     []*segment
		prevLast uint64 // last seq of the previous kept segment
	)
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("recover outbox: %w", err)
		}
		isLast := i == len(names)-1
		path := filepath.Join(o.dir, segName(n))
		// A segment followed by one whose first record is already
		// acknowledged holds only acknowledged records.
		if !isLast && names[i+1] <= acked+1 {
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				o.log.Warn("outbox remove acknowledged segment", "path", path, "err", err)
			} else {
				rep.Deleted++
			}
			continue
		}
		if len(segs) > 0 && n != prevLast+1 {
			return rep, o.corrupt(path, 0, prevLast+1, fmt.Sprintf("missing records: previous segment ends at seq %d, this one starts at %d", prevLast, n))
		}
		if len(segs) == 0 && n > acked+1 {
			// Segments are deleted only after the ack is persisted, so the
			// acked file was lost: everything below n is acknowledged.
			o.log.Warn("outbox acked head below the first segment; taking the segment's start", "acked", acked, "first_seq", n)
			acked = n - 1
			o.acked, rep.Acked = acked, acked
		}
		seg, tr, err := o.scanSegment(path, n, isLast)
		if err != nil {
			return rep, err
		}
		if tr != nil {
			rep.Truncated = append(rep.Truncated, *tr)
		}
		if !isLast && len(seg.offs) == 0 {
			return rep, o.corrupt(path, 0, n, "empty segment before the last")
		}
		segs = append(segs, seg)
		prevLast = seg.last()
	}
	if len(segs) > 0 && segs[len(segs)-1].last() < acked {
		// Ahead of everything on disk (segments removed by hand?): keep
		// the seqs above the ack, start a fresh segment.
		o.log.Warn("outbox acked head is beyond the stored records", "acked", acked, "last_seq", segs[len(segs)-1].last())
		segs = nil
	}
	if len(segs) == 0 {
		// Start a segment so the committer has one; its name keeps the
		// next seq above everything acknowledged.
		seg := &segment{first: acked + 1, path: filepath.Join(o.dir, segName(acked+1))}
		if err := createEmpty(seg.path, o.dir); err != nil {
			return rep, fmt.Errorf("outbox create segment: %w", err)
		}
		segs = append(segs, seg)
	}
	o.segs = segs
	o.head = segs[len(segs)-1].last()
	o.nextSeq = o.head + 1
	rep.Head = o.head
	rep.Segments = len(segs)
	for _, t := range rep.Truncated {
		o.log.Warn("outbox torn tail truncated", "segment", t.Segment, "offset", t.Offset, "bytes", t.Bytes, "why", t.Why, "dropped_records", t.Dropped)
	}
	return rep, nil
}

// scanSegment verifies one segment; a torn tail of the last segment is
// truncated.
func (o *Outbox) scanSegment(path string, first uint64, isLast bool) (*segment, *Truncation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("outbox read segment: %w", err)
	}
	seg := &segment{first: first, path: path}
	off, seq := 0, first
	var why string
	for off < len(data) {
		n, w := o.checkRecord(data, off, seq)
		if w != "" {
			why = w
			break
		}
		seg.offs = append(seg.offs, uint32(off))
		off += n
		seq++
	}
	seg.size = int64(off)
	if off == len(data) {
		return seg, nil, nil
	}
	torn := why == "short record" || why == "zero-filled record"
	dropped := o.countValidAfter(data, off+1, seq)
	if !isLast || (!torn && dropped > 0) {
		if !isLast {
			why += " in a segment that is not the last"
		} else {
			why += fmt.Sprintf(", followed by %d valid records", dropped)
		}
		return nil, nil, o.corrupt(path, int64(off), seq, why)
	}
	if err := truncateFile(path, int64(off)); err != nil {
		return nil, nil, fmt.Errorf("outbox truncate torn tail of %s at %d: %w", path, off, err)
	}
	return seg, &Truncation{Segment: filepath.Base(path), Offset: int64(off), Bytes: int64(len(data) - off), Why: why, Dropped: dropped}, nil
}

// checkRecord checks the record at off, which should carry seq. It returns
// the record's size, or why it is bad.
func (o *Outbox) checkRecord(data []byte, off int, seq uint64) (int, string) {
	rest := data[off:]
	if len(rest) < headerSize {
		return 0, "short record"
	}
	if allZero(rest[:headerSize]) {
		return 0, "zero-filled record"
	}
	n := int(getU32(rest))
	if n > o.opts.MaxRecordBytes {
		if hasZeroSector(data, off, len(data)) {
			return 0, "zero-filled record"
		}
		return 0, fmt.Sprintf("length %d above the limit", n)
	}
	if len(rest) < headerSize+n {
		return 0, "short record"
	}
	if crc := crc32.Update(0, castagnoli, rest[8:headerSize+n]); crc != getU32(rest[4:]) {
		if hasZeroSector(data, off, off+headerSize+n) {
			return 0, "zero-filled record"
		}
		return 0, "bad CRC"
	}
	if s := getU64(rest[8:]); s != seq {
		return 0, fmt.Sprintf("bad seq %d", s)
	}
	return headerSize + n, ""
}

// countValidAfter counts the records that verify when scanning resumes at
// the first offset ≥ from holding a valid record with a seq ≥ seq.
func (o *Outbox) countValidAfter(data []byte, from int, seq uint64) int {
	for off := from; off+headerSize <= len(data); off++ {
		s := getU64(data[off+8:])
		if s < seq || s > seq+1<<24 {
			continue
		}
		if _, w := o.checkRecord(data, off, s); w != "" {
			continue
		}
		count := 0
		for off < len(data) {
			n, w := o.checkRecord(data, off, s)
			if w != "" {
				break
			}
			count++
			off += n
			s++
		}
		return count
	}
	return 0
}

// corrupt copies the segment to quarantine/ and returns a *CorruptError.
func (o *Outbox) corrupt(path string, off int64, seq uint64, why string) error {
	e := &CorruptError{Segment: filepath.Base(path), Offset: off, Seq: seq, Why: why}
	qdir := filepath.Join(o.dir, "quarantine")
	q := filepath.Join(qdir, fmt.Sprintf("%s.%d", filepath.Base(path), o.opts.Now().UnixNano()))
	if err := copyFile(path, q, qdir); err != nil {
		o.log.Error("outbox quarantine copy", "path", path, "err", err)
	} else {
		e.Quarantine = q
	}
	o.log.Error("outbox corrupt; not opened", "segment", e.Segment, "offset", off, "seq", seq, "why", why, "quarantine", e.Quarantine)
	return e
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
