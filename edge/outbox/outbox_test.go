package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func open(t testing.TB, dir string, opts Options) (*Outbox, Report) {
	t.Helper()
	o, rep, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { o.Close() })
	return o, rep
}

func fixed(b []byte) func(uint64) ([]byte, error) {
	return func(uint64) ([]byte, error) { return b, nil }
}

// withSeq is a payload that names its seq, as a sealed batch does.
func withSeq(tag string) func(uint64) ([]byte, error) {
	return func(seq uint64) ([]byte, error) { return fmt.Appendf(nil, "%s-%d", tag, seq), nil }
}

func appendN(t testing.TB, o *Outbox, tag string, n int) {
	t.Helper()
	for range n {
		if _, err := o.Append(context.Background(), withSeq(tag)); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}

func readAll(t testing.TB, o *Outbox) []string {
	t.Helper()
	var got []string
	for r, err := range o.Pending(0, 7) {
		if err != nil {
			t.Fatalf("Pending: %v", err)
		}
		if want := fmt.Sprintf("-%d", r.Seq); !bytes.HasSuffix(r.Data, []byte(want)) {
			t.Fatalf("record seq %d holds %q", r.Seq, r.Data)
		}
		got = append(got, string(r.Data))
	}
	return got
}

func seqNames(tag string, from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("%s-%d", tag, i))
	}
	return s
}

func TestAppendReadAckReopen(t *testing.T) {
	dir := t.TempDir()
	o, rep := open(t, dir, Options{SegmentBytes: 100})
	if rep.Head != 0 || rep.Acked != 0 {
		t.Fatalf("fresh report %+v", rep)
	}
	appendN(t, o, "a", 20)
	if diff := cmp.Diff(seqNames("a", 1, 20), readAll(t, o)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if got := o.Stats().Segments; got < 3 {
		t.Fatalf("segments = %d, want rollover into several", got)
	}
	if err := o.Ack(context.Background(), 12); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seqNames("a", 13, 20), readAll(t, o)); diff != "" {
		t.Fatalf("after ack (-want +got):\n%s", diff)
	}
	recs, err := o.ReadFrom(15, 2)
	if err != nil || len(recs) != 2 || recs[0].Seq != 15 || recs[1].Seq != 16 {
		t.Fatalf("ReadFrom(15, 2) = %v, %v", recs, err)
	}
	o.Close()

	o, rep = open(t, dir, Options{SegmentBytes: 100})
	if rep.Acked != 12 || rep.Head != 20 || len(rep.Truncated) != 0 {
		t.Fatalf("report after reopen: %+v", rep)
	}
	appendN(t, o, "a", 3)
	if diff := cmp.Diff(seqNames("a", 13, 23), readAll(t, o)); diff != "" {
		t.Fatalf("after reopen (-want +got):\n%s", diff)
	}
	// Ack everything: all but the segment being written go, seqs go on.
	if err := o.Ack(context.Background(), 23); err != nil {
		t.Fatal(err)
	}
	if got := o.Stats(); got.Segments != 1 || got.PendingBytes != 0 || got.PendingRecords != 0 {
		t.Fatalf("stats after full ack: %+v", got)
	}
	o.Close()
	o, _ = open(t, dir, Options{SegmentBytes: 100})
	seq, err := o.Append(context.Background(), withSeq("a"))
	if err != nil || seq != 24 {
		t.Fatalf("Append after full ack and reopen = %d, %v; want 24", seq, err)
	}
}

