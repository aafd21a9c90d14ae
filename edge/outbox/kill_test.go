package outbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	killDirEnv = "PARKGRID_OUTBOX_KILL_DIR"
	killRunEnv = "PARKGRID_OUTBOX_KILL_RUN"
)

// killPayload is the ~200-byte record the helper stores for seq in run; the
// run number shows whether a seq was ever given to two records.
func killPayload(seq uint64, run int) []byte {
	b := fmt.Appendf(nil, "seq=%d run=%d ", seq, run)
	for len(b) < 200 {
		b = append(b, byte('a'+(seq+uint64(len(b)))%26))
	}
	return b
}

// TestHelperProcess is the process TestKill9 kills: it appends from 32
// goroutines as fast as it can and prints "ok <seq>" for each Append that
// returned, acknowledging now and then so segments get deleted too.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9") // not a service skip: runs only when re-executed, in CI too
	}
	run, _ := strconv.Atoi(os.Getenv(killRunEnv))
	go func() { // the parent's end of stdin closes if it dies
		io.Copy(io.Discard, os.Stdin)
		os.Exit(2)
	}()
	ctx := context.Background()
	// Writes go out in 61-byte pieces so that a kill can land inside a
	// record and leave a torn tail, as a crash inside write(2) could.
	o, _, err := Open(ctx, dir, Options{SegmentBytes: 32 << 10, openSegment: func(path string) (segmentFile, error) {
		f, err := openOSSegment(path)
		return chunkedSegment{f}, err
	}})
	if err != nil {
		fmt.Printf("openerr %v\n", err)
		os.Exit(3)
	}
	fmt.Println("ready")
	for range 32 {
		go func() {
			for {
				seq, err := o.Append(ctx, func(seq uint64) ([]byte, error) { return killPayload(seq, run), nil })
				if err != nil {
					fmt.Printf("err %v\n", err)
					os.Exit(4)
				}
				fmt.Printf("ok %d\n", seq)
			}
		}()
	}
	for {
		ch := o.Changed()
		if h, a := o.Head(), o.Acked(); h > a+600 {
			if err := o.Ack(ctx, h-300); err != nil {
				fmt.Printf("err %v\n", err)
				os.Exit(5)
			}
		}
		<-ch
	}
}

// chunkedSegment writes in small pieces.
type chunkedSegment struct{ segmentFile }

func (c chunkedSegment) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := c.segmentFile.Write(p[:min(61, len(p))])
		n += k
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// TestKill9 SIGKILLs a helper process at random moments (during recovery,
// while appending, while acknowledging) and checks after each kill that
// every seq whose Append returned is stored exactly once, intact, in a
// gap-free sequence, and was never given to another record.
func TestKill9(t *testing.T) {
	if os.Getenv(killDirEnv) != "" {
		t.Skip("in the helper")
	}
	iterations := 200
	if testing.Short() {
		iterations = 50
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	okRun := map[uint64]int{} // seq → the run whose Append returned it
	var total, truncations int
	deadline := time.Now().Add(90 * time.Second)
	for run := range iterations {
		if time.Now().After(deadline) {
			t.Fatalf("only %d kills in 90 s", run)
		}
		lines := killOnce(t, dir, run, rng)
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "ok "):
				seq, err := strconv.ParseUint(l[3:], 10, 64)
				if err != nil {
					t.Fatalf("run %d: bad line %q", run, l)
				}
				if prev, ok := okRun[seq]; ok {
					t.Fatalf("seq %d returned by Append in run %d and again in run %d", seq, prev, run)
				}
				okRun[seq] = run
				total++
			case l == "ready":
			default:
				t.Fatalf("run %d: helper said %q", run, l)
			}
		}
		o, rep, err := Open(context.Background(), dir, Options{SegmentBytes: 32 << 10})
		if err != nil {
			t.Fatalf("run %d: reopen after kill: %v", run, err)
		}
		truncations += len(rep.Truncated)
		want := rep.Acked + 1
		for r, err := range o.Pending(0, 500) {
			if err != nil {
				t.Fatalf("run %d: read: %v", run, err)
			}
			if r.Seq != want {
				t.Fatalf("run %d: seq %d follows %d", run, r.Seq, want-1)
			}
			var gotRun int
			if _, err := fmt.Sscanf(string(r.Data), "seq=%d run=%d ", new(uint64), &gotRun); err != nil {
				t.Fatalf("run %d: seq %d holds %q", run, r.Seq, r.Data)
			}
			if !bytes.Equal(r.Data, killPayload(r.Seq, gotRun)) {
				t.Fatalf("run %d: seq %d content damaged: %q", run, r.Seq, r.Data)
			}
			if okr, ok := okRun[r.Seq]; ok && okr != gotRun {
				t.Fatalf("run %d: seq %d was returned to run %d but holds run %d's record", run, r.Seq, okr, gotRun)
			}
			want++
		}
		head := want - 1
		for seq := range okRun {
			if seq > rep.Acked && seq > head {
				t.Fatalf("run %d: seq %d was returned by Append but is gone (acked %d, head %d)", run, seq, rep.Acked, head)
			}
			if seq <= rep.Acked {
				delete(okRun, seq) // acknowledged: may be deleted
			}
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d kills, %d appends confirmed, %d torn tails truncated", iterations, total, truncations)
}

// killOnce starts the helper, kills it at a random moment and returns what
// it printed.
func killOnce(t *testing.T, dir string, run int, rng *rand.Rand) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), killDirEnv+"="+dir, killRunEnv+"="+strconv.Itoa(run))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// 1 in 10: kill during start-up and recovery; otherwise after a random
	// number of confirmed appends, in the middle of the next commits.
	after := -1
	if rng.IntN(10) > 0 {
		after = rng.IntN(150)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	killed := false
	kill := func() {
		if !killed {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	if after < 0 {
		kill()
	}
	oks := 0
	for sc.Scan() {
		l := sc.Text()
		lines = append(lines, l)
		if strings.HasPrefix(l, "ok ") {
			oks++
		}
		if oks > after || (l != "ready" && !strings.HasPrefix(l, "ok ")) {
			kill()
		}
	}
	kill()
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("run %d: helper ended without being killed: %v; it said %q", run, cmd.ProcessState, lines)
	}
	return lines
}
