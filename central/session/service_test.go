package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/central/tariff"
)

var errCrash = errors.New("central died here (test)")

// counting wraps the fake provider and records every capture it returns,
// so a test can tell whether money moved twice.
type counting struct {
	payment.Authorizer
	mu       sync.Mutex                  // protects the field below
	captures map[string]map[string]int64 // hold → capture id → amount
}

func (c *counting) Capture(ctx context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	cp, err := c.Authorizer.Capture(ctx, r)
	if err == nil {
		c.mu.Lock()
		if c.captures == nil {
			c.captures = map[string]map[string]int64{}
		}
		if c.captures[r.HoldID] == nil {
			c.captures[r.HoldID] = map[string]int64{}
		}
		c.captures[r.HoldID][cp.ID] = cp.AmountMinor
		c.mu.Unlock()
	}
	return cp, err
}

func (c *counting) distinctCaptures(holdID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.captures[holdID])
}

// harness is a Service on the in-memory store and the fake provider.
type harness struct {
	svc   *session.Service
	store *sessiontest.Memory
	fake  *fake.Provider
	pay   *counting
	snaps *sessiontest.Snapshots
	meter *sessiontest.Meter

	mu    sync.Mutex // protects armed
	armed string     // the crash point that fires next
}

func newHarness(t testing.TB, autoApprove bool) *harness {
	t.Helper()
	h := &harness{
		store: sessiontest.NewMemory(),
		fake:  fake.New(fake.Options{Now: func() time.Time { return t0 }, AutoApprove: autoApprove}),
		snaps: &sessiontest.Snapshots{},
		meter: meter(t, "SIM-cp-07"),
	}
	h.pay = &counting{Authorizer: h.fake}
	svc, err := session.New(session.Config{
		Store: h.store, Payments: h.pay, Snapshots: h.snaps, Issuers: sessiontest.Issuers{},
		Crash: func(point string) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.armed == point {
				h.armed = ""
				return fmt.Errorf("%s: %w", point, errCrash)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

func (h *harness) arm(point string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = point
}

func request(id string) session.StartRequest {
	return session.StartRequest{ID: id, Operator: "op", Site: "mitte", Point: "cp-07", Meter: "m-07",
		Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Account: "acct_1", Fee: payment.Fee{BP: 150}}}
}

// charge takes a session from start to stopping with signed begin and end
// snapshots of wh Wh in 30 minutes.
func (h *harness) charge(t *testing.T, id string, wh int64) {
	t.Helper()
	ctx := t.Context()
	if _, err := h.svc.Start(ctx, request(id), t0); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := h.svc.Charging(ctx, id, "edge: charging", t0.Add(time.Minute)); err != nil {
		t.Fatalf("charging: %v", err)
	}
	h.snaps.Add(id, sessiontest.Verified(h.meter.Record(1, "B", 1_000, t0.Add(time.Minute)),
		h.meter.Record(2, "E", 1_000+wh, t0.Add(31*time.Minute)))...)
	if _, err := h.svc.Stop(ctx, id, "driver: stop", t0.Add(31*time.Minute)); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

func (h *harness) hold(t *testing.T, id string) payment.Hold {
	t.Helper()
	s, err := h.store.Session(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	hd, err := h.fake.Confirm(t.Context(), payment.ConfirmRequest{IdempotencyKey: "look", HoldID: s.HoldID})
	if err != nil && !errors.Is(err, payment.ErrDeclined) {
		t.Fatalf("hold of %s: %v", id, err)
	}
	return hd
}

func TestStartToInvoice(t *testing.T) {
	h := newHarness(t, true)
	ctx := t.Context()
	h.charge(t, "s-1", 12_345)
	s, err := h.svc.Complete(ctx, "s-1", t0.Add(32*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := tariff.Price(sessiontest.Tariff(), 12_345, 30*time.Minute) // 100 + 605 = 705
	if s.State != session.StateInvoiced || s.InvoiceNumber != 1 || s.Billing.EnergyWh != 12_345 || s.Billing.Price.GrossMinor != want.GrossMinor {
		t.Fatalf("after Complete: %s, invoice %d, %d Wh, %d minor", s.State, s.InvoiceNumber, s.Billing.EnergyWh, s.Billing.Price.GrossMinor)
	}
	if s.EnergyCapWh != 100_010 {
		t.Errorf("energy cap %d Wh, want 100010", s.EnergyCapWh)
	}
	if hd := h.hold(t, "s-1"); hd.Status != payment.StatusCaptured || hd.CapturedMinor != 705 {
		t.Errorf("hold: %s, captured %d; want captured 705", hd.Status, hd.CapturedMinor)
	}
	inv := h.store.Invoices()["s-1"]
	if inv.Receipt.Price.GrossMinor != 705 || len(inv.Receipt.OCMF) != 2 || inv.Receipt.Start.IsZero() {
		t.Errorf("invoice receipt: %+v", inv.Receipt)
	}
	log, err := h.store.Transitions(ctx, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	var path []session.State
	for _, tr := range log {
		path = append(path, tr.To)
		if tr.Cause == "" || tr.At.IsZero() {
			t.Errorf("transition without cause or time: %+v", tr)
		}
	}
	wantPath := []session.State{session.StateCreated, session.StateAuthorized, session.StateCharging, session.StateStopping, session.StateCompleted, session.StateInvoiced}
	if diff := cmp.Diff(wantPath, path); diff != "" {
		t.Errorf("transition log (-want +got):\n%s", diff)
	}
	if _, err := h.svc.Bill(ctx, "s-1", t0.Add(time.Hour)); !errors.Is(err, session.ErrIllegalTransition) {
		t.Errorf("billing an invoiced session: %v, want ErrIllegalTransition", err)
	}
}

func TestPendingHoldWaitsForTheDriver(t *testing.T) {
	h := newHarness(t, false)
	ctx := t.Context()
	s, err := h.svc.Start(ctx, request("s-1"), t0)
	if err != nil || s.State != session.StateCreated || s.HoldID == "" {
		t.Fatalf("start with a pending hold: %s %q, %v", s.State, s.HoldID, err)
	}
	if _, err := h.svc.Charging(ctx, "s-1", "too early", t0); !errors.Is(err, session.ErrIllegalTransition) {
		t.Errorf("charging before the hold: %v, want ErrIllegalTransition", err)
	}
	if err := h.fake.Approve(s.HoldID); err != nil {
		t.Fatal(err)
	}
	if s, err = h.svc.Confirm(ctx, "s-1", t0.Add(time.Minute)); err != nil || s.State != session.StateAuthorized {
		t.Fatalf("confirm: %s, %v", s.State, err)
	}
}

func TestDeclinedHoldFails(t *testing.T) {
	h := newHarness(t, false)
	s, err := h.svc.Start(t.Context(), request("s-1"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.fake.Decline(s.HoldID); err != nil {
		t.Fatal(err)
	}
	if s, err = h.svc.Confirm(t.Context(), "s-1", t0); err != nil || s.State != session.StateFailed || !s.HoldReleased {
		t.Fatalf("confirm a declined hold: %s released=%v, %v", s.State, s.HoldReleased, err)
	}
}

func TestCancelAndFailReleaseTheHold(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before []func(h *harness, ctx context.Context) error
		end    func(h *harness, ctx context.Context) (session.Session, error)
		want   session.State
	}{
		{"cancel authorized", nil,
			func(h *harness, ctx context.Context) (session.Session, error) {
				return h.svc.Cancel(ctx, "s-1", "driver cancelled", t0)
			}, session.StateCancelled},
		{"fail while charging", []func(*harness, context.Context) error{
			func(h *harness, ctx context.Context) error {
				_, err := h.svc.Charging(ctx, "s-1", "edge", t0)
				return err
			},
		}, func(h *harness, ctx context.Context) (session.Session, error) {
			return h.svc.Fail(ctx, "s-1", "charger fault before any energy", t0)
		}, session.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, true)
			ctx := t.Context()
			if _, err := h.svc.Start(ctx, request("s-1"), t0); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.before {
				if err := f(h, ctx); err != nil {
					t.Fatal(err)
				}
			}
			s, err := tc.end(h, ctx)
			if err != nil || s.State != tc.want || !s.HoldReleased {
				t.Fatalf("%s: released=%v, %v; want %s", s.State, s.HoldReleased, err, tc.want)
			}
			if hd := h.hold(t, "s-1"); hd.Status != payment.StatusCanceled {
				t.Errorf("hold %s, want canceled", hd.Status)
			}
		})
	}
	h := newHarness(t, true)
	h.charge(t, "s-2", 1000)
	if _, err := h.svc.Cancel(t.Context(), "s-2", "too late", t0); !errors.Is(err, session.ErrIllegalTransition) {
		t.Errorf("cancel while stopping: %v, want ErrIllegalTransition", err)
	}
}

func TestReviewFlagsStopBilling(t *testing.T) {
	for _, tc := range []struct {
		name  string
		snaps func(m *sessiontest.Meter) []session.Snapshot
		flag  session.Flag
	}{
		{"end missing", func(m *sessiontest.Meter) []session.Snapshot {
			return sessiontest.Verified(m.Record(1, "B", 1000, t0))
		}, session.FlagEndMissing},
		{"end not verified", func(m *sessiontest.Meter) []session.Snapshot {
			return append(sessiontest.Verified(m.Record(1, "B", 1000, t0)), session.Snapshot{OCMF: m.Record(2, "E", 2000, t0.Add(time.Hour))})
		}, session.FlagNotVerified},
		{"counter backwards", func(m *sessiontest.Meter) []session.Snapshot {
			return sessiontest.Verified(m.Record(1, "B", 5000, t0), m.Record(2, "E", 4000, t0.Add(time.Hour)))
		}, session.FlagCounterBackwards},
		{"price above the hold", func(m *sessiontest.Meter) []session.Snapshot {
			return sessiontest.Verified(m.Record(1, "B", 0, t0), m.Record(2, "E", 100_011, t0.Add(time.Hour)))
		}, session.FlagExceedsHold},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, true)
			ctx := t.Context()
			if _, err := h.svc.Start(ctx, request("s-1"), t0); err != nil {
				t.Fatal(err)
			}
			h.svc.Charging(ctx, "s-1", "edge", t0)
			h.svc.Stop(ctx, "s-1", "edge", t0)
			h.snaps.Add("s-1", tc.snaps(h.meter)...)
			s, err := h.svc.Complete(ctx, "s-1", t0.Add(time.Hour))
			if err != nil || s.State != session.StateCompleted || !contains(s.Review, tc.flag) {
				t.Fatalf("complete: %s %v, %v; want completed flagged %s", s.State, s.Review, err, tc.flag)
			}
			if _, err := h.svc.Bill(ctx, "s-1", t0); !errors.Is(err, session.ErrNeedsReview) {
				t.Errorf("bill: %v, want ErrNeedsReview", err)
			}
			if rep, err := h.svc.Reconcile(ctx, t0); err != nil || rep.Billed != 0 {
				t.Errorf("reconcile: %+v, %v; want nothing billed", rep, err)
			}
			if hd := h.hold(t, "s-1"); hd.Status != payment.StatusAuthorized {
				t.Errorf("hold %s, want still authorized for the reviewer", hd.Status)
			}
		})
	}
}

func contains(fs []session.Flag, f session.Flag) bool {
	for _, x := range fs {
		if x == f {
			return true
		}
	}
	return false
}

func TestNoEnergyReleasesTheHold(t *testing.T) {
	h := newHarness(t, true)
	tr := sessiontest.Tariff()
	tr.StartFeeMinor = 0
	r := request("s-1")
	r.Tariff = tr
	ctx := t.Context()
	if _, err := h.svc.Start(ctx, r, t0); err != nil {
		t.Fatal(err)
	}
	h.svc.Charging(ctx, "s-1", "edge", t0)
	h.svc.Stop(ctx, "s-1", "edge", t0)
	h.snaps.Add("s-1", sessiontest.Verified(h.meter.Record(1, "B", 1000, t0), h.meter.Record(2, "E", 1000, t0.Add(time.Minute)))...)
	s, err := h.svc.Complete(ctx, "s-1", t0)
	if err != nil || s.State != session.StateInvoiced || s.InvoiceNumber != 1 || !s.HoldReleased {
		t.Fatalf("complete a free session: %s #%d released=%v, %v", s.State, s.InvoiceNumber, s.HoldReleased, err)
	}
	if hd := h.hold(t, "s-1"); hd.Status != payment.StatusCanceled {
		t.Errorf("hold %s, want canceled", hd.Status)
	}
}

// TestCrashThenReconcile kills central at each point between two steps;
// Reconcile on restart finishes the session, and money moves once.
func TestCrashThenReconcile(t *testing.T) {
	for _, tc := range []struct {
		point string
		run   func(h *harness, t *testing.T) error
		want  session.State
	}{
		{session.CrashCreated, func(h *harness, t *testing.T) error {
			_, err := h.svc.Start(t.Context(), request("s-1"), t0)
			return err
		}, session.StateAuthorized},
		{session.CrashAuthorized, func(h *harness, t *testing.T) error {
			_, err := h.svc.Start(t.Context(), request("s-1"), t0)
			return err
		}, session.StateAuthorized},
		{session.CrashCompleted, func(h *harness, t *testing.T) error {
			h.charge(t, "s-1", 12_345)
			_, err := h.svc.Complete(t.Context(), "s-1", t0.Add(time.Hour))
			return err
		}, session.StateInvoiced},
		{session.CrashCaptured, func(h *harness, t *testing.T) error {
			h.charge(t, "s-1", 12_345)
			_, err := h.svc.Complete(t.Context(), "s-1", t0.Add(time.Hour))
			return err
		}, session.StateInvoiced},
		{session.CrashReleaseStored, func(h *harness, t *testing.T) error {
			h.svc.Start(t.Context(), request("s-1"), t0)
			_, err := h.svc.Cancel(t.Context(), "s-1", "driver", t0)
			return err
		}, session.StateCancelled},
		{session.CrashReleaseAtPayee, func(h *harness, t *testing.T) error {
			h.svc.Start(t.Context(), request("s-1"), t0)
			_, err := h.svc.Cancel(t.Context(), "s-1", "driver", t0)
			return err
		}, session.StateCancelled},
	} {
		t.Run(tc.point, func(t *testing.T) {
			h := newHarness(t, true)
			h.arm(tc.point)
			if err := tc.run(h, t); !errors.Is(err, errCrash) {
				t.Fatalf("run: %v, want the injected crash", err)
			}
			// A second replica racing the restart does no harm either.
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() { h.svc.Reconcile(t.Context(), t0.Add(2*time.Hour)) })
			}
			wg.Wait()
			if _, err := h.svc.Reconcile(t.Context(), t0.Add(3*time.Hour)); err != nil {
				t.Fatalf("reconcile: %v", err)
			}
			s, err := h.store.Session(t.Context(), "s-1")
			if err != nil {
				t.Fatal(err)
			}
			if s.State != tc.want || s.Todo() {
				t.Fatalf("after reconcile: %s (todo %v), want %s", s.State, s.Todo(), tc.want)
			}
			hd := h.hold(t, "s-1")
			switch tc.want {
			case session.StateInvoiced:
				if n := h.pay.distinctCaptures(s.HoldID); n != 1 || hd.CapturedMinor != s.Billing.Price.GrossMinor || s.InvoiceNumber != 1 {
					t.Errorf("%d captures, %d captured, invoice %d; want 1 capture of %d, invoice 1", n, hd.CapturedMinor, s.InvoiceNumber, s.Billing.Price.GrossMinor)
				}
			case session.StateCancelled:
				if hd.Status != payment.StatusCanceled || !s.HoldReleased {
					t.Errorf("hold %s, released %v", hd.Status, s.HoldReleased)
				}
			}
		})
	}
}
