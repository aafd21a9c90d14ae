package payment_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/payment"
)

func TestFeeOn(t *testing.T) {
	tests := []struct {
		fee    payment.Fee
		amount int64
		want   int64
	}{
		{payment.Fee{BP: 250}, 5000, 125},
		{payment.Fee{FixedMinor: 10, BP: 250}, 5000, 135},
		{payment.Fee{BP: 250}, 1, 0},          // 0.025 → 0
		{payment.Fee{BP: 250}, 20, 1},         // 0.5 → 1 (half up)
		{payment.Fee{FixedMinor: 50}, 30, 30}, // never more than the amount
		{payment.Fee{FixedMinor: 50}, 0, 0},
	}
	for _, tc := range tests {
		if got := tc.fee.On(tc.amount); got != tc.want {
			t.Errorf("%+v.On(%d) = %d, want %d", tc.fee, tc.amount, got, tc.want)
		}
	}
}

func TestFeeWithinAmount(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := payment.Fee{FixedMinor: rapid.Int64Range(0, 10_000).Draw(t, "fixed"), BP: rapid.Int64Range(0, 10_000).Draw(t, "bp")}
		amount := rapid.Int64Range(-10, 1_000_000_000).Draw(t, "amount")
		fee := f.On(amount)
		if fee < 0 || (amount > 0 && fee > amount) || (amount <= 0 && fee != 0) {
			t.Fatalf("%+v.On(%d) = %d", f, amount, fee)
		}
	})
}

func TestKey(t *testing.T) {
	if got := payment.Key("sess-1", "capture"); got != "sess-1/capture" {
		t.Errorf("Key = %q", got)
	}
}

func TestAuthorizeRequestValidate(t *testing.T) {
	ok := payment.AuthorizeRequest{IdempotencyKey: "k", AmountMinor: 1, Currency: "EUR"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []payment.AuthorizeRequest{
		{AmountMinor: 1, Currency: "EUR"},
		{IdempotencyKey: "k", Currency: "EUR"},
		{IdempotencyKey: "k", AmountMinor: 1, Currency: "eur"},
	} {
		if err := bad.Validate(); !errors.Is(err, payment.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// verifier is a WebhookVerifier whose answer each test sets.
type verifier struct {
	VerifyFn func(header http.Header, body []byte, now time.Time) (payment.Event, error)
}

func (v verifier) VerifyWebhook(_ context.Context, h http.Header, b []byte, now time.Time) (payment.Event, error) {
	return v.VerifyFn(h, b, now)
}

// eventLog is an EventLog whose behaviour each test sets.
type eventLog struct {
	SeenFn   func(provider, id string) (bool, error)
	RecordFn func(provider, id string) (bool, error)
}

func (l eventLog) Seen(_ context.Context, p, id string) (bool, error) { return l.SeenFn(p, id) }
func (l eventLog) Record(_ context.Context, p, id string, _ time.Time) (bool, error) {
	return l.RecordFn(p, id)
}

func TestReceive(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	good := verifier{func(http.Header, []byte, time.Time) (payment.Event, error) { return payment.Event{ID: "evt_1"}, nil }}
	forged := verifier{func(http.Header, []byte, time.Time) (payment.Event, error) {
		return payment.Event{}, payment.ErrSignature
	}}
	log := &payment.MemoryEventLog{}
	var handled []string
	handle := func(_ context.Context, ev payment.Event) error { handled = append(handled, ev.ID); return nil }

	if _, err := payment.Receive(ctx, "x", forged, log, handle, nil, nil, now); !errors.Is(err, payment.ErrSignature) {
		t.Errorf("forged: %v", err)
	}
	boom := errors.New("db down")
	failing := func(context.Context, payment.Event) error { return boom }
	if _, err := payment.Receive(ctx, "x", good, log, failing, nil, nil, now); !errors.Is(err, boom) {
		t.Errorf("failing handler: %v", err)
	}
	if _, err := payment.Receive(ctx, "x", good, log, handle, nil, nil, now); err != nil {
		t.Errorf("redelivery after a forgery and a failed handler: %v (neither may burn the id)", err)
	}
	if ev, err := payment.Receive(ctx, "x", good, log, handle, nil, nil, now); !errors.Is(err, payment.ErrReplayed) || ev.ID != "evt_1" {
		t.Errorf("replay: %+v, %v", ev, err)
	}
	if _, err := payment.Receive(ctx, "y", good, log, handle, nil, nil, now); err != nil {
		t.Errorf("same id from another provider: %v", err)
	}
	if want := []string{"evt_1", "evt_1"}; len(handled) != 2 {
		t.Errorf("handled %v, want %v (x once, y once)", handled, want)
	}
	down := eventLog{
		SeenFn:   func(string, string) (bool, error) { return false, boom },
		RecordFn: func(string, string) (bool, error) { return false, boom },
	}
	if _, err := payment.Receive(ctx, "x", good, down, handle, nil, nil, now); !errors.Is(err, boom) {
		t.Errorf("log failure: %v", err)
	}
}

// TestMemoryEventLogConcurrent: of many concurrent deliveries of one id,
// exactly one is first.
func TestMemoryEventLogConcurrent(t *testing.T) {
	log := &payment.MemoryEventLog{}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		firsts int
	)
	for range 16 {
		wg.Go(func() {
			first, err := log.Record(t.Context(), "stripe", "evt_1", time.Time{})
			if err != nil {
				t.Error(err)
			}
			if first {
				mu.Lock()
				firsts++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firsts != 1 {
		t.Errorf("%d deliveries were first, want 1", firsts)
	}
}
