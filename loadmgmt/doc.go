// Package loadmgmt decides how much current every charge point of a car park
// may draw: Allocate(now, site, demands) returns a Plan. It is pure — no I/O,
// no clock (time comes in as now), no logging, no globals — and imports only
// the standard library, so it can be property-tested against thousands of
// generated sites and run inside the edge's 1 s control loop.
//
// # Model
//
// A Site is a tree of Nodes: the grid connection (the one node without a
// parent), sub-distributions and circuits. Every node has a static fuse per
// grid phase (FuseMA) and may have an unbalance limit (UnbalanceMA: the most
// loaded phase minus the least loaded one; NoUnbalanceLimit for none, at
// least 1 A otherwise). ChargePoints hang below nodes; each has a phase
// Rotation saying which grid phase its L1, L2, L3 are wired to, its own
// minimum and maximum current, and the fallback current it draws when the
// edge goes silent. A Demand is a car connected to a point: the
// phases it draws on (1 or 3; a single-phase car loads the grid phase its
// charger's L1 is wired to), its maximum current, its class (Premium or
// Eco), and its rotation state (running, when it last switched, how long it
// has charged).
//
// # Units and step
//
// Currents are integer milliamperes (…MA), power integer watts (…W),
// temperatures tenths of a degree (…DeciC). Every allocated current is 0 or
// a whole number of amperes (StepMA = 1 A) between the point's minimum
// (MinCurrentMA = 6 A, IEC 61851) and the car's maximum: the charge
// controllers (Phoenix Contact EV-CC-AC1-M3, holding register 528) take whole
// amperes, and IEC 61851 forbids 1–5 A. Power limits are turned into a bound
// on the sum of the three phase currents at the nominal 230 V
// (NominalVoltageV).
//
// # Effective limits
//
// EffectiveLimits composes, per node and phase, the least of: the static
// fuse; the fuse minus the measured non-EV load, less Site.MeterMarginMA,
// while the node's meter is fresh (Site.MeterStaleAfter, default 3 s), or
// the configured safe budget of a metered node whose meter is stale or
// silent; an EMS limit until its
// Expires (at Expires it is ignored); thermal derating (full limit up to the
// start temperature, linearly down to 0 at the stop temperature); and, as a
// bound on the sum of the phases, an EMS power limit and a §14a EnWG
// reduction, which never goes below Para14aFloorW for the number of
// steerable devices. Each limit records which input set it, and every car's
// Allocation.Reason names the limit (node, phase, kind) that one more ampere
// would break: "fuse", "grid-meter", "safe-budget", "ems", "thermal", "§14a",
// "unbalance", "car max"; or why it is paused: "rotation-paused",
// "min-off-time".
//
// # The target
//
// When every car fits at its minimum, the target (FIELD.md, "The target
// allocation, precisely") is, among all allocations giving every car at least
// its minimum and breaking no limit, the one whose premium currents are
// lexicographically max-min optimal (the smallest as large as possible,
// then the next…), and subject to that the one whose eco currents are. An
// eco car may sit above premium where that lets premium go higher: under an
// unbalance limit, raising a car on the least loaded phase is what makes
// room for one on the most loaded phase.
//
// # Algorithm
//
//  1. Limits in whole amperes. Every current is whole amperes, so every node
//     limit (per phase, sum of phases, unbalance) is rounded down to whole
//     amperes once (tree.go).
//  2. Admission (admit.go). If every eligible car fits at its minimum (with
//     cars above it where an unbalance limit needs that), all run. Otherwise
//     the running set has the most premium cars, then the most cars in all;
//     among equally many, the cars ranked first (premium; within a class
//     running cars inside their minimum on time, then the least charging
//     time, then the longest waiting, then the point's order) are
//     preferred, so paused cars take their turn as the others charge:
//     nobody waits forever. Two greedy passes give a first answer; on up
//     to 48 eligible cars branch and bound on a linear relaxation looks
//     for more within 1,000 relaxations, and proves the most possible
//     when it ends within them (admit.go, admit_lp.go).
//  3. Target (target.go, level.go, blocked.go): progressive filling, exact
//     up to 1 mA. Premium cars rise together from their minimum while eco
//     cars may take anything in [min, max] (that is how eco helps premium
//     under an unbalance limit); the level jumps straight to the next event
//     (a car's maximum or minimum, or the highest level at which every limit
//     can be kept, found by Newton's method on the least slack over closed
//     forms: least and most load per node and phase, and for an unbalance
//     node the window of loads it needs); the cars that cannot go higher
//     while the others stay are fixed there; then eco rises the same way
//     with premium fixed. Where unbalance limits nest (or a power bound
//     sits below one), a small LP over the nodes concerned keeps their
//     limits (skeleton.go, internal/simplex).
//  4. Rounding (round.go): every car at its target rounded down; the least
//     loaded phases of each unbalance window are raised just enough, by cars
//     below their target first (under nested windows, a small integer
//     program makes the skeleton's loads whole first).
//  5. Spare amperes (fill.go): first to cars below their target, up to it
//     rounded up, premium first and the lowest current first; then to any
//     car that can take one, until none can.
//  6. Reasons: what stops each car from taking one more ampere.
//
// 1,000 points take 0.55–0.9 ms on the 2-core reference gateway (feasible
// or scarce, with an unbalance limit at the grid connection); unbalance
// limits on more than one level of the tree cost tens of milliseconds.
// See docs/benchmarks-loadmgmt.md.
//
// # Guarantees
//
// Proven by the property tests in this package, over random trees with
// nested circuits, random rotations, phases, limits, nested unbalance
// limits and demands, against an exact reference (internal/lpref:
// successive linear programs, checked itself against gonum's simplex and
// exhaustive search on tiny sites):
//
//   - no node phase, power bound or unbalance limit is ever exceeded;
//   - every current is 0 or whole amperes in [min, max] — never 1–5 A;
//   - work-conserving: no running car could take one more ampere without
//     breaking a limit;
//   - if every car fits at its minimum, every car runs; otherwise (up to 30
//     points) as many premium cars run as can, then as many cars as can;
//   - every running car is at most one step (1 A) below its target for the
//     running set (up to 200 points), and an ampere a car holds beyond its
//     target rounded up is one no car below its target could use;
//   - deterministic: the same input gives the same plan.
//
// Under scarcity, admission is proven the most possible only where the
// search ends within its budget: always, in the tests, up to 30 points;
// above 48 eligible cars it is the better of the two greedy passes.
//
// # Stabilization
//
// Stabilize(now, prev, plan, rules) turns plans into setpoint writes: cuts at
// once, raises held back by a minimum interval per point and a deadband,
// optionally ramped, restarts held back by a minimum off time. Writes come
// cuts first, then raises. A setpoint is never above the plan's allocation
// for its point, so every node and phase limit the plan keeps holds in every
// state the writes lead through. StabilizeSite(now, prev, site, plan, rules)
// also keeps the site's unbalance limits in the state after the cuts and the
// state after the step (which stays while raises are held back): it holds
// back raises on the most loaded phase, lets held raises on the least loaded
// phase through, or cuts the most loaded phase further for a step.
package loadmgmt
