package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/parkgrid/parkgrid/internal/demo"
)

// runDemo is `parkgrid demo`: a complete simulated car park in one process
// (simulator, edge, central), with a live view on stdout.
func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo")
	var c demo.Config
	fs.StringVar(&c.Dir, "dir", ".cache/demo", "working directory for keys, the outbox and central's database")
	fs.StringVar(&c.Sim, "sim", "deploy/sim-small.yaml", "simulator config")
	fs.StringVar(&c.Site, "site", "deploy/site-small.yaml", "edge site file (must match the simulator)")
	fs.StringVar(&c.Central, "central", "deploy/central.yaml", "central config (store and broker are overridden to live in --dir)")
	fs.Float64Var(&c.Speed, "speed", 0, "simulated seconds per wall second (default: the simulator config's)")
	fs.DurationVar(&c.View, "view", 2*time.Second, "live view interval (0: no live view)")
	fs.DurationVar(&c.For, "for", 0, "stop after this long (0: until interrupted)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	log := e.log
	if os.Getenv("PARKGRID_LOG") == "" {
		// The live view is the demo's output; logs only when something is wrong.
		log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return demo.Run(ctx, c, e.stdout, log)
}
