package outbox

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Errors callers branch on with errors.Is.
var (
	// ErrFull: storing the record would take the pending bytes past
	// Options.MaxBytes. Nothing was written; retry after acks free space.
	ErrFull = errors.New("outbox full")
	// ErrNoSpace: the disk is full (ENOSPC). Nothing was stored; the outbox
	// stays usable and a later Append succeeds once there is space.
	ErrNoSpace = errors.New("outbox disk full")
	// ErrClosed: the outbox was closed.
	ErrClosed = errors.New("outbox closed")
	// ErrTooLarge: a payload is larger than Options.MaxRecordBytes.
	ErrTooLarge = errors.New("outbox record too large")
	// ErrCorrupt: the outbox cannot be opened because a file it cannot do
	// without (the epoch) is damaged; see CorruptError. Damaged records are
	// not this error: they become holes (see the package doc).
	ErrCorrupt = errors.New("outbox corrupt")
	// ErrAckAhead: an ack names a seq this outbox never stored.
	ErrAckAhead = errors.New("ack beyond the last stored seq")
)

const (
	headerSize = 16
	// gapFlag in a record's length word marks a gap record (doc.go).
	gapFlag    = 1 << 31
	lengthMask = gapFlag - 1
	// gapPrefix is the from and to seqs in front of a gap record's payload.
	gapPrefix = 16
	// DefaultSegmentBytes is the size at which a segment is closed.
	DefaultSegmentBytes = 4 << 20
	// MaxSegmentBytes bounds Options.SegmentBytes (offsets are 32 bits).
	MaxSegmentBytes = 1 << 30
	// DefaultMaxBytes caps the pending (unacknowledged) bytes.
	DefaultMaxBytes = 1 << 30
	// DefaultMaxRecordBytes bounds one payload.
	DefaultMaxRecordBytes = 8 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options configure an Outbox. The zero value is usable.
type Options struct {
	// SegmentBytes: a segment is closed once it holds this many bytes
	// (default 4 MiB, at most 1 GiB).
	SegmentBytes int64
	// MaxBytes caps the bytes of stored, unacknowledged records; Append
	// returns ErrFull beyond it (default 1 GiB).
	MaxBytes int64
	// AlarmBytes: OnAlarm is called when the pending bytes rise to it and
	// again when they fall below it (default 80 % of MaxBytes).
	AlarmBytes int64
	// OnAlarm, if set, is called (never concurrently, without locks held)
	// whenever Stats.Alarm changes. It must not block for long.
	OnAlarm func(Stats)
	// MaxRecordBytes bounds one payload (default 8 MiB).
	MaxRecordBytes int
	// Log receives recovery reports and I/O failures (nil: discard).
	Log *slog.Logger
	// Now stamps quarantine copies and commit times (nil: time.Now).
	Now func() time.Time

	// openSegment opens a segment for appending; tests replace it to
	// inject ENOSPC and I/O errors.
	openSegment func(path string) (segmentFile, error)
	// newEpoch makes the epoch of a new outbox; tests replace it.
	newEpoch func() (string, error)
}

// segmentFile is the write side of the segment being appended to.
type segmentFile interface {
	Write(p []byte) (int, error)
	Truncate(size int64) error
	Datasync() error
	Close() error
}

// osSegment is a segmentFile on the real file system.
type osSegment struct{ f *os.File }

func (s osSegment) Write(p []byte) (int, error) { return s.f.Write(p) }
func (s osSegment) Truncate(n int64) error      { return s.f.Truncate(n) }
func (s osSegment) Datasync() error             { return datasync(s.f) }
func (s osSegment) Close() error                { return s.f.Close() }

func openOSSegment(path string) (segmentFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return osSegment{f}, nil
}

// Record is one stored payload and its seq. A gap record (Gap set) holds the
// payload given to DeclareGaps.
type Record struct {
	Seq  uint64
	Data []byte
	Gap  bool
}

// Stats is a snapshot of the outbox.
type Stats struct {
	Epoch          string
	Head           uint64 // last durable seq (0: none yet)
	Acked          uint64 // highest acknowledged seq
	PendingRecords uint64 // durable records above Acked (holes not counted)
	PendingBytes   int64  // their bytes on disk, plus records queued for commit
	MaxBytes       int64
	AlarmBytes     int64
	Alarm          bool // PendingBytes ≥ AlarmBytes
	Segments       int
	SegmentBytes   int64  // bytes of all segment files, acknowledged ones not yet deleted included
	Syncs          uint64 // commit groups since Open (records per sync = appended / Syncs)
	Holes          uint64 // seqs above Acked that cannot be delivered (damaged or missing)
	Undeclared     uint64 // of those, seqs no gap record covers yet (see DeclareGaps)
	GapRecords     int    // gap records above Acked
	CommitErrors   uint64 // failed commit groups since Open (disk full, I/O errors)
}

// span is where one record lies in its segment; off == holeOff for a seq
// that cannot be delivered.
type span struct{ off, end uint32 }

const holeOff = ^uint32(0)

// segment is one .seg file. Its fields are guarded by Outbox.mu; recs and
// size cover durable records only.
type segment struct {
	first  uint64
	path   string
	size   int64  // bytes of the file the index covers
	recs   []span // recs[i] is record first+i
	sealed bool   // damaged: never appended to again
}

func (s *segment) last() uint64 { return s.first + uint64(len(s.recs)) - 1 } // first-1 when empty

// waiter is one Append waiting for its commit group.
type waiter struct {
	seq  uint64
	done chan error
}

// Outbox is the durable queue. Its methods are safe for concurrent use.
type Outbox struct {
	dir  string
	opts Options
	log  *slog.Logger
	lock io.Closer

	syncs        atomic.Uint64 // commit groups written (one fdatasync each)
	commitErrors atomic.Uint64

	kick chan struct{} // wakes the committer
	stop chan struct{} // closed by Close
	wg   sync.WaitGroup

	ackMu    sync.Mutex // serialises Ack; protects the fields below
	ackFile  *os.File
	ackSlot  int
	ackSaved uint64

	readMu sync.RWMutex // ReadFrom holds it shared; deleting segments exclusive

	alarmMu sync.Mutex // serialises OnAlarm calls; protects the field below
	alarmed bool       // last state reported to OnAlarm

	declareMu sync.Mutex // one DeclareGaps at a time

	epoch string // set by Open, never changed: read without a lock

	mu sync.Mutex // protects the fields below
	// durable state
	segs    []*segment // ascending; the last is the one written to
	head    uint64     // last durable seq
	acked   uint64
	pending int64 // bytes of durable records above acked
	holes   []Hole
	gaps    []gapRec // gap records on disk
	changed chan struct{}
	retire  bool // roll before the next commit (the last segment is fully acknowledged)
	holds   int  // Hold calls not yet released: no segment is deleted meanwhile
	// queued, not yet durable
	nextSeq   uint64
	queue     []byte // encoded records waiting for the committer
	inCommit  int64  // bytes of the group being written
	queueRecs []span // spans of the queued records, relative to queue
	waiters   []waiter
	closed    bool
	alarm     bool
	// dirty: a failed commit could not be undone (truncate failed); the
	// committer truncates before it writes again.
	dirty bool
}

// gapRec is a gap record found on disk or appended: its seq and what it
// declares.
type gapRec struct {
	seq, from, to uint64
}

// Open opens (creating if needed) the outbox in dir, recovers it (see the
// package doc) and starts its committer. The Report says what recovery did
// and which seqs are holes; DeclareGaps replaces undeclared holes by gap
// records.
func Open(ctx context.Context, dir string, opts Options) (*Outbox, Report, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	opts.SegmentBytes = min(opts.SegmentBytes, MaxSegmentBytes)
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.AlarmBytes <= 0 || opts.AlarmBytes > opts.MaxBytes {
		opts.AlarmBytes = opts.MaxBytes / 10 * 8
	}
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	opts.MaxRecordBytes = min(opts.MaxRecordBytes, int(opts.SegmentBytes), lengthMask-gapPrefix)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.openSegment == nil {
		opts.openSegment = openOSSegment
	}
	if opts.newEpoch == nil {
		opts.newEpoch = randomEpoch
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Report{}, fmt.Errorf("open outbox: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, Report{}, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	o := &Outbox{
		dir:     dir,
		opts:    opts,
		log:     log,
		lock:    lock,
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		changed: make(chan struct{}),
	}
	rep, err := o.recover(ctx)
	if err != nil {
		lock.Close()
		return nil, rep, err
	}
	o.ackFile, err = os.OpenFile(filepath.Join(dir, "acked"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		lock.Close()
		return nil, rep, fmt.Errorf("open outbox acked file: %w", err)
	}
	o.ackSaved = o.acked
	o.pending = o.pendingBytesLocked()
	o.alarm = o.pending >= o.opts.AlarmBytes
	if o.alarm {
		log.Warn("outbox above alarm threshold", "dir", dir, "pending_bytes", o.pending, "alarm_bytes", o.opts.AlarmBytes)
	}
	o.wg.Add(1)
	go o.commitLoop()
	o.reportAlarm()
	return o, rep, nil
}

// Close stops the committer after it has committed what is queued, and
// releases the directory. Appends after Close fail with ErrClosed.
func (o *Outbox) Close() error {
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil
	}
	o.closed = true
	o.mu.Unlock()
	close(o.stop)
	o.wg.Wait()
	o.ackMu.Lock() // wait for an Ack in progress
	defer o.ackMu.Unlock()
	var errs []error
	if err := o.ackFile.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close acked file: %w", err))
	}
	if err := o.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("unlock outbox: %w", err))
	}
	return errors.Join(errs...)
}

