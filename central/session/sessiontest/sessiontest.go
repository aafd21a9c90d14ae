package sessiontest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// Run runs the conformance suite; newStore returns a fresh, empty,
// migrated store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"CreateAndRead", testCreateAndRead},
		{"CreateTwiceRefused", testCreateTwice},
		{"UnknownSession", testUnknown},
		{"StaleVersionRefused", testStale},
		{"OneOfConcurrentUpdatesWins", testConcurrentUpdates},
		{"TransitionLogInOrder", testTransitionLog},
		{"InvalidUpdateRefused", testInvalidUpdate},
		{"InvoiceNumbersGapFree", testInvoiceNumbers},
		{"StaleInvoiceBurnsNoNumber", testStaleInvoice},
		{"ConcurrentInvoiceOfOneSession", testConcurrentInvoice},
		{"ListByStateAndTodo", testList},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// New returns a created session (version 1) and its first transition.
func New(id, operator string, at time.Time) (session.Session, session.Transition) {
	s := session.Session{
		ID: id, Operator: operator, Site: "mitte", Point: "cp-07", Meter: "m-07",
		State: session.StateCreated, Version: 1, Tariff: Tariff(), HoldMinor: 5000, EnergyCapWh: 100_000,
		Payee:     payment.Payee{Account: "acct_1", Fee: payment.Fee{FixedMinor: 10, BP: 150}},
		CreatedAt: at, UpdatedAt: at,
	}
	return s, session.Transition{Session: id, Version: 1, To: session.StateCreated, Cause: "driver requested a start", At: at}
}

func create(t *testing.T, st session.Store, id, operator string, at time.Time) session.Session {
	t.Helper()
	s, tr := New(id, operator, at)
	if err := st.Create(t.Context(), s, tr); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	return s
}

func move(t *testing.T, st session.Store, s session.Session, to session.State, at time.Time) session.Session {
	t.Helper()
	next, tr, err := session.Move(s, to, "test moves to "+string(to), at)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(t.Context(), next, &tr); err != nil {
		t.Fatalf("move %s to %s: %v", s.ID, to, err)
	}
	return next
}

func read(t *testing.T, st session.Store, id string) session.Session {
	t.Helper()
	s, err := st.Session(t.Context(), id)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return s
}

// completed moves a new session to completed with a priced billing.
func completed(t *testing.T, st session.Store, id, operator string, at time.Time) session.Session {
	t.Helper()
	s := create(t, st, id, operator, at)
	for _, to := range []session.State{session.StateAuthorized, session.StateCharging, session.StateStopping} {
		s = move(t, st, s, to, at)
	}
	p, err := tariff.Price(s.Tariff, 12_345, 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	next, tr, err := session.Move(s, session.StateCompleted, "end snapshot", at)
	if err != nil {
		t.Fatal(err)
	}
	next.HoldID = "hold_" + id
	next.Billing = &session.Billing{BeginMilliWh: 1_000_000, EndMilliWh: 13_345_000, EnergyWh: 12_345,
		Start: at.Add(-30 * time.Minute), End: at, Price: p, OCMF: []string{"OCMF|{}|{}"}}
	if err := st.Update(t.Context(), next, &tr); err != nil {
		t.Fatal(err)
	}
	return next
}

// invoiceOf is the invoice Service would issue for s.
func invoiceOf(s session.Session, at time.Time) invoice.Invoice {
	return invoice.Invoice{Operator: s.Operator, Session: s.ID, IssuedAt: at, Receipt: invoice.Receipt{
		Seller:      invoice.Seller{Name: "Parkhaus Mitte GmbH", Address: "Hauptstr. 1"},
		ChargePoint: invoice.ChargePoint{Site: s.Site, Point: s.Point},
		IssuedAt:    at, Start: s.Billing.Start, End: s.Billing.End, Price: s.Billing.Price, OCMF: s.Billing.OCMF,
	}}
}

func invoiced(s session.Session, at time.Time) (session.Session, session.Transition) {
	next, tr, err := session.Move(s, session.StateInvoiced, "captured", at)
	if err != nil {
		panic(err)
	}
	next.CaptureID = "cap_" + s.ID
	return next, tr
}

func testCreateAndRead(t *testing.T, st session.Store) {
	s := completed(t, st, "s-1", "op", T0)
	got := read(t, st, "s-1")
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
}

func testCreateTwice(t *testing.T, st session.Store) {
	first := create(t, st, "s-1", "op", T0)
	again, tr := New("s-1", "other-op", T0.Add(time.Minute))
	if err := st.Create(t.Context(), again, tr); !errors.Is(err, session.ErrExists) {
		t.Fatalf("second create: %v, want ErrExists", err)
	}
	if diff := cmp.Diff(first, read(t, st, "s-1")); diff != "" {
		t.Errorf("first session changed (-want +got):\n%s", diff)
	}
}

func testUnknown(t *testing.T, st session.Store) {
	if _, err := st.Session(t.Context(), "nope"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Session: %v, want ErrNotFound", err)
	}
	s, _ := New("nope", "op", T0)
	next, tr, _ := session.Move(s, session.StateAuthorized, "x", T0)
	if err := st.Update(t.Context(), next, &tr); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Update: %v, want ErrNotFound", err)
	}
}

