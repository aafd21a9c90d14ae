package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---------------------------------------------------------------------------
// Subprocesses.

// proc is a parkgrid subprocess whose output goes to a log file.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done

	ready chan struct{} // closed when a line containing readyOn appeared
}

// startProc starts the binary with args, appending stdout and stderr to
// logPath; readyOn (if not "") is a log text that closes p.ready.
func startProc(t *testing.T, logPath, readyOn string, args ...string) *proc {
	return startProcEnv(t, "info", logPath, readyOn, args...)
}

// startProcEnv is startProc with PARKGRID_LOG=level.
func startProcEnv(t *testing.T, level, logPath, readyOn string, args ...string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(lf, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	p := &proc{cmd: exec.Command(parkgridBinary(t), args...), done: make(chan struct{}), ready: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "PARKGRID_LOG="+level)
	var pw *io.PipeWriter
	if readyOn != "" {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		p.cmd.Stdout, p.cmd.Stderr = pw, pw
		go func() {
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			var once sync.Once
			for sc.Scan() {
				lf.Write(append(sc.Bytes(), '\n'))
				if strings.Contains(sc.Text(), readyOn) {
					once.Do(func() { close(p.ready) })
				}
			}
			io.Copy(io.Discard, pr)
			lf.Close()
		}()
	} else {
		p.cmd.Stdout, p.cmd.Stderr = lf, lf
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		if pw != nil {
			pw.Close()
		} else {
			lf.Close()
		}
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to within; it returns the exit error
// (nil: exit code 0).
func (p *proc) stop(within time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(within):
		p.kill()
		return fmt.Errorf("did not stop within %s after SIGTERM; killed", within)
	}
}
