package invoicetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// ErrAbort is what an aborted completion's write returns to roll back.
var ErrAbort = errors.New("completion aborted by the test")

// Backend is one dialect's issuer on a fresh, migrated database, reached
// through two separate connection pools (two central replicas).
type Backend struct {
	// Complete stores a completion row for inv.Session and issues inv in
	// one transaction through replica 0 or 1.
	Complete func(ctx context.Context, replica int, inv invoice.Invoice) (invoice.Invoice, error)
	// Abort does the same but rolls back after the number was allocated.
	Abort func(ctx context.Context, replica int, inv invoice.Invoice) error
	// Numbers returns the committed invoice numbers of operator, ascending.
	Numbers func(ctx context.Context, operator string) ([]int64, error)
	// Completions counts the committed completion rows.
	Completions func(ctx context.Context) (int, error)
	// Get reads one invoice back.
	Get func(ctx context.Context, operator string, number int64) (invoice.Invoice, error)
}

// T0 is the issue time of the suite's invoices.
var T0 = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

// Sample returns a valid invoice of operator for session.
func Sample(operator, session string) invoice.Invoice {
	tr := tariff.Tariff{ID: "std", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 49, StartFeeMinor: 100, VATRateBP: 1900}
	b, err := tariff.Price(tr, 12345, 95*time.Minute)
	if err != nil {
		panic(err) // a fixed, valid tariff
	}
	return invoice.Invoice{
		Operator: operator, Session: session, IssuedAt: T0,
		Receipt: invoice.Receipt{
			Seller:      invoice.Seller{Name: "Parkhaus Mitte GmbH", Address: "Hauptstr. 1, 10115 Berlin", VATID: "DE123456789"},
			IssuedAt:    T0,
			ChargePoint: invoice.ChargePoint{Site: "mitte", Point: "cp-07", EVSEID: "DE*PGR*E0007*1", Address: "Hauptstr. 1, 10115 Berlin"},
			Start:       T0.Add(-95 * time.Minute), End: T0,
			Price:   b,
			Payment: "card via Stripe",
			OCMF:    []string{`OCMF|{"FV":"1.0","RD":[{"TX":"B","RV":1.234}]}|{"SD":"3045"}`, `OCMF|{"FV":"1.0","RD":[{"TX":"E","RV":13.579}]}|{"SD":"3046"}`},
		},
	}
}

// Run runs the suite; open returns a fresh backend per subtest.
func Run(t *testing.T, open func(t *testing.T) Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b Backend)
	}{
		{"GapFreeUnderConcurrentReplicas", testConcurrent},
		{"RollbackGivesNumberBack", testRollback},
		{"OneInvoicePerSession", testOnePerSession},
		{"OperatorsCountIndependently", testOperators},
		{"ReceiptRoundTrip", testRoundTrip},
		{"InvalidRefused", testInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func wantNumbers(t *testing.T, b Backend, operator string, n int) {
	t.Helper()
	got, err := b.Numbers(t.Context(), operator)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, n)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("numbers of %s (-want +got):\n%s", operator, diff)
	}
}

// testConcurrent: 100 completions and 30 aborted completions at once,
// spread over two replicas: the committed numbers are exactly 1..100.
func testConcurrent(t *testing.T, b Backend) {
	const completions, aborts = 100, 30
	var wg sync.WaitGroup
	errs := make(chan error, completions+aborts)
	got := make(chan int64, completions)
	for i := range completions + aborts {
		wg.Go(func() {
			replica := i % 2
			inv := Sample("op-1", fmt.Sprintf("sess-%03d", i))
			if i >= completions {
				if err := b.Abort(t.Context(), replica, inv); !errors.Is(err, ErrAbort) {
					errs <- fmt.Errorf("abort %d: %v", i, err)
				}
				return
			}
			issued, err := b.Complete(t.Context(), replica, inv)
			if err != nil {
				errs <- fmt.Errorf("complete %d via replica %d: %w", i, replica, err)
				return
			}
			got <- issued.Number
		})
	}
	wg.Wait()
	close(errs)
	close(got)
	for err := range errs {
		t.Error(err)
	}
	var returned []int64
	for n := range got {
		returned = append(returned, n)
	}
	slices.Sort(returned)
	if len(returned) != completions || returned[0] != 1 || returned[len(returned)-1] != completions || len(slices.Compact(returned)) != completions {
		t.Errorf("Complete returned %d numbers %v…, want 1..%d once each", len(returned), returned[:min(5, len(returned))], completions)
	}
	wantNumbers(t, b, "op-1", completions)
	if n, err := b.Completions(t.Context()); err != nil || n != completions {
		t.Errorf("completion rows = %d, %v; want %d", n, err, completions)
	}
}

func testRollback(t *testing.T, b Backend) {
	ctx := t.Context()
	if _, err := b.Complete(ctx, 0, Sample("op-1", "s1")); err != nil {
		t.Fatal(err)
	}
	if err := b.Abort(ctx, 1, Sample("op-1", "s2")); !errors.Is(err, ErrAbort) {
		t.Fatalf("abort: %v", err)
	}
	inv, err := b.Complete(ctx, 1, Sample("op-1", "s2"))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Number != 2 {
		t.Errorf("after a rolled-back completion the next number is %d, want 2", inv.Number)
	}
	wantNumbers(t, b, "op-1", 2)
}

func testOnePerSession(t *testing.T, b Backend) {
	ctx := t.Context()
	if _, err := b.Complete(ctx, 0, Sample("op-1", "s1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Complete(ctx, 1, Sample("op-1", "s1")); !errors.Is(err, invoice.ErrAlreadyIssued) {
		t.Fatalf("second invoice for s1: %v, want ErrAlreadyIssued", err)
	}
	inv, err := b.Complete(ctx, 0, Sample("op-1", "s2"))
	if err != nil || inv.Number != 2 {
		t.Fatalf("next invoice: %d, %v; want 2", inv.Number, err)
	}
	if n, err := b.Completions(ctx); err != nil || n != 2 {
		t.Errorf("completion rows = %d, %v; want 2", n, err)
	}
}

func testOperators(t *testing.T, b Backend) {
	ctx := t.Context()
	for i, op := range []string{"op-a", "op-b", "op-a", "op-a", "op-b"} {
		if _, err := b.Complete(ctx, i%2, Sample(op, fmt.Sprintf("s%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	wantNumbers(t, b, "op-a", 3)
	wantNumbers(t, b, "op-b", 2)
}

func testRoundTrip(t *testing.T, b Backend) {
	want := Sample("op-1", "s1")
	want.Receipt.Number = invoice.FormatNumber("MITTE-", 1)
	issued, err := b.Complete(t.Context(), 0, want)
	if err != nil {
		t.Fatal(err)
	}
	want.Number = issued.Number
	got, err := b.Get(t.Context(), "op-1", issued.Number)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("invoice read back (-want +got):\n%s", diff)
	}
	if _, err := b.Get(t.Context(), "op-1", 99); !errors.Is(err, invoice.ErrNotFound) {
		t.Errorf("missing invoice: %v", err)
	}
}

func testInvalid(t *testing.T, b Backend) {
	inv := Sample("op-1", "s1")
	inv.Receipt.Price.GrossMinor++
	if _, err := b.Complete(t.Context(), 0, inv); !errors.Is(err, invoice.ErrInvalid) {
		t.Errorf("receipt that does not add up: %v", err)
	}
	wantNumbers(t, b, "op-1", 0)
}