func testStale(t *testing.T, st session.Store) {
	s := create(t, st, "s-1", "op", T0)
	won := move(t, st, s, session.StateAuthorized, T0.Add(time.Second))
	late, tr, _ := session.Move(s, session.StateCancelled, "late replica", T0.Add(2*time.Second))
	if err := st.Update(t.Context(), late, &tr); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	if diff := cmp.Diff(won, read(t, st, "s-1")); diff != "" {
		t.Errorf("after a stale update (-want +got):\n%s", diff)
	}
	log, err := st.Transitions(t.Context(), "s-1")
	if err != nil || len(log) != 2 {
		t.Errorf("transitions after a stale update: %d, %v; want 2", len(log), err)
	}
}

func testConcurrentUpdates(t *testing.T, st session.Store) {
	s := create(t, st, "s-1", "op", T0)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			to := session.StateAuthorized
			if i%2 == 1 {
				to = session.StateCancelled
			}
			next, tr, _ := session.Move(s, to, fmt.Sprintf("replica %d", i), T0.Add(time.Second))
			errs[i] = st.Update(t.Context(), next, &tr)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, session.ErrConflict):
			t.Errorf("replica %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent moves from version 1 succeeded, want 1", won, n)
	}
	if got := read(t, st, "s-1"); got.Version != 2 {
		t.Errorf("version %d, want 2", got.Version)
	}
}