// Epoch is the random id this outbox was created with ("" for an outbox
// made before epochs). It never changes for the life of the directory.
func (o *Outbox) Epoch() string { return o.epoch } // set by Open, never changed

// Append stores one record. payload is called with the record's seq (under
// the outbox lock, in seq order; it must not call the Outbox) and returns the
// exact bytes to store; if it fails, no seq is used. Append returns once the
// record is durable (fdatasync'ed), or an error after which nothing was
// stored; the seq it was offered was never durable nor visible, so it may be
// offered to a later record. ctx is checked before the record is queued;
// once queued, Append waits for the commit outcome.
func (o *Outbox) Append(ctx context.Context, payload func(seq uint64) ([]byte, error)) (uint64, error) {
	return o.append(ctx, 0, nil, payload)
}

// append queues one record with the given flags and payload prefix.
func (o *Outbox) append(ctx context.Context, flags uint32, prefix []byte, payload func(seq uint64) ([]byte, error)) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("outbox append: %w", err)
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return 0, ErrClosed
	}
	seq := o.nextSeq
	data, err := payload(seq)
	if err != nil {
		o.mu.Unlock()
		return 0, fmt.Errorf("outbox append seq %d: payload: %w", seq, err)
	}
	if len(data)+len(prefix) > o.opts.MaxRecordBytes {
		o.mu.Unlock()
		return 0, fmt.Errorf("%w: seq %d has %d bytes, limit %d", ErrTooLarge, seq, len(data), o.opts.MaxRecordBytes)
	}
	size := int64(headerSize + len(prefix) + len(data))
	if p := o.pendingAllLocked(); p+size > o.opts.MaxBytes {
		o.mu.Unlock()
		return 0, fmt.Errorf("%w: %d bytes pending, %d more would pass the cap of %d", ErrFull, p, size, o.opts.MaxBytes)
	}
	start := uint32(len(o.queue))
	o.queue = appendRecord(o.queue, seq, flags, prefix, data)
	o.queueRecs = append(o.queueRecs, span{start, uint32(len(o.queue))})
	o.nextSeq++
	w := waiter{seq: seq, done: make(chan error, 1)}
	o.waiters = append(o.waiters, w)
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	if err := <-w.done; err != nil {
		return 0, err
	}
	return seq, nil
}

// appendRecord encodes one record onto b: the header, then prefix and data
// as one payload.
func appendRecord(b []byte, seq uint64, flags uint32, prefix, data []byte) []byte {
	var h [headerSize]byte
	putU32(h[0:], uint32(len(prefix)+len(data))|flags)
	putU64(h[8:], seq)
	crc := crc32.Update(0, castagnoli, h[8:16])
	crc = crc32.Update(crc, castagnoli, prefix)
	crc = crc32.Update(crc, castagnoli, data)
	putU32(h[4:], crc)
	b = append(b, h[:]...)
	b = append(b, prefix...)
	return append(b, data...)
}

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func putU64(b []byte, v uint64) {
	putU32(b, uint32(v))
	putU32(b[4:], uint32(v>>32))
}

func getU32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func getU64(b []byte) uint64 { return uint64(getU32(b)) | uint64(getU32(b[4:]))<<32 }
