package session_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
)

// staleList is a session.Store whose List lets another replica act after
// the list was read and before it is returned: what the caller then sees
// is stale, as when two replicas reconcile at the same moment.
type staleList struct {
	session.Store
	once  sync.Once
	other func()
}

func (s *staleList) List(ctx context.Context, f session.Filter) ([]session.Session, error) {
	list, err := s.Store.List(ctx, f)
	s.once.Do(s.other)
	return list, err
}

// TestReconcileSkipsWhatAnotherReplicaMoved: a session another replica
// reconciled between this replica's list and its move is counted as
// skipped, not returned as an error (the "job failed" logs two replicas
// produced), and money still moves once.
func TestReconcileSkipsWhatAnotherReplicaMoved(t *testing.T) {
	for _, tc := range []struct {
		name  string
		point string
		run   func(h *harness, t *testing.T) error
		want  session.State
	}{
		{"created, confirmed meanwhile", session.CrashCreated, func(h *harness, t *testing.T) error {
			_, err := h.svc.Start(t.Context(), request("s-1"), t0)
			return err
		}, session.StateAuthorized},
		{"completed, billed meanwhile", session.CrashCompleted, func(h *harness, t *testing.T) error {
			h.charge(t, "s-1", 12_345)
			_, err := h.svc.Complete(t.Context(), "s-1", t0.Add(time.Hour))
			return err
		}, session.StateInvoiced},
		{"cancelled, released meanwhile", session.CrashReleaseStored, func(h *harness, t *testing.T) error {
			h.svc.Start(t.Context(), request("s-1"), t0)
			_, err := h.svc.Cancel(t.Context(), "s-1", "driver", t0)
			return err
		}, session.StateCancelled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, true)
			h.arm(tc.point)
			if err := tc.run(h, t); !errors.Is(err, errCrash) {
				t.Fatalf("run: %v, want the injected crash", err)
			}
			var otherErr error
			stale := &staleList{Store: h.store, other: func() {
				_, otherErr = h.svc.Reconcile(t.Context(), t0.Add(2*time.Hour))
			}}
			replica, err := session.New(session.Config{Store: stale, Payments: h.pay, Snapshots: h.snaps, Issuers: sessiontest.Issuers{}})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := replica.Reconcile(t.Context(), t0.Add(2*time.Hour))
			if err != nil || otherErr != nil {
				t.Fatalf("reconcile racing another replica: %v (the other: %v)", err, otherErr)
			}
			if rep.Looked != 1 || rep.Skipped != 1 || rep.Authorized+rep.Billed+rep.Released != 0 {
				t.Errorf("report %+v, want 1 looked, 1 skipped", rep)
			}
			s, err := h.store.Session(t.Context(), "s-1")
			if err != nil || s.State != tc.want || s.Todo() {
				t.Fatalf("after both: %s (todo %v), %v; want %s", s.State, s.Todo(), err, tc.want)
			}
			if tc.want == session.StateInvoiced {
				if n := h.pay.distinctCaptures(s.HoldID); n != 1 || s.InvoiceNumber != 1 {
					t.Errorf("%d captures, invoice %d; want 1, 1", n, s.InvoiceNumber)
				}
			}
		})
	}
}

// TestReconcileStillReportsRealErrors: a session that did not move and
// still cannot be finished is an error, not a skip.
func TestReconcileStillReportsRealErrors(t *testing.T) {
	h := newHarness(t, true)
	h.arm(session.CrashCompleted)
	h.charge(t, "s-1", 12_345)
	if _, err := h.svc.Complete(t.Context(), "s-1", t0.Add(time.Hour)); !errors.Is(err, errCrash) {
		t.Fatalf("complete: %v", err)
	}
	h.arm(session.CrashCaptured)
	rep, err := h.svc.Reconcile(t.Context(), t0.Add(2*time.Hour))
	if !errors.Is(err, errCrash) || rep.Skipped != 0 {
		t.Fatalf("reconcile with a failing step: %+v, %v; want the error", rep, err)
	}
}
