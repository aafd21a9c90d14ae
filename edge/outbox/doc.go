// Package outbox is the edge's durable queue of signed reading batches not yet
// acknowledged by central. A batch survives kill -9 once Append returns;
// delivery is at least once, and central drops repeats by (gateway, seq).
//
// # On disk
//
// Everything lives in one directory owned by one process (an exclusive
// flock on LOCK keeps a second one out):
//
//	<dir>/LOCK                        flock'd while open
//	<dir>/<first-seq, 20 digits>.seg  append-only records (below)
//	<dir>/acked                       highest seq central acknowledged (below)
//	<dir>/quarantine/<seg>.<unixnano> copies of segments found corrupt on open
//
// A segment is named after the seq of its first record and holds records
// with consecutive seqs. Each record is
//
//	offset size  field
//	0      4     payload length n, uint32 little-endian
//	4      4     CRC-32C (Castagnoli) of bytes 8..16+n (seq and payload)
//	8      8     seq, uint64 little-endian
//	16     n     payload: the exact bytes the caller stored (a sealed envelope)
//
// The seq is in the header (and covered by the CRC) so a record names itself;
// it must also equal the segment name plus the record's position, which Open
// checks. The segment being written is the last one; it is closed and a new
// one started once it has reached Options.SegmentBytes (so a segment exceeds
// that by at most one commit group).
//
// acked is 32 bytes: two slots of 16 bytes, each seq (uint64 LE), CRC-32C of
// those 8 bytes (uint32 LE) and 4 zero bytes. Ack overwrites the slots in
// turn and fdatasyncs; Open takes the larger valid slot, so a torn write of
// one slot falls back to the previous ack (and only causes a resend, which
// central tolerates).
//
// # Invariants
//
//   - Seqs start at 1 and are gap-free: a seq is given to a record when it is
//     queued, and if its commit group fails (disk full, I/O error) the file is
//     truncated back to the last durable record and the seqs of every queued
//     record are handed out again. A seq that Append returned is never given
//     to another record: after a restart the next seq is one past the larger of
//     the last record, the acked head and the last segment's name.
//   - Group commit: Append queues the encoded record in memory and waits; one
//     committer goroutine writes everything queued with one write and one
//     fdatasync, then releases all of those appenders at once. Before taking
//     a group it yields the scheduler a few times while fewer appenders are
//     queued than it released last time, so that N busy appenders share one
//     sync (about N records per sync instead of N/2).
//   - Only durable records (fdatasync returned) are visible to ReadFrom, so
//     nothing reaches central that a crash could take back.
//   - Ack persists the head first, then deletes whole segments whose records
//     are all acknowledged; the segment being written is never deleted.
//
// # Recovery
//
// Open scans every segment that holds unacknowledged records, verifying
// length, CRC and seq of each record. A kill -9 leaves at most a torn tail
// (a short record, zeros, or a record whose CRC fails with nothing valid
// after it) in the last segment: Open truncates the segment at the last good
// record, logs a warning and returns the truncation in its Report. A record
// that looks torn (short, or containing an all-zero 512-byte sector, as after
// a power cut that wrote pages out of order) is treated the same way even if
// valid-looking records follow it, because those were never fdatasync'ed
// either; the Report counts them.
//
// Any other damage (a bad record followed by good ones with no sign of a torn
// write, a bad record in an older segment, a missing segment) is corruption of
// data that was acknowledged as durable. Open does not truncate or skip it: it
// copies the segment to quarantine/ and fails with a *CorruptError (errors.Is
// ErrCorrupt) naming the segment, offset and seq. The operator decides: the
// seqs in that segment that central has not stored are lost, and central's
// contiguous ack stops below them until they are accounted for.
package outbox
