package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/parkgrid/parkgrid/central/report"
)

// Outbox is what the mail jobs need; *mail.Outbox has it.
type Outbox interface {
	Deliverer
	Purger
}

// SessionService is what the session jobs need; *session.Service has it.
type SessionService interface {
	Reconciler
	SessionControl
}

// Deps are central's parts the standard jobs use. A nil part leaves its
// jobs out (SQLite demo without mail, say).
type Deps struct {
	Outbox    Outbox         // mail-retry, retention of sent mail
	Sessions  SessionLister  // hold-expiry (the session store)
	Service   SessionService // reconcile, hold-expiry
	Edge      EdgeStopper    // hold-expiry's stop command; nil: the state moves, the edge's cap stops the car
	Reports   report.Source  // nightly-report
	Operators Operators      // nightly-report
	Sink      Sink           // nightly-report
	Location  *time.Location // schedules and report days; nil: UTC
	Logger    *slog.Logger
	// MailKept is how long sent and dead mails are kept; 0: 90 days.
	MailKept time.Duration
	HoldRule HoldRule
}

// Standard schedules (in Deps.Location).
const (
	SpecMailRetry     = "* * * * *"    // every minute
	SpecReconcile     = "*/5 * * * *"  // every 5 minutes
	SpecHoldExpiry    = "*/15 * * * *" // every 15 minutes
	SpecNightlyReport = "30 2 * * *"   // 02:30, after the day closed everywhere
	SpecRetention     = "0 4 * * *"    // 04:00
)

// Standard returns central's periodic jobs for the parts in d.
func Standard(d Deps) ([]Job, error) {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var js []Job
	if d.Outbox != nil {
		keep := d.MailKept
		if keep == 0 {
			keep = 90 * 24 * time.Hour
		}
		js = append(js,
			Job{Name: "mail-retry", Spec: SpecMailRetry, Run: MailRetry(d.Outbox)},
			Job{Name: "retention", Spec: SpecRetention, Run: Retention([]Retained{{Name: "mail", Purger: d.Outbox, Keep: keep}}, log)})
	}
	if d.Service != nil {
		js = append(js, Job{Name: "reconcile", Spec: SpecReconcile, Run: Reconcile(d.Service)})
		if d.Sessions != nil {
			var edge EdgeStopper = noEdge{}
			if d.Edge != nil {
				edge = d.Edge
			}
			js = append(js, Job{Name: "hold-expiry", Spec: SpecHoldExpiry, Run: HoldExpiry(d.HoldRule, d.Sessions, d.Service, edge, log)})
		}
	}
	switch n := countSet(d.Reports != nil, d.Operators != nil, d.Sink != nil); n {
	case 3:
		js = append(js, Job{Name: "nightly-report", Spec: SpecNightlyReport, Run: NightlyReport(d.Reports, d.Operators, d.Sink, d.Location)})
	case 0:
	default:
		return nil, fmt.Errorf("jobs: %w: the nightly report needs Reports, Operators and Sink together", ErrInvalid)
	}
	return js, nil
}

func countSet(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// noEdge is the EdgeStopper when central has no command channel.
type noEdge struct{}

func (noEdge) Stop(context.Context, string, string, string) error { return nil }
