package main

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
)

// runCentral is `parkgrid central --config central.yaml`: the central
// service, built by package central and run until ctx ends (SIGINT/SIGTERM).
func runCentral(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "central")
	path := fs.String("config", "", "central file (YAML), e.g. deploy/central.yaml")
	check := fs.Bool("check", false, "check the config file and exit")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		return usageError(fs, "--config is required and takes no other arguments")
	}
	cfg, err := centralconfig.Load(*path)
	if err != nil {
		return err
	}
	if *check {
		broker := cfg.MQTT.Broker
		if cfg.MQTT.Embedded() {
			broker = "embedded on " + cfg.MQTT.Listen
		}
		_, err := fmt.Fprintf(e.stdout, "%s: store %s, broker %s, %d gateways: ok\n", *path, cfg.Store.Driver, broker, len(cfg.Gateways))
		return err
	}
	svc, err := central.New(cfg, central.Options{Logger: e.log})
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
