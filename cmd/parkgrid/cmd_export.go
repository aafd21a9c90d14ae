package main

import (
	"context"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/central"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/export"
)

// runExport is `parkgrid export --auditor …`: it writes, for one gateway
// and a time range, what a third party needs to re-check the signed data
// with openssl alone (central/export).
func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export")
	auditor := fs.Bool("auditor", false, "the auditor export (the only kind so far)")
	cfgPath := fs.String("config", "", "central file (YAML): the store to read")
	gateway := fs.String("gateway", "", "gateway id")
	from := fs.String("from", "", "first sent time included: RFC 3339 or YYYY-MM-DD (UTC); empty: from the start")
	to := fs.String("to", "", "first sent time excluded: RFC 3339 or YYYY-MM-DD (UTC); empty: up to now")
	out := fs.String("out", "", "directory to create (must be empty or absent)")
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if !*auditor || *cfgPath == "" || *gateway == "" || *out == "" || fs.NArg() > 0 {
		return usageError(fs, "--auditor, --config, --gateway and --out are required")
	}
	var o export.AuditorOptions
	var err error
	if o.From, err = parseTime(*from); err != nil {
		return usageError(fs, "--from: "+err.Error())
	}
	if o.To, err = parseTime(*to); err != nil {
		return usageError(fs, "--to: "+err.Error())
	}
	o.Gateway, o.Dir = *gateway, *out
	cfg, err := centralconfig.Load(*cfgPath)
	if err != nil {
		return err
	}
	st, err := central.OpenStore(ctx, cfg.Store, e.log)
	if err != nil {
		return err
	}
	defer st.Close()
	sum, err := export.Auditor(ctx, st, o)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s: %d batches, %d OCMF snapshots, %d findings; check it with: sh %s/verify.sh\n",
		*out, sum.Batches, sum.Snapshots, len(sum.Findings), *out)
	return err
}

// parseTime reads RFC 3339 or a date (UTC midnight); "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)", s)
	}
	return t, nil
}
