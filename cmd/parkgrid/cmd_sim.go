package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/parkgrid/parkgrid/drivers/sim"
)

// runSim serves a simulated car park until ctx ends.
func runSim(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfgPath := fs.String("config", "deploy/sim-small.yaml", "simulator config (YAML)")
	speed := fs.Float64("speed", 0, "simulated seconds per wall second (overrides the config)")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	cfg, err := sim.LoadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *speed > 0 {
		cfg.Speed = *speed
	}
	s, err := sim.New(cfg, sim.Options{Logger: e.log})
	if err != nil {
		return fmt.Errorf("simulator %s: %w", *cfgPath, err)
	}
	e.log.Info("simulator serving", "config", *cfgPath, "modbus", cfg.Listen, "api", cfg.API)
	if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
