package paymenttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/payment"
)

// Harness is one fresh provider and the hands a test needs around it.
type Harness struct {
	Provider payment.Provider
	// Approve plays the driver approving the hold in the provider's UI.
	Approve func(t *testing.T, h payment.Hold)
	// Advance moves the provider's clock; nil skips the expiry test.
	Advance func(d time.Duration)
	// HoldValidity is how long an authorised hold lasts (with Advance).
	HoldValidity time.Duration
	// Payee is put on every hold.
	Payee payment.Payee
}

// Run runs the suite; newHarness returns a fresh provider per subtest.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"CaptureLessThanHold", testCaptureLess},
		{"CaptureExceedingHoldRefused", testCaptureExceeds},
		{"CaptureBeforeApprovalRefused", testCaptureBeforeApproval},
		{"CaptureAfterCancelRefused", testCaptureAfterCancel},
		{"CancelAfterCaptureRefused", testCancelAfterCapture},
		{"CancelTwice", testCancelTwice},
		{"AuthorizeSameKeySameHold", testAuthorizeSameKey},
		{"CaptureSameKeyMovesMoneyOnce", testCaptureSameKey},
		{"ConcurrentCaptureSameKey", testConcurrentCapture},
		{"SecondCaptureNewKeyRefused", testSecondCapture},
		{"Refunds", testRefunds},
		{"RefundBeforeCaptureRefused", testRefundBeforeCapture},
		{"UnknownHold", testUnknownHold},
		{"NoIdempotencyKeyRefused", testNoKey},
		{"HoldExpires", testExpiry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

var seq struct {
	sync.Mutex
	n int
}

// session returns a session id unique within the test binary, so keys
// never collide across subtests sharing one provider server.
func session(t *testing.T) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("sess-%d-%d", time.Now().UnixNano(), seq.n)
}

// authorized returns an approved, confirmed hold of amount EUR minor units.
func authorized(t *testing.T, h Harness, sess string, amount int64) payment.Hold {
	t.Helper()
	ctx := t.Context()
	hold := pending(t, h, sess, amount)
	h.Approve(t, hold)
	got, err := h.Provider.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: payment.Key(sess, "confirm"), HoldID: hold.ID})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if got.Status != payment.StatusAuthorized || got.AmountMinor != amount {
		t.Fatalf("confirmed hold: %s %d, want authorized %d", got.Status, got.AmountMinor, amount)
	}
	return got
}

func pending(t *testing.T, h Harness, sess string, amount int64) payment.Hold {
	t.Helper()
	hold, err := h.Provider.Authorize(t.Context(), payment.AuthorizeRequest{
		IdempotencyKey: payment.Key(sess, "authorize"), Reference: sess, AmountMinor: amount,
		Currency: "EUR", Description: "parkgrid charging", Payee: h.Payee,
		ReturnURL: "https://example.invalid/back", CancelURL: "https://example.invalid/cancel",
	})
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	if hold.ID == "" || hold.AmountMinor != amount || hold.Currency != "EUR" {
		t.Fatalf("authorize returned %+v", hold)
	}
	return hold
}

func capture(ctx context.Context, h Harness, key, holdID string, amount int64) (payment.Capture, error) {
	return h.Provider.Capture(ctx, payment.CaptureRequest{IdempotencyKey: key, HoldID: holdID, AmountMinor: amount, Currency: "EUR"})
}

func state(t *testing.T, h Harness, sess, holdID string) payment.Hold {
	t.Helper()
	got, err := h.Provider.Confirm(t.Context(), payment.ConfirmRequest{IdempotencyKey: payment.Key(sess, "confirm"), HoldID: holdID})
	if err != nil {
		t.Fatalf("confirm: %v", err)
	}
	return got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func testCaptureLess(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	c, err := capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 1234)
	if err != nil {
		t.Fatal(err)
	}
	if c.AmountMinor != 1234 || c.HoldID != hold.ID || c.ID == "" {
		t.Errorf("capture = %+v", c)
	}
	if got := state(t, h, sess, hold.ID); got.Status != payment.StatusCaptured || got.CapturedMinor != 1234 {
		t.Errorf("after capture: %s, captured %d", got.Status, got.CapturedMinor)
	}
}

func testCaptureExceeds(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	_, err := capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 5001)
	wantErr(t, "capture 5001 of 5000", err, payment.ErrExceedsHold)
	if got := state(t, h, sess, hold.ID); got.Status != payment.StatusAuthorized {
		t.Errorf("after refused capture: %s", got.Status)
	}
	if _, err := capture(t.Context(), h, payment.Key(sess, "capture-2"), hold.ID, 5000); err != nil {
		t.Errorf("capture of the whole hold: %v", err)
	}
}

func testCaptureBeforeApproval(t *testing.T, h Harness) {
	sess := session(t)
	hold := pending(t, h, sess, 5000)
	_, err := capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 100)
	wantErr(t, "capture of a pending hold", err, payment.ErrState)
}

func testCaptureAfterCancel(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	got, err := h.Provider.Cancel(t.Context(), payment.CancelRequest{IdempotencyKey: payment.Key(sess, "cancel"), HoldID: hold.ID})
	if err != nil || got.Status != payment.StatusCanceled {
		t.Fatalf("cancel: %s, %v", got.Status, err)
	}
	_, err = capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 100)
	wantErr(t, "capture after cancel", err, payment.ErrState)
}

func testCancelAfterCapture(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	if _, err := capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 100); err != nil {
		t.Fatal(err)
	}
	_, err := h.Provider.Cancel(t.Context(), payment.CancelRequest{IdempotencyKey: payment.Key(sess, "cancel"), HoldID: hold.ID})
	wantErr(t, "cancel after capture", err, payment.ErrState)
}