func testTransitionLog(t *testing.T, st session.Store) {
	s := create(t, st, "s-1", "op", T0)
	s = move(t, st, s, session.StateAuthorized, T0.Add(time.Second))
	touched := s
	touched.Version++
	touched.HoldReleased = true // a change that is not a move: no log entry
	if err := st.Update(t.Context(), touched, nil); err != nil {
		t.Fatal(err)
	}
	move(t, st, touched, session.StateCharging, T0.Add(2*time.Second))
	got, err := st.Transitions(t.Context(), "s-1")
	if err != nil {
		t.Fatal(err)
	}
	want := []session.Transition{
		{Session: "s-1", Version: 1, To: session.StateCreated, Cause: "driver requested a start", At: T0},
		{Session: "s-1", Version: 2, From: session.StateCreated, To: session.StateAuthorized, Cause: "test moves to authorized", At: T0.Add(time.Second)},
		{Session: "s-1", Version: 4, From: session.StateAuthorized, To: session.StateCharging, Cause: "test moves to charging", At: T0.Add(2 * time.Second)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transition log (-want +got):\n%s", diff)
	}
}

func testInvalidUpdate(t *testing.T, st session.Store) {
	s := create(t, st, "s-1", "op", T0)
	next, tr, _ := session.Move(s, session.StateAuthorized, "x", T0)
	tr.To = session.StateInvoiced // the log would lie about the move
	if err := st.Update(t.Context(), next, &tr); !errors.Is(err, session.ErrInvalid) {
		t.Errorf("update with a transition to another state: %v, want ErrInvalid", err)
	}
	if got := read(t, st, "s-1"); got.Version != 1 {
		t.Errorf("version %d after a refused update, want 1", got.Version)
	}
}

func testInvoiceNumbers(t *testing.T, st session.Store) {
	for i, id := range []string{"s-1", "s-2", "s-3"} {
		s := completed(t, st, id, "op", T0)
		next, tr := invoiced(s, T0.Add(time.Minute))
		inv, err := st.Invoice(t.Context(), next, tr, invoiceOf(s, T0.Add(time.Minute)))
		if err != nil {
			t.Fatalf("invoice %s: %v", id, err)
		}
		if inv.Number != int64(i+1) {
			t.Errorf("invoice of %s: number %d, want %d", id, inv.Number, i+1)
		}
		got := read(t, st, id)
		if got.State != session.StateInvoiced || got.InvoiceNumber != int64(i+1) || got.CaptureID != "cap_"+id {
			t.Errorf("%s after invoicing: %s, number %d, capture %q", id, got.State, got.InvoiceNumber, got.CaptureID)
		}
	}
	other := completed(t, st, "s-4", "other-op", T0)
	next, tr := invoiced(other, T0)
	if inv, err := st.Invoice(t.Context(), next, tr, invoiceOf(other, T0)); err != nil || inv.Number != 1 {
		t.Errorf("first invoice of another operator: %d, %v; want 1", inv.Number, err)
	}
}

func testStaleInvoice(t *testing.T, st session.Store) {
	s := completed(t, st, "s-1", "op", T0)
	// Another replica changed the session after this one read it: the
	// invoice is refused and its number stays free.
	other := s
	other.Version++
	other.UpdatedAt = T0.Add(time.Second)
	if err := st.Update(t.Context(), other, nil); err != nil {
		t.Fatal(err)
	}
	next, tr := invoiced(s, T0)
	if _, err := st.Invoice(t.Context(), next, tr, invoiceOf(s, T0)); !errors.Is(err, session.ErrConflict) {
		t.Fatalf("invoice from a stale read: %v, want ErrConflict", err)
	}
	if got := read(t, st, "s-1"); got.State != session.StateCompleted || got.InvoiceNumber != 0 {
		t.Fatalf("after a refused invoice: %s, number %d", got.State, got.InvoiceNumber)
	}
	if log, _ := st.Transitions(t.Context(), "s-1"); len(log) != 5 {
		t.Errorf("%d transitions after a refused invoice, want 5", len(log))
	}
	s2 := completed(t, st, "s-2", "op", T0)
	next, tr = invoiced(s2, T0)
	if inv, err := st.Invoice(t.Context(), next, tr, invoiceOf(s2, T0)); err != nil || inv.Number != 1 {
		t.Errorf("next invoice: number %d, %v; want 1 (no number burnt)", inv.Number, err)
	}
}

func testConcurrentInvoice(t *testing.T, st session.Store) {
	s := completed(t, st, "s-1", "op", T0)
	const n = 6
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		nums []int64
	)
	for range n {
		wg.Go(func() {
			next, tr := invoiced(s, T0)
			inv, err := st.Invoice(t.Context(), next, tr, invoiceOf(s, T0))
			if err != nil && !errors.Is(err, session.ErrConflict) && !errors.Is(err, invoice.ErrAlreadyIssued) {
				t.Errorf("concurrent invoice: %v", err)
			}
			if err == nil {
				mu.Lock()
				nums = append(nums, inv.Number)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(nums) != 1 || nums[0] != 1 {
		t.Errorf("numbers issued for one session by %d replicas: %v, want [1]", n, nums)
	}
}

func testList(t *testing.T, st session.Store) {
	create(t, st, "a", "op", T0.Add(3*time.Second))         // created: todo
	completed(t, st, "b", "op", T0.Add(1*time.Second))      // completed: todo
	c := completed(t, st, "c", "op", T0.Add(2*time.Second)) // completed, flagged: not todo
	c.Version++
	c.Review = []session.Flag{session.FlagEndMissing}
	if err := st.Update(t.Context(), c, nil); err != nil {
		t.Fatal(err)
	}
	move(t, st, create(t, st, "d", "op", T0), session.StateCancelled, T0) // cancelled, hold held: todo
	completed(t, st, "e", "other-op", T0.Add(4*time.Second))              // another operator's
	ids := func(ss []session.Session) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    session.Filter
		want []string
	}{
		{session.Filter{States: []session.State{session.StateCompleted}}, []string{"b", "c", "e"}},
		{session.Filter{States: []session.State{session.StateCompleted}, Operator: "op"}, []string{"b", "c"}},
		{session.Filter{States: []session.State{session.StateCompleted}, Operator: "other-op"}, []string{"e"}},
		{session.Filter{States: []session.State{session.StateCompleted}, Operator: "nobody"}, nil},
		{session.Filter{States: []session.State{session.StateCompleted}, Todo: true}, []string{"b", "e"}},
		{session.Filter{States: []session.State{session.StateCompleted}, Todo: true, Operator: "op"}, []string{"b"}},
		{session.Filter{States: []session.State{session.StateCreated, session.StateCompleted, session.StateCancelled}, Todo: true}, []string{"d", "b", "a", "e"}},
		{session.Filter{States: []session.State{session.StateCreated, session.StateCompleted, session.StateCancelled}, Todo: true, Limit: 2}, []string{"d", "b"}},
		{session.Filter{States: []session.State{session.StateInvoiced}}, nil},
	} {
		got, err := st.List(t.Context(), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, ids(got)); diff != "" {
			t.Errorf("List(%+v) (-want +got):\n%s", tc.f, diff)
		}
	}
}
