package session_test

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
)

var crashPoints = []string{
	session.CrashCreated, session.CrashAuthorized, session.CrashCompleted,
	session.CrashCaptured, session.CrashReleaseStored, session.CrashReleaseAtPayee,
}

// TestRandomInterleavingsMoveMoneyOnce drives a few sessions with random
// commands, driver approvals and declines, snapshots (some broken) and
// crashes at random points, with Reconcile as the restart. After every
// step: no hold is captured twice, no session is invoiced twice, an
// invoice's total is what its hold captured, and only a completed or
// invoiced session has captured money. At the end a crash-free Reconcile
// leaves nothing half done.
func TestRandomInterleavingsMoveMoneyOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := newHarness(t, rapid.Bool().Draw(rt, "autoApprove"))
		ctx := t.Context()
		ids := []string{"s-0", "s-1"}
		page := map[string]int{}
		counter := map[string]int64{}
		now := t0
		tick := func() time.Time { now = now.Add(time.Minute); return now }
		pick := func(rt *rapid.T) string { return rapid.SampledFrom(ids).Draw(rt, "id") }
		stored := func(id string) (session.Session, bool) {
			s, err := h.store.Session(ctx, id)
			return s, err == nil
		}
		check := func(rt *rapid.T) {
			invs := h.store.Invoices()
			for _, id := range ids {
				s, ok := stored(id)
				if !ok || s.HoldID == "" {
					continue
				}
				if n := h.pay.distinctCaptures(s.HoldID); n > 1 {
					rt.Fatalf("%s: hold %s captured %d times", id, s.HoldID, n)
				}
				hd, err := h.fake.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: "look", HoldID: s.HoldID})
				if err != nil && !errors.Is(err, payment.ErrDeclined) {
					rt.Fatal(err)
				}
				if hd.CapturedMinor > 0 && s.State != session.StateCompleted && s.State != session.StateInvoiced {
					rt.Fatalf("%s is %s but its hold captured %d", id, s.State, hd.CapturedMinor)
				}
				if hd.CapturedMinor > hd.AmountMinor {
					rt.Fatalf("%s: captured %d of a hold of %d", id, hd.CapturedMinor, hd.AmountMinor)
				}
				if inv, ok := invs[id]; ok {
					if s.State != session.StateInvoiced || inv.Receipt.Price.GrossMinor != hd.CapturedMinor {
						rt.Fatalf("%s: %s, invoice of %d, hold captured %d", id, s.State, inv.Receipt.Price.GrossMinor, hd.CapturedMinor)
					}
				} else if s.State == session.StateInvoiced {
					rt.Fatalf("%s invoiced without an invoice", id)
				}
			}
		}
		// progress does the natural next step of a session, so that random
		// runs reach capture and invoice often, between random interference.
		progress := func(rt *rapid.T) {
			id := pick(rt)
			s, ok := stored(id)
			switch {
			case !ok:
				r := request(id)
				r.HoldMinor = rapid.Int64Range(100, 5000).Draw(rt, "hold")
				h.svc.Start(ctx, r, tick())
			case s.State == session.StateCreated:
				h.fake.Approve(s.HoldID)
				h.svc.Confirm(ctx, id, tick())
			case s.State == session.StateAuthorized:
				page[id]++
				h.snaps.Add(id, sessiontest.Verified(h.meter.Record(page[id], "B", counter[id], now))...)
				h.svc.Charging(ctx, id, "edge", tick())
			case s.State == session.StateCharging:
				page[id]++
				counter[id] += rapid.Int64Range(0, 20_000).Draw(rt, "wh")
				h.snaps.Add(id, sessiontest.Verified(h.meter.Record(page[id], "E", counter[id], now))...)
				h.svc.Stop(ctx, id, "edge", tick())
			case s.State == session.StateStopping:
				h.svc.Complete(ctx, id, tick())
			case s.State == session.StateCompleted:
				h.svc.Bill(ctx, id, tick())
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"":          check,
			"progress":  progress,
			"progress2": progress,
			"progress3": progress,
			"progress4": progress,
			"progress5": progress,
			"progress6": progress,
			"progress7": progress,
			"progress8": progress,
			"start": func(rt *rapid.T) {
				r := request(pick(rt))
				r.HoldMinor = rapid.Int64Range(100, 3000).Draw(rt, "hold")
				h.svc.Start(ctx, r, tick())
			},
			"approve": func(rt *rapid.T) {
				if s, ok := stored(pick(rt)); ok && s.HoldID != "" {
					if rapid.Bool().Draw(rt, "approve") {
						h.fake.Approve(s.HoldID)
					} else {
						h.fake.Decline(s.HoldID)
					}
				}
			},
			"confirm":  func(rt *rapid.T) { h.svc.Confirm(ctx, pick(rt), tick()) },
			"charging": func(rt *rapid.T) { h.svc.Charging(ctx, pick(rt), "edge", tick()) },
			"stop":     func(rt *rapid.T) { h.svc.Stop(ctx, pick(rt), "edge", tick()) },
			"snapshot": func(rt *rapid.T) {
				id := pick(rt)
				page[id]++
				snap := session.Snapshot{Verified: true}
				switch k := rapid.IntRange(0, 9).Draw(rt, "kind"); {
				case k <= 2:
					snap.OCMF = h.meter.Record(page[id], "B", counter[id], now)
				case k == 3:
					counter[id] += rapid.Int64Range(0, 10_000).Draw(rt, "wh")
					snap.OCMF = h.meter.Record(page[id], "C", counter[id], now)
				case k <= 7:
					counter[id] += rapid.Int64Range(0, 60_000).Draw(rt, "wh")
					snap.OCMF = h.meter.Record(page[id], "E", counter[id], now)
				default: // broken: any letter, any value, maybe unverified
					tx := rapid.SampledFrom([]string{"B", "C", "E"}).Draw(rt, "tx")
					snap.OCMF = h.meter.Record(page[id], tx, rapid.Int64Range(0, 80_000).Draw(rt, "anyWh"), now)
					snap.Verified = rapid.Bool().Draw(rt, "verified")
				}
				h.snaps.Add(id, snap)
			},
			"complete":  func(rt *rapid.T) { h.svc.Complete(ctx, pick(rt), tick()) },
			"bill":      func(rt *rapid.T) { h.svc.Bill(ctx, pick(rt), tick()) },
			"cancel":    func(rt *rapid.T) { h.svc.Cancel(ctx, pick(rt), "driver", tick()) },
			"fail":      func(rt *rapid.T) { h.svc.Fail(ctx, pick(rt), "charger", tick()) },
			"reconcile": func(rt *rapid.T) { h.svc.Reconcile(ctx, tick()) },
			"crash":     func(rt *rapid.T) { h.arm(rapid.SampledFrom(crashPoints).Draw(rt, "point")) },
		})
		h.arm("")
		if _, err := h.svc.Reconcile(ctx, tick()); err != nil {
			rt.Fatalf("final reconcile: %v", err)
		}
		check(rt)
		for _, id := range ids {
			s, ok := stored(id)
			if !ok {
				continue
			}
			if s.Todo() && s.State != session.StateCreated {
				rt.Fatalf("%s left half done after reconcile: %s, review %v, released %v", id, s.State, s.Review, s.HoldReleased)
			}
			if s.State == session.StateFailed || s.State == session.StateCancelled {
				hd, _ := h.fake.Confirm(ctx, payment.ConfirmRequest{IdempotencyKey: "look", HoldID: s.HoldID})
				if s.HoldID != "" && hd.Status == payment.StatusAuthorized {
					rt.Fatalf("%s is %s but its hold is still authorized", id, s.State)
				}
			}
		}
	})
}