func testCancelTwice(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	for i := range 2 {
		got, err := h.Provider.Cancel(t.Context(), payment.CancelRequest{IdempotencyKey: payment.Key(sess, "cancel"), HoldID: hold.ID})
		if err != nil || got.Status != payment.StatusCanceled {
			t.Fatalf("cancel %d: %s, %v", i+1, got.Status, err)
		}
	}
}

func testAuthorizeSameKey(t *testing.T, h Harness) {
	sess := session(t)
	a := pending(t, h, sess, 5000)
	b := pending(t, h, sess, 5000)
	if a.ID != b.ID {
		t.Errorf("same key made two holds: %s and %s", a.ID, b.ID)
	}
}

func testCaptureSameKey(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	key := payment.Key(sess, "capture")
	first, err := capture(t.Context(), h, key, hold.ID, 1234)
	if err != nil {
		t.Fatal(err)
	}
	again, err := capture(t.Context(), h, key, hold.ID, 1234)
	if err != nil {
		t.Fatalf("repeated capture with the same key: %v", err)
	}
	if again != first {
		t.Errorf("repeat returned %+v, first was %+v", again, first)
	}
	if got := state(t, h, sess, hold.ID); got.CapturedMinor != 1234 {
		t.Errorf("captured %d after a repeated capture of 1234", got.CapturedMinor)
	}
}

func testConcurrentCapture(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	key := payment.Key(sess, "capture")
	const n = 8
	var (
		wg   sync.WaitGroup
		caps [n]payment.Capture
		errs [n]error
	)
	for i := range n {
		wg.Go(func() { caps[i], errs[i] = capture(t.Context(), h, key, hold.ID, 2500) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("capture %d: %v", i, errs[i])
		}
		if caps[i] != caps[0] {
			t.Errorf("capture %d = %+v, capture 0 = %+v", i, caps[i], caps[0])
		}
	}
	if got := state(t, h, sess, hold.ID); got.CapturedMinor != 2500 {
		t.Errorf("captured %d after %d concurrent captures of 2500 with one key", got.CapturedMinor, n)
	}
}

func testSecondCapture(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	if _, err := capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 1000); err != nil {
		t.Fatal(err)
	}
	_, err := capture(t.Context(), h, payment.Key(sess, "capture-again"), hold.ID, 1000)
	wantErr(t, "second capture with a new key", err, payment.ErrState)
}

func testRefunds(t *testing.T, h Harness) {
	sess := session(t)
	ctx := t.Context()
	hold := authorized(t, h, sess, 5000)
	c, err := capture(ctx, h, payment.Key(sess, "capture"), hold.ID, 3000)
	if err != nil {
		t.Fatal(err)
	}
	refund := func(n int, amount int64) (payment.Refund, error) {
		return h.Provider.Refund(ctx, payment.RefundRequest{IdempotencyKey: payment.Key(sess, fmt.Sprintf("refund-%d", n)),
			HoldID: hold.ID, CaptureID: c.ID, AmountMinor: amount, Currency: "EUR", Reason: "requested_by_customer"})
	}
	r1, err := refund(1, 1000)
	if err != nil || r1.AmountMinor != 1000 {
		t.Fatalf("refund 1000: %+v, %v", r1, err)
	}
	again, err := refund(1, 1000)
	if err != nil || again.ID != r1.ID {
		t.Fatalf("repeated refund: %+v, %v; first %+v", again, err, r1)
	}
	_, err = refund(2, 2001)
	wantErr(t, "refund beyond the captured amount", err, payment.ErrExceedsHold)
	if _, err := refund(3, 2000); err != nil {
		t.Fatalf("refund of the rest: %v", err)
	}
	if got := state(t, h, sess, hold.ID); got.RefundedMinor != 3000 {
		t.Errorf("refunded %d, want 3000", got.RefundedMinor)
	}
}

func testRefundBeforeCapture(t *testing.T, h Harness) {
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	_, err := h.Provider.Refund(t.Context(), payment.RefundRequest{IdempotencyKey: payment.Key(sess, "refund-1"),
		HoldID: hold.ID, AmountMinor: 100, Currency: "EUR"})
	wantErr(t, "refund of an uncaptured hold", err, payment.ErrState)
}

func testUnknownHold(t *testing.T, h Harness) {
	_, err := capture(t.Context(), h, payment.Key(session(t), "capture"), "no-such-hold", 100)
	wantErr(t, "capture of an unknown hold", err, payment.ErrNotFound)
}

func testNoKey(t *testing.T, h Harness) {
	sess := session(t)
	_, err := h.Provider.Authorize(t.Context(), payment.AuthorizeRequest{Reference: sess, AmountMinor: 100, Currency: "EUR"})
	wantErr(t, "authorize without a key", err, payment.ErrInvalid)
	hold := authorized(t, h, sess, 5000)
	_, err = capture(t.Context(), h, "", hold.ID, 100)
	wantErr(t, "capture without a key", err, payment.ErrInvalid)
}

func testExpiry(t *testing.T, h Harness) {
	if h.Advance == nil {
		t.Skip("the provider's clock cannot be moved")
	}
	sess := session(t)
	hold := authorized(t, h, sess, 5000)
	h.Advance(h.HoldValidity + time.Second)
	_, err := capture(t.Context(), h, payment.Key(sess, "capture"), hold.ID, 100)
	wantErr(t, "capture of an expired hold", err, payment.ErrState)
	if got := state(t, h, sess, hold.ID); got.Status != payment.StatusExpired {
		t.Errorf("after the validity: %s, want expired", got.Status)
	}
}
