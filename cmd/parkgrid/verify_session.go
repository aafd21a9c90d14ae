package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/parkgrid/parkgrid/central"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/store"
)

// sessionMeterKey finds, in central's store, the enrolled public key of the
// meter that signed the snapshots of a stored session.
func sessionMeterKey(ctx context.Context, cfgPath, session string) (string, error) {
	cfg, err := centralconfig.Load(cfgPath)
	if err != nil {
		return "", err
	}
	if cfg.Store.Driver == centralconfig.DriverSQLite {
		// Opening SQLite creates a missing file: a typo would look like
		// an empty store.
		if _, err := os.Stat(cfg.Store.Path); err != nil {
			return "", fmt.Errorf("--session: central's database %s: %w", cfg.Store.Path, err)
		}
	}
	st, err := central.OpenStore(ctx, cfg.Store, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	defer st.Close()
	snaps, err := st.Snapshots(ctx, store.SnapshotFilter{Session: session, Limit: 1})
	if err != nil {
		return "", fmt.Errorf("--session %s: %w", session, err)
	}
	if len(snaps) == 0 {
		return "", fmt.Errorf("--session %s: no stored snapshot belongs to this session", session)
	}
	k, err := st.MeterKey(ctx, snaps[0].Site, snaps[0].Meter)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("--session %s: meter %s of site %s has no enrolled key", session, snaps[0].Meter, snaps[0].Site)
	}
	if err != nil {
		return "", fmt.Errorf("--session %s: %w", session, err)
	}
	return k.PublicKey, nil
}