func TestAckRules(t *testing.T) {
	o, _ := open(t, t.TempDir(), Options{})
	appendN(t, o, "a", 3)
	ctx := context.Background()
	if err := o.Ack(ctx, 4); !errors.Is(err, ErrAckAhead) {
		t.Fatalf("Ack beyond head: %v, want ErrAckAhead", err)
	}
	if err := o.Ack(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(ctx, 1); err != nil { // older: no-op
		t.Fatal(err)
	}
	if got := o.Acked(); got != 2 {
		t.Fatalf("Acked = %d, want 2", got)
	}
}

func TestConcurrentAppendsAreGapFree(t *testing.T) {
	o, _ := open(t, t.TempDir(), Options{SegmentBytes: 4096})
	const workers, each = 16, 50
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[uint64]bool{}
	)
	for w := range workers {
		wg.Go(func() {
			for range each {
				seq, err := o.Append(context.Background(), withSeq(fmt.Sprint("w", w)))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[seq] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for s := uint64(1); s <= workers*each; s++ {
		if !seen[s] {
			t.Fatalf("seq %d never returned", s)
		}
	}
	if got := len(readAll(t, o)); got != workers*each {
		t.Fatalf("read %d records, want %d", got, workers*each)
	}
}

func TestPayloadErrorUsesNoSeq(t *testing.T) {
	o, _ := open(t, t.TempDir(), Options{})
	boom := errors.New("sign failed")
	if _, err := o.Append(context.Background(), func(uint64) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if seq, err := o.Append(context.Background(), withSeq("a")); seq != 1 || err != nil {
		t.Fatalf("next append = %d, %v; want seq 1", seq, err)
	}
	if _, err := o.Append(context.Background(), fixed(make([]byte, DefaultMaxRecordBytes+1))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(m) == 0 {
		t.Fatal("no segment")
	}
	return m[len(m)-1]
}

func TestTornTailIsTruncated(t *testing.T) {
	for name, tail := range map[string][]byte{
		"short header":  {7, 0, 0},
		"short payload": appendRecord(nil, 6, 0, nil, []byte("abcdefgh"))[:20],
		"zeros":         make([]byte, 700),
		"lost page":     func() []byte { b := appendRecord(nil, 6, 0, nil, make([]byte, 1100)); b[20] = 1; return b }(),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o, _ := open(t, dir, Options{})
			appendN(t, o, "a", 5)
			o.Close()
			seg := lastSegment(t, dir)
			good, _ := os.Stat(seg)
			f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tail)
			f.Close()

			o, rep := open(t, dir, Options{})
			if len(rep.Truncated) != 1 {
				t.Fatalf("report %+v, want one truncation", rep)
			}
			tr := rep.Truncated[0]
			if tr.Offset != good.Size() || tr.Bytes != int64(len(tail)) {
				t.Fatalf("truncation %+v, want offset %d bytes %d", tr, good.Size(), len(tail))
			}
			if after, _ := os.Stat(seg); after.Size() != good.Size() {
				t.Fatalf("segment size %d after recovery, want %d", after.Size(), good.Size())
			}
			appendN(t, o, "a", 1)
			if diff := cmp.Diff(seqNames("a", 1, 6), readAll(t, o)); diff != "" {
				t.Fatalf("records (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLostPageBeforeValidRecordsIsAHole(t *testing.T) {
	// A power cut can persist a later page of an unsynced write but not an
	// earlier one: a zero-filled record followed by valid ones. The valid
	// ones are genuine records and are kept; the lost one is a hole.
	dir := t.TempDir()
	o, _ := open(t, dir, Options{})
	appendN(t, o, "a", 2)
	o.Close()
	seg := lastSegment(t, dir)
	data, _ := os.ReadFile(seg)
	good := len(data)
	big := bytes.Repeat([]byte("x"), 2000)
	rec3 := appendRecord(nil, 3, 0, nil, big)
	clear(rec3[headerSize+600 : headerSize+1600]) // a lost page
	data = append(data, rec3...)
	data = appendRecord(data, 4, 0, nil, []byte("a-4"))
	os.WriteFile(seg, data, 0o600)

	o, rep := open(t, dir, Options{})
	if len(rep.Truncated) != 0 || len(rep.Holes) != 1 {
		t.Fatalf("report %+v", rep)
	}
	if h := rep.Holes[0]; h.From != 3 || h.To != 3 || h.Offset != int64(good) || h.Why != "zero-filled record" || h.Declared {
		t.Fatalf("hole %+v", h)
	}
	if diff := cmp.Diff([]string{"a-1", "a-2", "a-4"}, readAll(t, o)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
}

func TestDamagedTailOfLastSegment(t *testing.T) {
	for name, tc := range map[string]struct {
		tail      []byte
		holes     [][2]uint64
		readable  []string
		nextSeqAt uint64
	}{
		"bad crc":   {func() []byte { b := appendRecord(nil, 6, 0, nil, []byte("a-6")); b[17] ^= 1; return b }(), [][2]uint64{{6, 6}}, seqNames("a", 1, 5), 7},
		"wrong seq": {appendRecord(nil, 9, 0, nil, []byte("a-9")), [][2]uint64{{6, 8}}, append(seqNames("a", 1, 5), "a-9"), 10},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o, _ := open(t, dir, Options{})
			appendN(t, o, "a", 5)
			o.Close()
			f, _ := os.OpenFile(lastSegment(t, dir), os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tc.tail)
			f.Close()
			o, rep := open(t, dir, Options{})
			var got [][2]uint64
			for _, h := range rep.Holes {
				got = append(got, [2]uint64{h.From, h.To})
			}
			if diff := cmp.Diff(tc.holes, got); diff != "" || len(rep.Truncated) != 0 {
				t.Fatalf("holes (-want +got):\n%s\nreport %+v", diff, rep)
			}
			if diff := cmp.Diff(tc.readable, readAll(t, o)); diff != "" {
				t.Fatalf("records (-want +got):\n%s", diff)
			}
			if seq, err := o.Append(context.Background(), withSeq("a")); err != nil || seq != tc.nextSeqAt {
				t.Fatalf("next append %d, %v; want %d", seq, err, tc.nextSeqAt)
			}
		})
	}
}

func TestDamagedOlderSegmentAndMissingSegment(t *testing.T) {
	dir := t.TempDir()
	o, _ := open(t, dir, Options{SegmentBytes: 40})
	appendN(t, o, "a", 10)
	o.Close()
	m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(m) < 4 {
		t.Fatalf("%d segments", len(m))
	}
	data, _ := os.ReadFile(m[0])
	os.WriteFile(m[0], data[:len(data)-2], 0o600) // torn, but not the last: its last record is lost
	os.Remove(m[2])                               // a missing segment
	o, rep := open(t, dir, Options{SegmentBytes: 40})
	if len(rep.Holes) != 2 || rep.Holes[0].Reason != HoleCorrupt || rep.Holes[1].Reason != HoleMissing {
		t.Fatalf("holes %+v", rep.Holes)
	}
	lost := map[uint64]bool{}
	for _, h := range rep.Holes {
		for s := h.From; s <= h.To; s++ {
			lost[s] = true
		}
	}
	var want []string
	for s := uint64(1); s <= 10; s++ {
		if !lost[s] {
			want = append(want, fmt.Sprintf("a-%d", s))
		}
	}
	if diff := cmp.Diff(want, readAll(t, o)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	if seq, err := o.Append(context.Background(), withSeq("a")); err != nil || seq != 11 {
		t.Fatalf("next append %d, %v; want 11", seq, err)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	if _, _, err := Open(context.Background(), dir, Options{}); err == nil {
		t.Fatal("second Open of the same directory succeeded")
	}
}

// faultySegment is a segmentFile whose writes fail with ENOSPC once more
// than room bytes were written, keeping a partial write like a real disk.
type faultySegment struct {
	segmentFile
	mu      *sync.Mutex
	room    *int64
	failing *bool
}

func (f faultySegment) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *f.failing && int64(len(p)) > *f.room {
		n, _ := f.segmentFile.Write(p[:*f.room/2])
		return n, syscall.ENOSPC
	}
	*f.room -= int64(len(p))
	return f.segmentFile.Write(p)
}

func TestDiskFull(t *testing.T) {
	var (
		mu      sync.Mutex
		room    int64 = 100
		failing       = true
	)
	dir := t.TempDir()
	opts := Options{openSegment: func(path string) (segmentFile, error) {
		f, err := openOSSegment(path)
		if err != nil {
			return nil, err
		}
		return faultySegment{f, &mu, &room, &failing}, nil
	}}
	o, _ := open(t, dir, opts)
	appendN(t, o, "a", 3) // 3 × 19 bytes fit
	_, err := o.Append(context.Background(), fixed(bytes.Repeat([]byte("y"), 200)))
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append on a full disk = %v, want ErrNoSpace wrapping ENOSPC", err)
	}
	// Still usable: small records fit, seqs stay gap-free.
	if seq, err := o.Append(context.Background(), withSeq("a")); err != nil || seq != 4 {
		t.Fatalf("Append after ENOSPC = %d, %v; want 4", seq, err)
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	appendN(t, o, "a", 2)
	if diff := cmp.Diff(seqNames("a", 1, 6), readAll(t, o)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	o.Close()
	_, rep := open(t, dir, Options{})
	if len(rep.Truncated) != 0 || rep.Head != 6 {
		t.Fatalf("reopen after ENOSPC: %+v (the partial write should have been undone)", rep)
	}
}

func TestCapAndAlarm(t *testing.T) {
	rec := bytes.Repeat([]byte("r"), 84) // 100 bytes on disk
	var alarms []bool
	o, _ := open(t, t.TempDir(), Options{MaxBytes: 1000, OnAlarm: func(s Stats) { alarms = append(alarms, s.Alarm) }})
	ctx := context.Background()
	for i := range 10 {
		if _, err := o.Append(ctx, fixed(rec)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if want := i+1 >= 8; o.Stats().Alarm != want {
			t.Fatalf("after %d records alarm = %v, want %v", i+1, !want, want)
		}
	}
	if _, err := o.Append(ctx, fixed(rec)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past the cap = %v, want ErrFull", err)
	}
	if err := o.Ack(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Append(ctx, fixed(rec)); err != nil {
		t.Fatalf("Append after ack: %v", err)
	}
	if diff := cmp.Diff([]bool{true, false}, alarms); diff != "" {
		t.Fatalf("alarm calls (-want +got):\n%s", diff)
	}
}

func TestChangedSignalsNewRecords(t *testing.T) {
	o, _ := open(t, t.TempDir(), Options{})
	ch := o.Changed()
	select {
	case <-ch:
		t.Fatal("closed before any append")
	default:
	}
	appendN(t, o, "a", 1)
	select {
	case <-ch:
	default:
		t.Fatal("not closed after an append")
	}
}

func TestAckedFileTornSlot(t *testing.T) {
	dir := t.TempDir()
	o, _ := open(t, dir, Options{})
	appendN(t, o, "a", 5)
	o.Ack(context.Background(), 2)
	o.Ack(context.Background(), 4)
	o.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "acked"))
	// Tear the newest slot (slot 0 holds 4 after two writes).
	b[3] ^= 0xff
	os.WriteFile(filepath.Join(dir, "acked"), b, 0o600)
	_, rep := open(t, dir, Options{})
	if rep.Acked != 2 {
		t.Fatalf("acked after a torn slot = %d, want the previous ack 2", rep.Acked)
	}
}
