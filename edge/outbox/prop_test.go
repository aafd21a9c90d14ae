package outbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"
)

// TestOutboxMatchesModel runs random append / ack / read / reopen / torn
// tail sequences against a slice-of-payloads model.
func TestOutboxMatchesModel(t *testing.T) {
	root := t.TempDir()
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp(root, "")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		opts := Options{
			SegmentBytes: int64(rapid.IntRange(32, 600).Draw(rt, "segmentBytes")),
			MaxBytes:     int64(rapid.IntRange(200, 3000).Draw(rt, "maxBytes")),
		}
		ctx := context.Background()
		o, _, err := Open(ctx, dir, opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { o.Close() }()

		var (
			model [][]byte // model[i] holds seq i+1
			acked uint64
		)
		head := func() uint64 { return uint64(len(model)) }
		pendingBytes := func() int64 {
			var n int64
			for _, p := range model[acked:] {
				n += int64(headerSize + len(p))
			}
			return n
		}
		reopen := func(rt *rapid.T) Report {
			if err := o.Close(); err != nil {
				rt.Fatal(err)
			}
			var rep Report
			o, rep, err = Open(ctx, dir, opts)
			if err != nil {
				rt.Fatalf("reopen: %v", err)
			}
			if rep.Head != head() || rep.Acked != acked {
				rt.Fatalf("reopen report %+v, model head %d acked %d", rep, head(), acked)
			}
			return rep
		}

		rt.Repeat(map[string]func(*rapid.T){
			"append": func(rt *rapid.T) {
				p := rapid.SliceOfN(rapid.Byte(), 0, 120).Draw(rt, "payload")
				seq, err := o.Append(ctx, func(seq uint64) ([]byte, error) {
					if seq != head()+1 {
						rt.Fatalf("payload called with seq %d, want %d", seq, head()+1)
					}
					return p, nil
				})
				if int64(len(p)) > opts.SegmentBytes {
					// A record is never larger than a segment (Open caps
					// MaxRecordBytes at SegmentBytes).
					if !errors.Is(err, ErrTooLarge) {
						rt.Fatalf("Append of %d bytes with %d-byte segments: %v, want ErrTooLarge", len(p), opts.SegmentBytes, err)
					}
					return
				}
				if pendingBytes()+int64(headerSize+len(p)) > opts.MaxBytes {
					if !errors.Is(err, ErrFull) {
						rt.Fatalf("Append past the cap: %v, want ErrFull", err)
					}
					return
				}
				if err != nil || seq != head()+1 {
					rt.Fatalf("Append = %d, %v; want %d", seq, err, head()+1)
				}
				model = append(model, p)
			},
			"ack": func(rt *rapid.T) {
				seq := rapid.Uint64Range(0, head()+1).Draw(rt, "seq")
				err := o.Ack(ctx, seq)
				if seq > head() {
					if !errors.Is(err, ErrAckAhead) {
						rt.Fatalf("Ack(%d) beyond head %d: %v", seq, head(), err)
					}
					return
				}
				if err != nil {
					rt.Fatal(err)
				}
				acked = max(acked, seq)
			},
			"read": func(rt *rapid.T) {
				from := rapid.Uint64Range(0, head()+2).Draw(rt, "from")
				n := rapid.IntRange(1, 12).Draw(rt, "max")
				recs, err := o.ReadFrom(from, n)
				if err != nil {
					rt.Fatal(err)
				}
				want := max(from, acked+1)
				for _, r := range recs {
					if r.Seq != want || !bytes.Equal(r.Data, model[want-1]) {
						rt.Fatalf("ReadFrom(%d,%d): got seq %d %q, want seq %d %q", from, n, r.Seq, r.Data, want, model[want-1])
					}
					want++
				}
				if wantN := min(uint64(n), head()+1-min(head()+1, max(from, acked+1))); uint64(len(recs)) != wantN {
					rt.Fatalf("ReadFrom(%d,%d) returned %d records, want %d", from, n, len(recs), wantN)
				}
			},
			"reopen": func(rt *rapid.T) { reopen(rt) },
			"tornTail": func(rt *rapid.T) {
				o.Close()
				m, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
				junk := rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(rt, "junk")
				f, err := os.OpenFile(m[len(m)-1], os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					rt.Fatal(err)
				}
				f.Write(junk)
				f.Close()
				if rep := reopen(rt); len(rep.Truncated) != 1 || rep.Truncated[0].Bytes != int64(len(junk)) {
					rt.Fatalf("torn tail of %d bytes: report %+v", len(junk), rep)
				}
			},
			"": func(rt *rapid.T) {
				s := o.Stats()
				if s.Head != head() || s.Acked != acked || s.PendingRecords != head()-acked || s.PendingBytes != pendingBytes() {
					rt.Fatalf("stats %+v; model head %d acked %d pending bytes %d", s, head(), acked, pendingBytes())
				}
				if s.Alarm != (s.PendingBytes >= s.AlarmBytes) {
					rt.Fatalf("alarm %v with %d of %d bytes", s.Alarm, s.PendingBytes, s.AlarmBytes)
				}
			},
		})
	})
}
