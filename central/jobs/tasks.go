package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
)

// Deliverer sends due mails; *mail.Outbox has it.
type Deliverer interface {
	Deliver(ctx context.Context, now time.Time) (mail.DeliverReport, error)
}

// MailRetry is the run of the mail job: deliver what is due.
func MailRetry(o Deliverer) func(ctx context.Context, now time.Time) error {
	return func(ctx context.Context, now time.Time) error {
		_, err := o.Deliver(ctx, now)
		return err
	}
}

// Reconciler finishes interrupted money moves; *session.Service has it.
type Reconciler interface {
	Reconcile(ctx context.Context, now time.Time) (session.ReconcileReport, error)
}

// Reconcile is the run of the capture-retry job.
func Reconcile(r Reconciler) func(ctx context.Context, now time.Time) error {
	return func(ctx context.Context, now time.Time) error {
		_, err := r.Reconcile(ctx, now)
		return err
	}
}

// Operators lists the operators reports are made for.
type Operators interface {
	Operators(ctx context.Context) ([]string, error)
}

// Sink keeps a report file.
type Sink interface {
	Put(ctx context.Context, operator, name string, data []byte) error
}

// NightlyReport is the run of the nightly report job: for the day before
// now (in loc), each operator's usage by site and by charge point, as CSV
// and XLSX, to sink, named usage-<by>-<YYYY-MM-DD>.<ext>. A rerun for the
// same day writes the same files again.
func NightlyReport(src report.Source, ops Operators, sink Sink, loc *time.Location) func(ctx context.Context, now time.Time) error {
	if loc == nil {
		loc = time.UTC
	}
	return func(ctx context.Context, now time.Time) error {
		local := now.In(loc)
		to := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, loc)
		from := to.AddDate(0, 0, -1)
		names, err := ops.Operators(ctx)
		if err != nil {
			return fmt.Errorf("nightly report: operators: %w", err)
		}
		var errs []error
		for _, op := range names {
			q := report.Query{Operator: op, From: from, To: to}
			rows, err := src.Rows(ctx, q)
			if err != nil {
				errs = append(errs, fmt.Errorf("nightly report %s: %w", op, err))
				continue
			}
			for _, by := range []report.Dimension{report.BySite, report.ByPoint} {
				u, err := report.Summarize(q, rows, by, report.PeriodDay, loc)
				if err != nil {
					errs = append(errs, fmt.Errorf("nightly report %s: %w", op, err))
					continue
				}
				base := fmt.Sprintf("usage-%s-%s", by, from.Format("2006-01-02"))
				for ext, write := range map[string]func(io.Writer, report.Usage) error{"csv": report.WriteCSV, "xlsx": report.WriteXLSX} {
					var b bytes.Buffer
					if err := write(&b, u); err != nil {
						errs = append(errs, fmt.Errorf("nightly report %s %s.%s: %w", op, base, ext, err))
						continue
					}
					if err := sink.Put(ctx, op, base+"."+ext, b.Bytes()); err != nil {
						errs = append(errs, fmt.Errorf("nightly report %s %s.%s: %w", op, base, ext, err))
					}
				}
			}
		}
		return errors.Join(errs...)
	}
}

// safeName is what DirSink accepts as an operator or file name.
var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// DirSink keeps report files under Dir/<operator>/<name>, written to a
// temporary file and renamed, so a reader never sees half a file.
type DirSink struct{ Dir string }

// Put implements Sink.
func (d DirSink) Put(_ context.Context, operator, name string, data []byte) error {
	if !safeName.MatchString(operator) || !safeName.MatchString(name) {
		return fmt.Errorf("report file %q of operator %q: %w: unsafe name", name, operator, ErrInvalid)
	}
	dir := filepath.Join(d.Dir, operator)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("report dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("report file: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("report file %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("report file %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report file %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("report file %s: %w", name, err)
	}
	return nil
}

// Purger deletes records older than a time; *mail.Outbox has it.
type Purger interface {
	Purge(ctx context.Context, before time.Time) (int64, error)
}

// Retained is one kind of record with its retention period.
type Retained struct {
	Name   string
	Purger Purger
	Keep   time.Duration
}

// Retention is the run of the retention job: each kind purged of what is
// older than its period. Invoices are never purged here: they are kept
// for ten years (§147 AO, §14b UStG) in their own tables.
func Retention(kinds []Retained, log *slog.Logger) func(ctx context.Context, now time.Time) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, now time.Time) error {
		var errs []error
		for _, k := range kinds {
			n, err := k.Purger.Purge(ctx, now.Add(-k.Keep))
			if err != nil {
				errs = append(errs, fmt.Errorf("retention %s: %w", k.Name, err))
				continue
			}
			if n > 0 {
				log.Info("retention purged", "kind", k.Name, "rows", n, "older_than", k.Keep)
			}
		}
		return errors.Join(errs...)
	}
}
