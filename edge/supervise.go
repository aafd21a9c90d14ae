package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/parkgrid/parkgrid/edge/clock"
)

// Supervision. The workers that keep the site safe (safety, the pollers,
// the control loop) are critical: if one of them stops, the daemon stops,
// and systemd (deploy/systemd/parkgrid-edge.service, Restart=always)
// starts it again. Every other worker (uplink, EMS API, InfluxDB) is
// auxiliary: its failure or panic raises an alarm and, where the worker
// can start again, it is restarted with backoff; it never stops safety or
// control.

// Backoff of a failing auxiliary worker's restarts.
const (
	restartMin = time.Second
	restartMax = time.Minute
)

// auxWorker is an auxiliary worker.
type auxWorker struct {
	name    string
	run     func(context.Context) error
	restart bool // run may be called again after it returned
}

// supervise runs w until ctx ends. An error or a panic is logged and
// reported through alarm (cleared by a run that lasts a minute); the worker
// is restarted with backoff if it can be, else it stays down.
func supervise(ctx context.Context, w auxWorker, clk clock.Clock, log *slog.Logger, alarm func(name, msg string, active bool)) {
	backoff := restartMin
	failed := false
	for {
		started := clk.Now()
		ran := make(chan struct{})
		if failed { // clear the alarm once the restarted worker has run a while
			go func() {
				select {
				case <-clk.After(restartMax):
					alarm(w.name, "", false)
				case <-ran:
				}
			}()
		}
		err := runRecovered(ctx, w.run)
		close(ran)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("returned without an error")
		}
		if clk.Since(started) >= restartMax {
			backoff = restartMin // it ran well for a while
		}
		msg := fmt.Sprintf("%s stopped: %v", w.name, err)
		if !w.restart {
			log.Error("edge worker stopped; safety and control run on", "worker", w.name, "err", err)
			alarm(w.name, msg, true)
			return
		}
		log.Error("edge worker stopped; restarting it", "worker", w.name, "err", err, "in", backoff)
		alarm(w.name, msg+"; restarting", true)
		failed = true
		select {
		case <-ctx.Done():
			return
		case <-clk.After(backoff):
		}
		backoff = min(2*backoff, restartMax)
	}
}

// runRecovered runs f and turns a panic into an error.
func runRecovered(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return f(ctx)
}
