// Package control runs the edge's control loop: every Interval (1 s) it
// composes the limits in force, asks loadmgmt.Allocate for every charge
// point's current, applies the stability rules and writes the setpoints,
// cuts first, then raises.
//
// # One cycle (Step)
//
//  1. Read the site state: each charge controller's IEC 61851 state, each
//     point meter's phase currents, the grid meter.
//  2. Demands: every point whose controller is fresh and in state B, C or D,
//     and that safety does not hold at 0 A. A single-phase car on a
//     three-phase charger (current only on charger L1) is planned on one
//     phase. The class (eco/premium) comes from SetClass.
//  3. Live limits: grid-meter headroom (the grid meter's phase currents
//     minus the charge points' own metered currents, mapped through their
//     phase rotation; an unmetered or stale point counts as other load,
//     which errs on the safe side); loadmgmt falls back to the safe budget
//     when the reading is older than the site's MeterStaleAfter (2 s by default); the
//     EMS limit until its TTL runs out (SetEMSLimit); the §14a signal
//     (SetPara14a); node temperatures from safety (thermal derating).
//     A controller that does not answer may still draw its last setpoint or
//     its fallback current, whichever is larger: that current is reserved on
//     every node above it.
//  4. loadmgmt.Allocate plans; the rotation state (running, switched at,
//     charged for) is carried from plan to plan.
//  5. Stability (loadmgmt.Stabilize): a cut is written at once; a raise
//     only when the point's last raise is RaiseEvery (10 s) old and the
//     step is at least Deadband (1 A); a stopped point restarts after MinOff
//     (3 min). A safety hold is not a stop (no MinOff after it), and a point
//     whose controller does not answer keeps its setpoint in Stabilize's
//     memory. Besides what Stabilize changes, a point is written when the
//     loop cannot know what it holds: never written, a failed write, back
//     from silence or from a safety hold, or drawing more than its setpoint
//     (e.g. a charger that fell back to its fallback current).
//  6. Writes go through safety's gate (Outputs): all cuts in parallel
//     (MaxParallel at once), then all raises. A point that safety holds is
//     known to be at 0 A.
//
// # Start
//
// Run first sets every charger's fallback current and communication
// watchdog (Failsafe), so that an edge that dies leaves each charger at its
// fallback within the watchdog time; a charger that does not take it is
// retried every FailsafeRetry.
//
// # Concurrency
//
// Run owns the loop. SetEMSLimit, SetPara14a, SetClass and Status may be
// called from any goroutine.
package control
