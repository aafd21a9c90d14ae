package fake_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/payment/paymenttest"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestConformance(t *testing.T) {
	paymenttest.Run(t, func(t *testing.T) paymenttest.Harness {
		c := &clock{t: t0}
		p := fake.New(fake.Options{Now: c.Now, HoldValidity: 24 * time.Hour})
		return paymenttest.Harness{
			Provider: p,
			Approve: func(t *testing.T, h payment.Hold) {
				if err := p.Approve(h.ID); err != nil {
					t.Fatal(err)
				}
			},
			Advance:      c.Advance,
			HoldValidity: 24 * time.Hour,
			Payee:        payment.Payee{Account: "acct_operator", Fee: payment.Fee{BP: 500}},
		}
	})
}

func TestSameKeyOtherRequestRefused(t *testing.T) {
	p := fake.New(fake.Options{AutoApprove: true})
	req := payment.AuthorizeRequest{IdempotencyKey: "s1/authorize", Reference: "s1", AmountMinor: 5000, Currency: "EUR"}
	h, err := p.Authorize(t.Context(), req)
	if err != nil || h.Status != payment.StatusAuthorized {
		t.Fatalf("auto-approved authorize: %+v, %v", h, err)
	}
	req.AmountMinor = 6000
	if _, err := p.Authorize(t.Context(), req); !errors.Is(err, payment.ErrIdempotencyMismatch) {
		t.Errorf("same key, other amount: %v", err)
	}
	if _, err := p.Capture(t.Context(), payment.CaptureRequest{IdempotencyKey: "s1/capture", HoldID: h.ID, AmountMinor: 100, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Capture(t.Context(), payment.CaptureRequest{IdempotencyKey: "s1/capture", HoldID: h.ID, AmountMinor: 200, Currency: "EUR"}); !errors.Is(err, payment.ErrIdempotencyMismatch) {
		t.Errorf("same capture key, other amount: %v", err)
	}
}

func TestDeclined(t *testing.T) {
	p := fake.New(fake.Options{})
	h, err := p.Authorize(t.Context(), payment.AuthorizeRequest{IdempotencyKey: "s1/authorize", Reference: "s1", AmountMinor: 5000, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Decline(h.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Confirm(t.Context(), payment.ConfirmRequest{HoldID: h.ID}); !errors.Is(err, payment.ErrDeclined) {
		t.Errorf("confirm of a declined hold: %v", err)
	}
}

func TestWebhooks(t *testing.T) {
	p := fake.New(fake.Options{WebhookSecret: "whsec_test"})
	ev := payment.Event{ID: "evt_1", Type: "hold.captured", Kind: payment.EventCaptured, HoldID: "hold_1", AmountMinor: 1234, Currency: "EUR", Created: t0}
	body, header, err := p.SignWebhook(ev, t0)
	if err != nil {
		t.Fatal(err)
	}
	log := &payment.MemoryEventLog{}
	got, err := payment.Receive(t.Context(), "fake", p, log, noop, header, body, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	if got != ev {
		t.Errorf("event = %+v, want %+v", got, ev)
	}
	if _, err := payment.Receive(t.Context(), "fake", p, log, noop, header, body, t0.Add(2*time.Minute)); !errors.Is(err, payment.ErrReplayed) {
		t.Errorf("replayed delivery: %v, want ErrReplayed", err)
	}

	tests := []struct {
		name   string
		body   []byte
		header http.Header
		now    time.Time
		want   error
	}{
		{"too old", body, header, t0.Add(301 * time.Second), payment.ErrStale},
		{"from the future", body, header, t0.Add(-301 * time.Second), payment.ErrStale},
		{"body changed", append([]byte(" "), body...), header, t0, payment.ErrSignature},
		{"no header", body, http.Header{}, t0, payment.ErrSignature},
		{"other secret", body, func() http.Header {
			_, h, _ := fake.New(fake.Options{WebhookSecret: "whsec_other"}).SignWebhook(ev, t0)
			return h
		}(), t0, payment.ErrSignature},
	}
	for _, tc := range tests {
		if _, err := p.VerifyWebhook(t.Context(), tc.header, tc.body, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := fake.New(fake.Options{}).VerifyWebhook(t.Context(), header, body, t0); !errors.Is(err, payment.ErrSignature) {
		t.Errorf("no secret configured: %v", err)
	}
}

// FuzzVerifyWebhook: outside bytes in the header and body never panic, and
// nothing but a correctly signed body verifies.
func FuzzVerifyWebhook(f *testing.F) {
	p := fake.New(fake.Options{WebhookSecret: "whsec_test"})
	body, header, _ := p.SignWebhook(payment.Event{ID: "evt_1", Kind: payment.EventCaptured, Created: t0}, t0)
	f.Add(header.Get(fake.SignatureHeader), body)
	f.Add("t=1,v1=zz", []byte(`{"id":""}`))
	f.Add("", []byte(`null`))
	f.Fuzz(func(t *testing.T, sig string, b []byte) {
		h := http.Header{}
		h.Set(fake.SignatureHeader, sig)
		ev, err := p.VerifyWebhook(t.Context(), h, b, t0)
		if err != nil {
			return
		}
		if string(b) != string(body) {
			t.Fatalf("forged body verified: %q → %+v", b, ev)
		}
	})
}

func noop(context.Context, payment.Event) error { return nil }

// TestMoneyMovesOnce drives one hold with random captures, cancels,
// refunds and clock moves, many with repeated keys, and checks after every
// step: at most one capture exists, the hold's captured amount is that
// capture's, the refunded amount is the sum of the distinct refunds and
// never above the capture, and a key that succeeded once always returns
// that first result.
func TestMoneyMovesOnce(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := &clock{t: t0}
		p := fake.New(fake.Options{Now: c.Now, HoldValidity: time.Hour, AutoApprove: true})
		ctx := context.Background()
		amount := rapid.Int64Range(1, 10_000).Draw(t, "hold")
		h, err := p.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "s/authorize", Reference: "s", AmountMinor: amount, Currency: "EUR"})
		if err != nil {
			t.Fatal(err)
		}
		firstCapture := map[string]payment.Capture{}
		firstRefund := map[string]payment.Refund{}
		captures := map[string]payment.Capture{}
		refunds := map[string]payment.Refund{}
		t.Repeat(map[string]func(*rapid.T){
			"capture": func(t *rapid.T) {
				key := rapid.SampledFrom([]string{"s/capture", "s/capture-2", "s/capture-3"}).Draw(t, "key")
				amt := rapid.Int64Range(1, amount+10).Draw(t, "amount")
				got, err := p.Capture(ctx, payment.CaptureRequest{IdempotencyKey: key, HoldID: h.ID, AmountMinor: amt, Currency: "EUR"})
				if err != nil {
					return
				}
				if first, ok := firstCapture[key]; ok && first != got {
					t.Fatalf("key %s returned %+v, first %+v", key, got, first)
				}
				firstCapture[key] = got
				captures[got.ID] = got
			},
			"cancel": func(t *rapid.T) {
				p.Cancel(ctx, payment.CancelRequest{IdempotencyKey: "s/cancel", HoldID: h.ID})
			},
			"refund": func(t *rapid.T) {
				key := rapid.SampledFrom([]string{"s/refund-1", "s/refund-2", "s/refund-3"}).Draw(t, "key")
				amt := rapid.Int64Range(1, amount).Draw(t, "amount")
				got, err := p.Refund(ctx, payment.RefundRequest{IdempotencyKey: key, HoldID: h.ID, AmountMinor: amt, Currency: "EUR"})
				if err != nil {
					return
				}
				if first, ok := firstRefund[key]; ok && first != got {
					t.Fatalf("key %s returned %+v, first %+v", key, got, first)
				}
				firstRefund[key] = got
				refunds[got.ID] = got
			},
			"time passes": func(t *rapid.T) {
				c.Advance(time.Duration(rapid.Int64Range(0, int64(40*time.Minute)).Draw(t, "d")))
			},
			"": func(t *rapid.T) {
				got, err := p.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID})
				if err != nil {
					t.Fatal(err)
				}
				if len(captures) > 1 {
					t.Fatalf("%d captures of one hold: %v", len(captures), captures)
				}
				var captured, refunded int64
				for _, c := range captures {
					captured = c.AmountMinor
				}
				for _, r := range refunds {
					refunded += r.AmountMinor
				}
				if got.CapturedMinor != captured || got.RefundedMinor != refunded {
					t.Fatalf("hold says captured %d refunded %d; calls returned captured %d refunded %d", got.CapturedMinor, got.RefundedMinor, captured, refunded)
				}
				if captured > amount || refunded > captured {
					t.Fatalf("hold %d, captured %d, refunded %d", amount, captured, refunded)
				}
			},
		})
	})
}
