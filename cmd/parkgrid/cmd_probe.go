package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/probe"
)

// runProbe reads one device once and prints what it reports.
func runProbe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "probe")
	addr := fs.String("addr", "127.0.0.1:1502", "Modbus TCP address host:port")
	rtu := fs.String("rtu", "", "serial device of an RTU line instead of --addr (e.g. /dev/ttyUSB0)")
	baud := fs.Int("baud", 9600, "RTU baud rate")
	framing := fs.String("framing", "8N1", "RTU data bits, parity, stop bits")
	unit := fs.Uint("unit", 1, "Modbus unit id (1..247, 255)")
	device := fs.String("device", "sdm630", "device kind: "+strings.Join(probe.Kinds(), ", "))
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	timeout := fs.Duration("timeout", time.Second, "per-request timeout")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if *unit > 255 {
		return fmt.Errorf("--unit %d: not a Modbus unit id", *unit)
	}
	if !slices.Contains(probe.Kinds(), *device) {
		return fmt.Errorf("--device %q: want one of %s", *device, strings.Join(probe.Kinds(), ", "))
	}
	opts := modbus.Options{Timeout: *timeout, Logger: e.log}
	var bus *modbus.Bus
	if *rtu != "" {
		b, err := modbus.NewRTU(*rtu, *baud, *framing, opts)
		if err != nil {
			return err
		}
		bus = b
	} else {
		bus = modbus.NewTCP(*addr, opts)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = bus.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	res, err := probe.Probe(ctx, bus, uint8(*unit), *device)
	if err != nil {
		return err
	}
	if *asJSON {
		return res.WriteJSON(e.stdout)
	}
	return res.WriteTable(e.stdout)
}
