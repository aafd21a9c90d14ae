package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/parkgrid/parkgrid/edge"
	"github.com/parkgrid/parkgrid/edge/config"
)

// runEdge is `parkgrid edge --config site.yaml`: the edge daemon of one car
// park, built by package edge and run until ctx ends (SIGINT/SIGTERM).
func runEdge(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "site file (YAML), e.g. deploy/site-small.yaml")
	check := fs.Bool("check", false, "check the site file and exit")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *path == "" {
		fs.Usage()
		return &exitError{code: 2, msg: "parkgrid edge: --config is required"}
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		e.log.Warn("site file", "warning", w)
	}
	if *check {
		_, err := fmt.Fprintf(e.stdout, "%s: site %q, %d buses, %d devices, %d charge points: ok\n",
			*path, cfg.ID, len(cfg.Buses), len(cfg.Devices()), len(cfg.ChargePoints))
		return err
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
