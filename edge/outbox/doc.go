// Package outbox is the edge's durable queue of signed records (reading
// batches, OCMF snapshots, session events) not yet acknowledged by central.
// A record survives kill -9 once Append returns; delivery is at least once,
// and central drops repeats by (gateway, epoch, seq).
//
// # On disk
//
// Everything lives in one directory owned by one process (an exclusive
// flock on LOCK keeps a second one out):
//
//	<dir>/LOCK                        flock'd while open
//	<dir>/EPOCH                       the outbox's epoch (below), written once
//	<dir>/<first-seq, 20 digits>.seg  append-only records (below)
//	<dir>/acked                       highest seq central acknowledged (below)
//	<dir>/quarantine/<seg>            a copy of each segment found damaged
//
// EPOCH is "parkgrid-outbox-epoch <32 hex digits>\n": 16 random bytes made
// when the directory is first opened empty (written to a temporary file,
// fsynced, renamed, the directory fsynced). Seqs count from 1 within an
// epoch, so a wiped or replaced outbox is a new epoch and its seqs never
// meet the old ones at central. A directory with segments but no EPOCH is an
// outbox from before epochs: its epoch is "". A damaged EPOCH stops Open
// (ErrCorrupt): the stored records name their epoch.
//
// A segment is named after the seq of its first record and holds records
// with consecutive seqs. Each record is
//
//	offset size  field
//	0      4     payload length n (bits 0-30), gap flag (bit 31), uint32 LE
//	4      4     CRC-32C (Castagnoli) of bytes 8..16+n (seq and payload)
//	8      8     seq, uint64 little-endian
//	16     n     payload: the exact bytes the caller stored (a sealed envelope);
//	             for a gap record, from and to (uint64 LE each) and then the
//	             caller's bytes
//
// The seq is in the header (and covered by the CRC) so a record names itself;
// it must also equal the segment name plus the record's position. The
// segment being written is the last one; it is closed and a new one started
// once it has reached Options.SegmentBytes (default 4 MiB; so a segment
// exceeds that by at most one commit group), and also as soon as everything
// in it, or a quarter of SegmentBytes of it, is acknowledged, so that
// acknowledged bytes leave the disk without waiting for the segment to fill
// (at most a quarter segment of them stays, however busy the outbox).
//
// acked is 32 bytes: two slots of 16 bytes, each seq (uint64 LE), CRC-32C of
// those 8 bytes (uint32 LE) and 4 zero bytes. Ack overwrites the slots in
// turn and fdatasyncs; Open takes the larger valid slot, so a torn write of
// one slot falls back to the previous ack (and only causes a resend, which
// central tolerates).
//
// # Invariants
//
//   - Seqs start at 1 per epoch and a durable seq is never given to another
//     record. A seq is given to a record when it is queued; if its commit
//     group fails (disk full, I/O error) the file is truncated back to the
//     last durable record and the seqs of every queued record are offered
//     again: none of them was ever durable or visible. After a restart the
//     next seq is one past the larger of the last record found (damaged or
//     not), the acked head and the last segment's name.
//   - A seq that cannot be delivered (its record is damaged or its segment
//     is missing) is a hole. It is never reused: DeclareGaps appends a gap
//     record at the head naming the hole's seqs and why, which the caller
//     signs; central stores it and counts those seqs as accounted for, so
//     its contiguous ack moves past them. Gap records found on disk mark
//     their holes declared, so a hole is declared once.
//   - Group commit: Append queues the encoded record in memory and waits; one
//     committer goroutine writes everything queued with one write and one
//     fdatasync, then releases all of those appenders at once. Before taking
//     a group it yields the scheduler a few times while fewer appenders are
//     queued than it released last time, so that N busy appenders share one
//     sync (about N records per sync instead of N/2).
//   - Only durable records (fdatasync returned) are visible to ReadFrom, so
//     nothing reaches central that a crash could take back.
//   - Ack persists the head first, then deletes whole segments whose records
//     are all acknowledged, except the one being written (which is rolled at
//     the next commit once it is fully acknowledged) and except while a Hold
//     is in force. Open deletes nothing: acknowledged segments left from the
//     last run go at the first ack or roll.
//   - A disk that is full fails Append with ErrNoSpace and nothing else: the
//     next Append tries again, so the outbox recovers by itself when space
//     returns. (If even undoing the failed write failed, the committer undoes
//     it before its next write.)
//
// # Recovery
//
// Open scans every segment, verifying length, CRC and seq of each record.
//
//   - A damaged record (bad CRC, impossible length, wrong seq) does not stop
//     the scan: it resyncs on record boundaries, at the next offset holding
//     a record that verifies with a seq at or above the expected one. The
//     seqs in between are a hole; every intact record before and after it
//     is delivered. The segment is copied to quarantine/ for inspection and
//     sealed (appends go to a new segment).
//   - The tail of the last segment is told apart: a write that never
//     completed (a short frame, a frame whose length runs past the end of
//     the file, or one with an all-zero 512-byte sector, as after a power
//     cut) is torn: it was never durable, so Open truncates it and reports
//     it in Report.Truncated. Complete frames (length and all their bytes
//     there) whose CRC fails are damage of written records: holes, reported
//     and declared like any other.
//   - Seqs missing between segments, or between the acked head and the
//     first segment, are holes too (reason "missing").
//
// Nothing is deleted to get past damage, and no manual step is needed: the
// edge declares the holes and goes on. The quarantine copies and the log say
// what was lost.
package outbox
