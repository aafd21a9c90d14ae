package sessionrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/session"
)

// Sessions is what the runner needs of central/session's Service.
type Sessions interface {
	Charging(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
	Stop(ctx context.Context, id, cause string, now time.Time) (session.Session, error)
	Complete(ctx context.Context, id string, now time.Time) (session.Session, error)
}

// Lister lists sessions (central/session's Store).
type Lister interface {
	List(ctx context.Context, f session.Filter) ([]session.Session, error)
}

// Config configures a Runner.
type Config struct {
	Sessions  Sessions
	Lister    Lister
	Snapshots session.Snapshots // the ingest store through central/session/storesnap
	// Interval between passes (default 5 s).
	Interval time.Duration
	// StaleAfter: a session that has not moved for this long is reported
	// stale (default 12 h).
	StaleAfter time.Duration
	Now        func() time.Time // nil: time.Now
	Log        *slog.Logger     // nil: discard
}

// Runner moves sessions on the stored snapshots.
type Runner struct {
	cfg Config
	log *slog.Logger
}

// New returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Sessions == nil || cfg.Lister == nil || cfg.Snapshots == nil {
		return nil, errors.New("sessionrun: sessions, a lister and snapshots are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: cfg.Log}, nil
}

// Report is what one pass did.
type Report struct {
	Looked    int
	Charging  int      // moved to charging
	Stopping  int      // moved to stopping
	Completed int      // completed (billed, or flagged for review)
	Review    []string // of those, the ids flagged for review
	Stale     []string // waiting longer than StaleAfter
	Conflicts int      // moved by someone else meanwhile
}

// Run passes every Interval until ctx ends; errors are logged.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.Pass(ctx, r.cfg.Now()); err != nil && ctx.Err() == nil {
			r.log.Error("session pass", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass looks at every session waiting on the edge once. It goes on past a
// session it cannot move and returns every error.
func (r *Runner) Pass(ctx context.Context, now time.Time) (Report, error) {
	var rep Report
	list, err := r.cfg.Lister.List(ctx, session.Filter{States: []session.State{session.StateAuthorized, session.StateCharging, session.StateStopping}})
	if err != nil {
		return rep, fmt.Errorf("sessionrun: list: %w", err)
	}
	var errs []error
	for _, s := range list {
		rep.Looked++
		if err := r.advance(ctx, s, now, &rep); err != nil {
			if errors.Is(err, session.ErrConflict) {
				rep.Conflicts++
				continue
			}
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// advance moves one session as far as its snapshots allow.
func (r *Runner) advance(ctx context.Context, s session.Session, now time.Time, rep *Report) error {
	snaps, err := r.cfg.Snapshots.SessionSnapshots(ctx, s.Site, s.Meter, s.ID)
	if err != nil {
		return fmt.Errorf("session %s: snapshots: %w", s.ID, err)
	}
	begin, end := Evidence(snaps)
	for {
		var (
			next session.Session
			err  error
		)
		switch {
		case s.State == session.StateAuthorized && (begin || end):
			cause := "begin snapshot stored"
			if !begin {
				cause = "end snapshot stored without a begin snapshot"
			}
			if next, err = r.cfg.Sessions.Charging(ctx, s.ID, cause, now); err != nil {
				return fmt.Errorf("session %s: %w", s.ID, err)
			}
			rep.Charging++
			s = next
			continue
		case s.State == session.StateCharging && end:
			if next, err = r.cfg.Sessions.Stop(ctx, s.ID, "end snapshot stored", now); err != nil {
				return fmt.Errorf("session %s: %w", s.ID, err)
			}
			rep.Stopping++
			s = next
			continue
		case s.State == session.StateStopping && end:
			return r.complete(ctx, s, now, rep)
		}
		if now.Sub(s.UpdatedAt) >= r.cfg.StaleAfter {
			rep.Stale = append(rep.Stale, s.ID)
			r.log.Warn("session waits for the edge", "session", s.ID, "state", s.State, "since", s.UpdatedAt,
				"begin_snapshot", begin, "end_snapshot", end)
		}
		return nil
	}
}

// complete completes a stopping session whose end snapshot is stored.
func (r *Runner) complete(ctx context.Context, s session.Session, now time.Time, rep *Report) error {
	next, err := r.cfg.Sessions.Complete(ctx, s.ID, now)
	if next.State != session.StateCompleted && next.State != session.StateInvoiced {
		if err == nil {
			err = fmt.Errorf("complete left it %s", next.State)
		}
		return fmt.Errorf("session %s: %w", s.ID, err)
	}
	rep.Completed++
	if next.NeedsReview() {
		rep.Review = append(rep.Review, s.ID)
		r.log.Warn("session completed but needs review: not billed automatically", "session", s.ID, "flags", next.Review)
		return nil
	}
	if err != nil {
		// Stored as completed; billing failed and Reconcile retries it.
		r.log.Warn("session completed; billing will be retried", "session", s.ID, "err", err)
		return nil
	}
	r.log.Info("session completed from its snapshots", "session", s.ID, "state", next.State)
	return nil
}

// Evidence reports whether the snapshots hold a begin (TX B) and an end
// (TX E, L, R, A, P) reading. It judges neither signature nor order: that
// is Complete's (session.Measure), which flags what does not hold up.
func Evidence(snaps []session.Snapshot) (begin, end bool) {
	for _, s := range snaps {
		rec, err := ocmf.Parse(s.OCMF)
		if err != nil {
			continue
		}
		for _, rd := range rec.Fields.RD {
			switch rd.TX {
			case "B":
				begin = true
			case "E", "L", "R", "A", "P":
				end = true
			}
		}
	}
	return begin, end
}
