package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordOffset returns the offset of the record with seq in a segment of
// withSeq("a") records starting at first.
func recordOffset(data []byte, first, seq uint64) int {
	off := 0
	for s := first; s < seq; s++ {
		off += headerSize + int(getU32(data[off:])&0x7fffffff)
	}
	return off
}

// TestCorruptMiddleRecordKeepsIntactRecords: a damaged record in the
// middle of a segment costs that record only. Open resyncs on the next
// record boundary, every intact record before and after it is delivered,
// and the damaged seq is never handed out again.
func TestCorruptMiddleRecordKeepsIntactRecords(t *testing.T) {
	dir := t.TempDir()
	o, _ := open(t, dir, Options{})
	appendN(t, o, "a", 10)
	o.Close()
	seg := lastSegment(t, dir)
	data, _ := os.ReadFile(seg)
	off := recordOffset(data, 1, 5)
	data[off+headerSize] ^= 0x40 // one payload byte of seq 5
	os.WriteFile(seg, data, 0o600)

	o, _, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatalf("Open with one damaged record: %v", err)
	}
	defer o.Close()
	var got []string
	for r, err := range o.Pending(0, 3) {
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		if r.Seq <= 10 {
			got = append(got, string(r.Data))
		}
	}
	want := append(seqNames("a", 1, 4), seqNames("a", 6, 10)...)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("intact records (-want +got):\n%s", diff)
	}
	seq, err := o.Append(context.Background(), withSeq("b"))
	if err != nil || seq <= 10 {
		t.Fatalf("Append after recovery = %d, %v; want a seq above 10", seq, err)
	}
}

// TestBadCRCInLastRecordIsNotATornWrite: a complete last frame (length
// and payload all there) whose CRC fails is damage, not a torn write: its
// seq is not handed out again.
func TestBadCRCInLastRecordIsNotATornWrite(t *testing.T) {
	dir := t.TempDir()
	o, _ := open(t, dir, Options{})
	appendN(t, o, "a", 5)
	o.Close()
	seg := lastSegment(t, dir)
	data, _ := os.ReadFile(seg)
	data[len(data)-1] ^= 0x01 // last payload byte of seq 5
	os.WriteFile(seg, data, 0o600)

	o, _, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	seq, err := o.Append(context.Background(), withSeq("b"))
	if err != nil || seq == 5 {
		t.Fatalf("Append after a damaged last record = %d, %v: seq 5 reused", seq, err)
	}
}

