package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrNotFound: no outbox message with that id.
var ErrNotFound = errors.New("mail not found")

// State is where an outbox message is.
type State string

// States. Stored: never rename a value.
const (
	StatePending State = "pending" // to send (again) at NextAttempt
	StateSent    State = "sent"    // accepted by the server: final
	StateDead    State = "dead"    // given up: permanent refusal or MaxAttempts
)

// Item is one outbox message as stored.
type Item struct {
	ID          string
	Built       Built
	State       State
	Attempts    int
	NextAttempt time.Time
	LastError   string
	CreatedAt   time.Time
	SentAt      time.Time // zero until sent
}

// Store keeps the outbox. mail/postgres and mail/sqlite implement it and
// pass mail/mailtest's suite.
type Store interface {
	// Enqueue stores b under id as pending, due at now; false (and nothing
	// changed) if id is stored already.
	Enqueue(ctx context.Context, id string, b Built, now time.Time) (bool, error)
	// Lease returns up to limit pending messages due at now and not leased,
	// oldest due first, and leases them until now+lease, so no other
	// caller gets them meanwhile.
	Lease(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Item, error)
	// MarkSent records a successful send; a message already sent stays as
	// it is.
	MarkSent(ctx context.Context, id string, now time.Time) error
	// MarkFailed records a failed attempt: attempts+1, the error, and
	// either the next attempt time or, with dead, the end.
	MarkFailed(ctx context.Context, id string, errText string, next time.Time, dead bool) error
	// Get returns one message.
	Get(ctx context.Context, id string) (Item, error)
	// Purge deletes sent and dead messages created before before (they
	// hold the driver's address and receipt: kept only as long as needed)
	// and returns how many; pending ones stay.
	Purge(ctx context.Context, before time.Time) (int64, error)
}

// Sender sends one message; *SMTP is one.
type Sender interface {
	Send(ctx context.Context, from, to string, raw []byte) error
}

// Backoff is the wait after the n-th failed attempt (n ≥ 1): one minute,
// doubled per attempt, at most six hours.
func Backoff(n int) time.Duration {
	d := time.Minute
	for i := 1; i < n && d < 6*time.Hour; i++ {
		d *= 2
	}
	return min(d, 6*time.Hour)
}

// MaxAttempts is when a message is given up: 12 attempts span about 1.5
// days with Backoff.
const MaxAttempts = 12

// Outbox queues and delivers messages.
type Outbox struct {
	store  Store
	sender Sender
	log    *slog.Logger
	lease  time.Duration
	batch  int
}

// NewOutbox returns an Outbox; log nil discards.
func NewOutbox(store Store, sender Sender, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{store: store, sender: sender, log: log, lease: 5 * time.Minute, batch: 50}
}

// Enqueue builds m and queues it under id (the idempotency key: the same
// id again queues nothing and returns false).
func (o *Outbox) Enqueue(ctx context.Context, id string, m Message, now time.Time) (bool, error) {
	b, err := Build(m, id, now)
	if err != nil {
		return false, err
	}
	added, err := o.store.Enqueue(ctx, id, b, now)
	if err != nil {
		return false, fmt.Errorf("mail %s: enqueue: %w", id, err)
	}
	if added {
		o.log.Info("mail queued", "mail", id, "bytes", len(b.Raw))
	}
	return added, nil
}

// Purge deletes the sent and dead messages created before before.
func (o *Outbox) Purge(ctx context.Context, before time.Time) (int64, error) {
	n, err := o.store.Purge(ctx, before)
	if err != nil {
		return 0, fmt.Errorf("mail purge: %w", err)
	}
	return n, nil
}

// DeliverReport counts what Deliver did.
type DeliverReport struct {
	Sent, Retry, Dead int
}

// Deliver sends the messages due at now, in batches until none is due,
// and records each outcome. It returns the first store error; send errors
// are recorded on the message and logged, not returned.
func (o *Outbox) Deliver(ctx context.Context, now time.Time) (DeliverReport, error) {
	var rep DeliverReport
	for {
		items, err := o.store.Lease(ctx, now, o.lease, o.batch)
		if err != nil {
			return rep, fmt.Errorf("mail deliver: lease: %w", err)
		}
		for _, it := range items {
			if err := o.deliver(ctx, it, now, &rep); err != nil {
				return rep, err
			}
		}
		if len(items) < o.batch {
			return rep, nil
		}
	}
}

func (o *Outbox) deliver(ctx context.Context, it Item, now time.Time, rep *DeliverReport) error {
	err := o.sender.Send(ctx, it.Built.From, it.Built.To, it.Built.Raw)
	if err == nil {
		if err := o.store.MarkSent(ctx, it.ID, now); err != nil {
			return fmt.Errorf("mail %s: sent, but not recorded: %w", it.ID, err)
		}
		rep.Sent++
		o.log.Info("mail sent", "mail", it.ID, "attempt", it.Attempts+1)
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: the lease runs out, the next run retries
	}
	var perm *PermanentError
	attempt := it.Attempts + 1
	dead := errors.As(err, &perm) || attempt >= MaxAttempts
	next := now.Add(Backoff(attempt))
	if err := o.store.MarkFailed(ctx, it.ID, err.Error(), next, dead); err != nil {
		return fmt.Errorf("mail %s: record failure: %w", it.ID, err)
	}
	if dead {
		rep.Dead++
		o.log.Error("mail given up", "mail", it.ID, "attempt", attempt, "err", err)
	} else {
		rep.Retry++
		o.log.Warn("mail failed, will retry", "mail", it.ID, "attempt", attempt, "next", next, "err", err)
	}
	return nil
}
