package central

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/command"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/jobs"
	jobspg "github.com/parkgrid/parkgrid/central/jobs/postgres"
	"github.com/parkgrid/parkgrid/internal/sqldb"
)

// This file wires central's periodic jobs (central/jobs): which run
// depends on what is configured (mail-retry and retention with a mail
// section, nightly-report with jobs.reports_dir; reconcile and
// hold-expiry always). On PostgreSQL every tick runs once across the
// replicas (jobs/postgres's advisory lock and job_runs); on SQLite central
// is one process and the LocalLocker does.

// configOperators lists the config's operators for the nightly report.
type configOperators []centralconfig.Operator

func (o configOperators) Operators(context.Context) ([]string, error) {
	ids := make([]string, len(o))
	for i, op := range o {
		ids[i] = op.ID
	}
	return ids, nil
}

// buildJobs returns central's jobs for cfg, with the config's schedules.
// mailer may be nil (no mail section), edge too (no command channel).
func buildJobs(cfg *centralconfig.Config, b *billing, mailer *receiptMailer, edge jobs.EdgeStopper, log *slog.Logger) ([]jobs.Job, error) {
	d := jobs.Deps{
		Edge: edge, Location: cfg.Jobs.Location(), Logger: log,
		HoldRule: jobs.HoldRule{Life: cfg.Jobs.HoldLife, Margin: cfg.Jobs.HoldMargin},
	}
	if b.sessions != nil { // never a typed nil in an interface
		d.Service, d.Sessions = b.sessions, b.sessionStore
	}
	if mailer != nil {
		d.Outbox, d.MailKept = mailer, cfg.Mail.Keep
	}
	if cfg.Jobs.ReportsDir != "" {
		d.Reports, d.Operators, d.Sink = b.usage, configOperators(cfg.Operators), jobs.DirSink{Dir: cfg.Jobs.ReportsDir}
	}
	js, err := jobs.Standard(d)
	if err != nil {
		return nil, err
	}
	for i := range js {
		if spec, ok := cfg.Jobs.Schedules[js[i].Name]; ok {
			js[i].Spec = spec
		}
	}
	return js, nil
}

// jobLocker is the Locker for the store: PostgreSQL's (its table migrated)
// or, for SQLite's single process, a LocalLocker. runner names this
// replica in job_runs.
func jobLocker(ctx context.Context, b *billing, runner string, now time.Time) (jobs.Locker, error) {
	switch b.dialect {
	case sqldb.Postgres:
		if err := jobspg.Migrate(ctx, b.pool, now); err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		return jobspg.NewLocker(b.pool, runner), nil
	case sqldb.SQLite:
		return jobs.NewLocalLocker(), nil
	}
	return nil, fmt.Errorf("jobs: dialect %q", b.dialect)
}

// startJobs starts the jobs and the receipt mailer under wg: both stop,
// and wg.Wait waits for a running job, when ctx ends.
func startJobs(ctx context.Context, wg *sync.WaitGroup, cfg *centralconfig.Config, b *billing, mailer *receiptMailer, edge jobs.EdgeStopper,
	now func() time.Time, log *slog.Logger) error {
	js, err := buildJobs(cfg, b, mailer, edge, log)
	if err != nil {
		return err
	}
	locker, err := jobLocker(ctx, b, cfg.MQTT.ClientID, now())
	if err != nil {
		return err
	}
	runner, err := jobs.NewRunner(locker, log, js...)
	if err != nil {
		return err
	}
	stop := runner.Start(ctx, cfg.Jobs.Location())
	wg.Go(func() {
		<-ctx.Done()
		stop()
	})
	names := make([]string, len(js))
	for i, j := range js {
		names[i] = j.Name + " " + j.Spec
	}
	log.Info("jobs started", "jobs", names, "time_zone", cfg.Jobs.Location().String())
	if mailer != nil {
		// A pass at start mails what was invoiced while central was down.
		select {
		case b.invoiced <- struct{}{}:
		default:
		}
		wg.Go(func() { mailer.run(ctx, b.invoiced, now) })
	}
	return nil
}

// edgeStopper is c as the hold-expiry job's EdgeStopper; nil without one.
func edgeStopper(c *command.Commander) jobs.EdgeStopper {
	if c == nil {
		return nil
	}
	return c
}
