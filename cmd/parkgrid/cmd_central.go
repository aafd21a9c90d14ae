package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/parkgrid/parkgrid/central"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
)

// runCentral is `parkgrid central --config central.yaml`: the central
// service, built by package central and run until ctx ends (SIGINT/SIGTERM).
func runCentral(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("central", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	path := fs.String("config", "", "central file (YAML), e.g. deploy/central.yaml")
	check := fs.Bool("check", false, "check the config file and exit")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: 2}
	}
	if *path == "" {
		fs.Usage()
		return &exitError{code: 2, msg: "parkgrid central: --config is required"}
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
