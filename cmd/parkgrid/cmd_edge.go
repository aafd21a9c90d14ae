package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/parkgrid/parkgrid/edge"
	"github.com/parkgrid/parkgrid/edge/config"
)

// runEdge is `parkgrid edge --config site.yaml`: the edge daemon of one car
// park, built by package edge and run until ctx ends (SIGINT/SIGTERM).
func runEdge(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "edge")
	path := fs.String("config", "", "site file (YAML), e.g. deploy/site-small.yaml")
	check := fs.Bool("check", false, "check the site file and exit")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		return usageError(fs, "--config is required and takes no other arguments")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		e.log.Warn("site file", "warning", w)
	}
	if *check {
		if _, err := fmt.Fprintf(e.stdout, "%s: site %q, %d buses, %d devices, %d charge points: ok\n",
			*path, cfg.ID, len(cfg.Buses), len(cfg.Devices()), len(cfg.ChargePoints)); err != nil {
			return err
		}
		return edge.CheckFailsafe(cfg).Write(e.stdout)
	}
	d, err := edge.New(cfg, edge.Options{Logger: e.log})
	if err != nil {
		return err
	}
	e.log.Info("edge starting", "site", cfg.ID, "gateway", cfg.Gateway, "buses", len(cfg.Buses), "points", len(cfg.ChargePoints))
	err = d.Run(ctx)
	if errors.Is(err, context.Canceled) {
		e.log.Info("edge stopped", "site", cfg.ID)
		return nil
	}
	return err
}
