package payment

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// EventLog remembers which webhook events were handled. Seen asks;
// Record notes an event as handled after its handler succeeded and
// reports whether it was new. A log shared by several central replicas
// keeps its rows in the database (Record as an insert that ignores
// conflicts).
type EventLog interface {
	Seen(ctx context.Context, provider, eventID string) (bool, error)
	Record(ctx context.Context, provider, eventID string, now time.Time) (first bool, err error)
}

// Handler acts on one verified event. It must be idempotent: a delivery
// can reach it twice (see Receive).
type Handler func(ctx context.Context, ev Event) error

// Receive verifies a webhook delivery with v, refuses an event already
// handled with ErrReplayed (returning the event too, so the HTTP handler
// can answer 200 and log it), hands a new one to handle, and records it
// once handle succeeded. Nothing is recorded for a forged delivery, so a
// forgery cannot burn a real event id, and nothing for a failed handler,
// so the provider's redelivery is handled again. Two deliveries of one
// event racing each other, or a crash between handle and Record, run
// handle twice; the session state machine's transitions are idempotent
// (money moves only under idempotency keys), so that is harmless.
func Receive(ctx context.Context, provider string, v WebhookVerifier, log EventLog, handle Handler, header http.Header, body []byte, now time.Time) (Event, error) {
	ev, err := v.VerifyWebhook(ctx, header, body, now)
	if err != nil {
		return Event{}, fmt.Errorf("%s webhook: %w", provider, err)
	}
	seen, err := log.Seen(ctx, provider, ev.ID)
	if err != nil {
		return Event{}, fmt.Errorf("%s webhook %s: event log: %w", provider, ev.ID, err)
	}
	if seen {
		return ev, fmt.Errorf("%s webhook %s: %w", provider, ev.ID, ErrReplayed)
	}
	if err := handle(ctx, ev); err != nil {
		return Event{}, fmt.Errorf("%s webhook %s: handle: %w", provider, ev.ID, err)
	}
	if _, err := log.Record(ctx, provider, ev.ID, now); err != nil {
		return ev, fmt.Errorf("%s webhook %s: event log: %w", provider, ev.ID, err)
	}
	return ev, nil
}

// MemoryEventLog is an EventLog for one process (tests, `make run`); it
// forgets on restart. Several replicas need a shared, database-backed log.
type MemoryEventLog struct {
	mu   sync.Mutex // protects the field below
	seen map[string]time.Time
}

func eventKey(provider, eventID string) string { return provider + "\x00" + eventID }

// Seen implements EventLog.
func (l *MemoryEventLog) Seen(_ context.Context, provider, eventID string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.seen[eventKey(provider, eventID)]
	return ok, nil
}

// Record implements EventLog.
func (l *MemoryEventLog) Record(_ context.Context, provider, eventID string, now time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = make(map[string]time.Time)
	}
	k := eventKey(provider, eventID)
	if _, ok := l.seen[k]; ok {
		return false, nil
	}
	l.seen[k] = now
	return true, nil
}
