package eichrecht

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// LastSnapshot reads the meter's last signed snapshot without asking for a
// new one: "" when the meter has none (status idle, length 0). A meter busy
// with a snapshot is polled until it is done (or ctx / SnapshotTimeout
// ends), so a snapshot asked for just before the edge restarted is found
// once the meter has signed it. The edge uses it after a restart to pick up
// a snapshot the meter signed while nobody was there to read it.
func (m *Meter) LastSnapshot(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.opts.SnapshotTimeout)
	defer cancel()
	ticker := time.NewTicker(m.opts.PollInterval)
	defer ticker.Stop()
	var st status
	for {
		var err error
		if st, err = m.status(ctx); err != nil {
			return "", m.errorf("last snapshot: %w", err)
		}
		if st.state != StatusBusy {
			break
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", m.errorf("last snapshot: register 0x%04x: still busy after %v", RegSnapshotStatus, m.opts.SnapshotTimeout)
			}
			return "", m.errorf("last snapshot: %w", ctx.Err())
		case <-ticker.C:
		}
	}
	n := int(st.length)
	if n == 0 {
		return "", nil
	}
	if n < len("OCMF|") || n > SnapshotMaxBytes {
		return "", m.errorf("last snapshot: register 0x%04x: length %d not in 5..%d", RegSnapshotLength, n, SnapshotMaxBytes)
	}
	regs := uint16((n + 1) / 2)
	buf := make([]byte, 0, 2*int(regs))
	for off := uint16(0); off < regs; off += chunkRegisters {
		b, err := m.read(ctx, RegSnapshot+off, min(chunkRegisters, regs-off))
		if err != nil {
			return "", m.errorf("last snapshot: %w", err)
		}
		buf = append(buf, b...)
	}
	s, err := DecodeOCMF(m.name, buf, n)
	if err != nil {
		return "", fmt.Errorf("last snapshot: %w", err)
	}
	return s, nil
}
