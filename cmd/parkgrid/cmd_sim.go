package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/parkgrid/parkgrid/drivers/sim"
)

// runSim serves a simulated car park until ctx ends.
func runSim(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "sim")
	cfgPath := fs.String("config", "deploy/sim-small.yaml", "simulator config (YAML)")
	speed := fs.Float64("speed", 0, "simulated seconds per wall second (overrides the config)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
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
