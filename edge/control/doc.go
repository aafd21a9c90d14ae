// Package control runs the edge's control loop: every Interval (1 s) it
// composes the limits in force, asks loadmgmt.Allocate for every charge
// point's current, applies the stability rules and writes the setpoints,
// cuts first, then raises — and it checks what the field does instead of
// trusting that every command lands.
//
// # Read-back
//
// The poller reads each controller's state together with its read-back:
// whether it is enabled and the current limit it holds
// (drivers.ChargerStatus.OfferedA). A reading sent after a write returned
// is a read-back of that write. A point is settled when such a read-back
// shows its last command and its meter shows no more than it offers. Until
// then it is unsettled:
//
//   - waiting for read-back: a command went out, no reading since;
//   - cut not confirmed: the read-back shows more than commanded (the write
//     failed, or the controller rebooted to its power-on defaults);
//   - draws more than offered: its meter shows more than it offers (a car
//     still ramping down, a controller ignoring its setpoint, a welded
//     contactor); after 10 s it is paused and an alarm raised.
//
// An unsettled point counts at the higher of its metered current and what
// it may hold (its read-back, or the higher of that and a command not read
// back yet) against every limit of every node above it — fuse, grid-meter
// headroom, safe budget, EMS, thermal derating, §14a — and is never raised;
// a cut of it is written again every step until read back.
//
// # One cycle (Step)
//
//  1. Read the site state: each controller's state and read-back, each point
//     meter's phase currents, the grid meter (a negative phase current is a
//     reversed current transformer: the reading is not used, the safe budget
//     applies and GridStatus.Reversed raises an alarm).
//  2. Reserves: what the loop cannot steer, subtracted from every limit: a
//     controller that does not answer at the higher of what it last held
//     and was last told (its fallback if it has a watchdog, its maximum if
//     it never answered), once; a point safety holds and one without a car
//     at what they still draw.
//  3. Limits: loadmgmt.EffectiveLimits of the static site, the grid meter's
//     headroom (the safe budget when it is older than MeterStaleAfter;
//     the other load is the grid reading less the chargers' metered
//     current, a charger written after the grid reading counting at the
//     lower of its meter's last two readings, and Site.MeterMarginMA is
//     kept free below it),
//     node temperatures from safety, §14a; then the EMS limit (SetEMSLimit,
//     until its TTL runs out) at the grid connection: by default it caps
//     the connection, so the chargers get it less the metered other load;
//     with ScopeEV it caps the chargers alone. 0 is a limit (no current).
//  4. Plan: settled points with a car (state B, C or D) are allocated around
//     the reserves and the unsettled points' counts; an unsettled point is
//     planned with everyone only to know how far to cut it. A point that
//     Stabilize keeps off for its minimum off time enters loadmgmt as a
//     paused car, so its share goes to the cars that may run. Fallback
//     currents are a start-up check of the site (New), not a reserve.
//  5. Stability (loadmgmt.StabilizeSite): a cut at once; a raise only when
//     the point's last raise is RaiseEvery (10 s) old and the step is at
//     least Deadband (1 A); a stopped point restarts after MinOff (3 min).
//     A safety hold is not a stop; a silent point keeps its setpoint. The
//     state after the cuts and the state after the step keep every
//     unbalance limit (raises held back, or a heavy phase cut further for a
//     step); each point enters it with the phases its car draws on (as the
//     meter showed them, kept while the car stays connected).
//  6. Writes: a point is written when its read-back differs from what the
//     loop wants, or it was never commanded (0 A unless granted). Cuts are
//     written first. If any cut went out, the raises are admitted by a
//     second allocation in which every point but the raised ones counts at
//     what it really draws (a point just cut at what it drew before), so a
//     raise never uses current a cut has not been confirmed to free; where
//     that holds a raise back, StabilizeSite balances the step again with
//     it held. Cuts, then raises, go in StabilizeSite's order, in rounds
//     (writeorder.go): a write waits for the round before it where landing
//     in any order with its round could break an unbalance limit; at most
//     8 rounds per group. Writes queue per bus (Point.Bus, MaxParallel per
//     bus): a bus whose writes hang never holds back another's.
//
// # Per-point limits
//
// SetPointLimit caps one point from a named source (the OCPP client for a
// CSMS charging profile, central for a session's authorisation or energy
// cap) until an expiry; the lowest limit in force wins (PointLimit). It
// enters the plan as the car's maximum, so the site's limits still bound
// it. A limit below the point's minimum current is 0: the point leaves the
// demands (not a car wanting current), is cut at once and counts at what
// it still draws until the cut is read back. The point's status reason
// names the limit and its source where it binds ("point limit ocpp: 10 A").
//
// loadmgmt has no notion of a fixed load, so the reserves are applied by
// composing the limits here and handing loadmgmt a site whose fuses are
// those limits less the reserves (withReserves); the reasons it returns are
// mapped back to the input that set each limit.
//
// # Failsafe
//
// Controllers whose vendor documents a communication watchdog implement
// drivers.Failsafe (Point.Failsafe). A worker of its own, started by Run
// (ConfigureFailsafe), reads their fallback current and watchdog back,
// writes them where they differ and reads them back again: at start, when
// a controller comes back from silence or shows its power-on defaults, and
// every FailsafeVerify. One that cannot be set is retried every
// FailsafeRetry and reported (PointStatus.Failsafe, FailsafeFailed). A
// controller without the capability reports FailsafeNone (docs/failsafe.md).
//
// # Concurrency
//
// Run owns the loop and the failsafe worker. SetEMSLimit, SetPara14a,
// SetClass, SetPointLimit, ClearPointLimit, PointLimit, Status and
// FailsafeFailed may be called from any goroutine.
package control