// TestAckedSpaceIsFreed: once everything is acknowledged, the bytes on disk
// go, even while the segment being written is far below its roll size.
func TestAckedSpaceIsFreed(t *testing.T) {
	dir := t.TempDir()
	o, _ := open(t, dir, Options{})
	ctx := context.Background()
	payload := make([]byte, 10<<10)
	for range 100 { // 1 MiB
		if _, err := o.Append(ctx, fixed(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Ack(ctx, o.Head()); err != nil {
		t.Fatal(err)
	}
	// One more record and its ack: whatever was kept for the writer goes now.
	if _, err := o.Append(ctx, fixed(payload)); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(ctx, o.Head()); err != nil {
		t.Fatal(err)
	}
	if n := segBytes(t, dir); n > 64<<10 {
		t.Fatalf("%d bytes of segments on disk with everything acknowledged", n)
	}
}

func segBytes(t *testing.T, dir string) int64 {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	var n int64
	for _, p := range m {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

func TestEpoch(t *testing.T) {
	dir := t.TempDir()
	o, rep := open(t, dir, Options{})
	e := o.Epoch()
	if !rep.Created || len(e) != 32 || rep.Epoch != e {
		t.Fatalf("new outbox: epoch %q, report %+v", e, rep)
	}
	appendN(t, o, "a", 2)
	o.Close()
	o, rep = open(t, dir, Options{})
	if o.Epoch() != e || rep.Created {
		t.Fatalf("reopened: epoch %q (was %q), created %v", o.Epoch(), e, rep.Created)
	}
	o.Close()

	// Another directory is another epoch.
	o2, _ := open(t, t.TempDir(), Options{})
	if o2.Epoch() == e {
		t.Fatal("two outboxes share an epoch")
	}

	// An outbox from before epochs keeps the legacy epoch "".
	os.Remove(filepath.Join(dir, epochFile))
	o, rep = open(t, dir, Options{})
	if o.Epoch() != "" || rep.Created || rep.Head != 2 {
		t.Fatalf("legacy outbox: epoch %q, report %+v", o.Epoch(), rep)
	}
	o.Close()

	// A damaged epoch file stops Open: the records name their epoch.
	os.WriteFile(filepath.Join(dir, epochFile), []byte("parkgrid-outbox-epoch xyz\n"), 0o600)
	if _, _, err := Open(context.Background(), dir, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with a damaged epoch file = %v, want ErrCorrupt", err)
	}
}

// damage flips one payload byte of seq in dir's only segment.
func damage(t *testing.T, dir string, seq uint64) {
	t.Helper()
	seg := lastSegment(t, dir)
	data, _ := os.ReadFile(seg)
	data[recordOffset(data, 1, seq)+headerSize] ^= 0x40
	os.WriteFile(seg, data, 0o600)
}

func gapPayload(seq uint64, h Hole) ([]byte, error) {
	return fmt.Appendf(nil, "gap-%d:%d..%d", seq, h.From, h.To), nil
}

func TestDeclareGaps(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	o, _ := open(t, dir, Options{})
	appendN(t, o, "a", 8)
	o.Close()
	damage(t, dir, 3)
	damage(t, dir, 6)

	o, rep := open(t, dir, Options{})
	if len(rep.Holes) != 2 || o.Stats().Undeclared != 2 || o.Stats().Holes != 2 {
		t.Fatalf("holes %+v, stats %+v", rep.Holes, o.Stats())
	}
	n, err := o.DeclareGaps(ctx, gapPayload)
	if err != nil || n != 2 {
		t.Fatalf("DeclareGaps = %d, %v", n, err)
	}
	if n, _ := o.DeclareGaps(ctx, gapPayload); n != 0 {
		t.Fatalf("second DeclareGaps stored %d more", n)
	}
	if got := o.PendingGaps(); !slices.Equal(got, []uint64{9, 10}) {
		t.Fatalf("PendingGaps = %v, want [9 10]", got)
	}
	var got []string
	for r, err := range o.Pending(0, 4) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Gap != strings.HasPrefix(string(r.Data), "gap-") {
			t.Fatalf("record %d: gap %v, data %q", r.Seq, r.Gap, r.Data)
		}
		got = append(got, string(r.Data))
	}
	want := []string{"a-1", "a-2", "a-4", "a-5", "a-7", "a-8", "gap-9:3..3", "gap-10:6..6"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	o.Close()

	// Reopened: the same damage is found, and the gap records on disk say
	// it is declared already.
	o, rep = open(t, dir, Options{})
	for _, h := range rep.Holes {
		if !h.Declared {
			t.Fatalf("hole %+v not declared after reopen", h)
		}
	}
	if n, _ := o.DeclareGaps(ctx, gapPayload); n != 0 || o.Stats().Undeclared != 0 {
		t.Fatalf("DeclareGaps after reopen stored %d", n)
	}
	if seq, err := o.Append(ctx, withSeq("a")); err != nil || seq != 11 {
		t.Fatalf("Append = %d, %v; want 11", seq, err)
	}
	// Acked past the gap records, the holes are history.
	if err := o.Ack(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Holes != 0 || st.GapRecords != 0 || len(o.PendingGaps()) != 0 {
		t.Fatalf("stats after the ack: %+v", st)
	}
}

func TestHoldKeepsAckedSegments(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	o, _ := open(t, dir, Options{SegmentBytes: 64})
	appendN(t, o, "a", 10)
	release := o.Hold()
	if err := o.Ack(ctx, 10); err != nil {
		t.Fatal(err)
	}
	var stored []uint64
	for r, err := range o.Stored(1, 3) {
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, r.Seq)
	}
	if len(stored) != 10 {
		t.Fatalf("with a hold, Stored yields %v; want seqs 1..10 still on disk", stored)
	}
	release()
	appendN(t, o, "a", 1)
	if err := o.Ack(ctx, 11); err != nil {
		t.Fatal(err)
	}
	if got := o.Stats().Segments; got != 1 {
		t.Fatalf("%d segments after the release and an ack, want 1", got)
	}
}

func TestDiskFullRecoversWhenTruncateFailedToo(t *testing.T) {
	var (
		mu      sync.Mutex
		room    int64 = 100
		failing       = true
		noTrunc       = true
	)
	dir := t.TempDir()
	opts := Options{openSegment: func(path string) (segmentFile, error) {
		f, err := openOSSegment(path)
		if err != nil {
			return nil, err
		}
		return truncFailing{faultySegment{f, &mu, &room, &failing}, &mu, &noTrunc}, nil
	}}
	o, _ := open(t, dir, opts)
	ctx := context.Background()
	appendN(t, o, "a", 3)
	if _, err := o.Append(ctx, fixed(bytes.Repeat([]byte("y"), 200))); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append on a full disk = %v", err)
	}
	// Space comes back; the partial write is cut before the next commit.
	mu.Lock()
	failing, noTrunc = false, false
	mu.Unlock()
	appendN(t, o, "a", 2)
	if diff := cmp.Diff(seqNames("a", 1, 5), readAll(t, o)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	o.Close()
	_, rep := open(t, dir, Options{})
	if len(rep.Truncated) != 0 || len(rep.Holes) != 0 || rep.Head != 5 {
		t.Fatalf("reopen: %+v", rep)
	}
}

type truncFailing struct {
	faultySegment
	mu   *sync.Mutex
	fail *bool
}

func (f truncFailing) Truncate(n int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *f.fail {
		return syscall.EIO
	}
	return f.faultySegment.Truncate(n)
}

// FuzzRecover feeds arbitrary bytes to recovery as the last segment after
// good records: Open never fails or panics on them, never hands out a seq
// it found on disk, and every record it delivers verifies.
func FuzzRecover(f *testing.F) {
	f.Add([]byte{})
	f.Add(appendRecord(nil, 4, 0, nil, []byte("a-4")))
	f.Add(appendRecord(nil, 9, gapFlag, make([]byte, 16), []byte("gap")))
	f.Add(make([]byte, 600))
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 4, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		o, _, err := Open(context.Background(), dir, Options{MaxRecordBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, o, "a", 3)
		o.Close()
		seg := lastSegment(t, dir)
		fh, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		fh.Write(tail)
		fh.Close()
		o, rep, err := Open(context.Background(), dir, Options{MaxRecordBytes: 1 << 16})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer o.Close()
		if rep.Head < 3 {
			t.Fatalf("head %d below the 3 good records", rep.Head)
		}
		seen := map[uint64]bool{}
		for r, err := range o.Pending(0, 8) {
			if err != nil {
				t.Fatal(err)
			}
			if seen[r.Seq] || r.Seq > rep.Head {
				t.Fatalf("seq %d twice or above the head %d", r.Seq, rep.Head)
			}
			seen[r.Seq] = true
		}
		for s := uint64(1); s <= 3; s++ {
			if !seen[s] {
				t.Fatalf("good record %d lost", s)
			}
		}
		seq, err := o.Append(context.Background(), withSeq("b"))
		if err != nil || seq != rep.Head+1 {
			t.Fatalf("Append = %d, %v; head was %d", seq, err, rep.Head)
		}
	})
}

// TestAckedSpaceIsFreedWhileBusy: with records coming all the time, the
// ack is always a few records behind the head, so the segment being
// written is never all acknowledged; still, acknowledged bytes do not pile
// up in it beyond a quarter segment.
func TestAckedSpaceIsFreedWhileBusy(t *testing.T) {
	dir := t.TempDir()
	o, _ := open(t, dir, Options{SegmentBytes: 256 << 10})
	ctx := context.Background()
	payload := make([]byte, 4<<10)
	var most int64
	for i := range 1000 { // 4 MiB through a 256 KiB segment
		if _, err := o.Append(ctx, fixed(payload)); err != nil {
			t.Fatal(err)
		}
		if h := o.Head(); i > 3 {
			if err := o.Ack(ctx, h-3); err != nil {
				t.Fatal(err)
			}
		}
		most = max(most, segBytes(t, dir))
	}
	if most > 256<<10/2 {
		t.Fatalf("up to %d bytes of segments on disk with the ack 3 records behind", most)
	}
	t.Logf("at most %d bytes on disk", most)
}
