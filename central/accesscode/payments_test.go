package accesscode_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/parkgrid/parkgrid/central/accesscode"
	"github.com/parkgrid/parkgrid/central/payment"
)

// TestPaymentsRouting: code sessions never reach the provider; the others
// always do.
func TestPaymentsRouting(t *testing.T) {
	ctx := context.Background()
	p := &provider{}
	pay := accesscode.Payments{Provider: p}
	h, err := pay.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "s1/authorize", Reference: "s1", AmountMinor: 500, Currency: "EUR", Payee: accesscode.Payee("c1")})
	if err != nil || h.Status != payment.StatusAuthorized || h.ID != "code:s1" || h.AmountMinor != 500 {
		t.Fatalf("code hold %+v, %v", h, err)
	}
	if _, err := pay.Confirm(ctx, payment.ConfirmRequest{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	c, err := pay.Capture(ctx, payment.CaptureRequest{HoldID: h.ID, AmountMinor: 321, Currency: "EUR"})
	if err != nil || c.AmountMinor != 321 || c.HoldID != h.ID {
		t.Fatalf("code capture %+v, %v", c, err)
	}
	if _, err := pay.Cancel(ctx, payment.CancelRequest{HoldID: h.ID}); err != nil {
		t.Fatal(err)
	}
	if len(p.calls) != 0 {
		t.Fatalf("code session reached the provider: %v", p.calls)
	}
	if _, err := pay.Authorize(ctx, payment.AuthorizeRequest{IdempotencyKey: "s2/authorize", Reference: "s2", AmountMinor: 5000, Currency: "EUR"}); err != nil {
		t.Fatal(err)
	}
	pay.Confirm(ctx, payment.ConfirmRequest{HoldID: "pi_1"}) //nolint:errcheck
	pay.Capture(ctx, payment.CaptureRequest{HoldID: "pi_1"}) //nolint:errcheck
	pay.Cancel(ctx, payment.CancelRequest{HoldID: "pi_1"})   //nolint:errcheck
	want := []string{"authorize s2", "confirm pi_1", "capture pi_1", "cancel pi_1"}
	if !slices.Equal(p.calls, want) {
		t.Errorf("provider calls %v, want %v", p.calls, want)
	}
	if _, err := (accesscode.Payments{}).Authorize(ctx, payment.AuthorizeRequest{Reference: "s3"}); !errors.Is(err, payment.ErrInvalid) {
		t.Errorf("no provider: %v", err)
	}
}

func TestCodeOf(t *testing.T) {
	if id, ok := accesscode.CodeOf(accesscode.Payee("kst-1")); !ok || id != "kst-1" {
		t.Errorf("code payee: %q %v", id, ok)
	}
	for _, acct := range []string{"", "acct_123", "code:"} {
		if id, ok := accesscode.CodeOf(payment.Payee{Account: acct}); ok {
			t.Errorf("payee %q: code %q", acct, id)
		}
	}
}
