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
// loaded phase minus the least loaded one). ChargePoints hang below nodes;
// each has a phase Rotation saying which grid phase its L1, L2, L3 are wired
// to, its own minimum and maximum current, and the fallback current it draws
// when the edge goes silent. A Demand is a car connected to a point: the
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
// fuse; the fuse minus the measured non-EV load while the node's meter is
// fresh (Site.MeterStaleAfter, default 3 s), or the configured safe budget
// of a metered node whose meter is stale or silent; an EMS limit until its
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
//  1. Admission. Cars are ranked: premium before eco; within a class, running
//     cars still inside their minimum on time first, then the least charging
//     time, then the longest waiting, then the point's order in the site.
//     Cars inside their minimum off time are not eligible. In rank order each
//     car is admitted at its minimum if that breaks no capacity limit. Then,
//     while an unbalance limit is broken even after raising cars on the
//     least loaded phases (repair), the lowest-ranked single-phase car on the
//     most loaded phase is dropped. Cars refused for capacity get a second
//     pass. The result runs as many premium cars as the greedy ranking finds,
//     then as many cars in all; everyone else is paused ("rotation-paused").
//     Because ranking favours the least charged, paused cars take their turn
//     once running cars pass their minimum on time: nobody waits forever.
//  2. Jump (premium). Water-filling in whole amperes: all premium cars rise
//     together from their minimum; a car stops at its maximum, and the cars
//     through a node phase (or power bound) stop when it has no room for one
//     more ampere each. Each jump goes straight to the next such event, so
//     the cost grows with the number of events (a few per node), not with the
//     amperes handed out. It stops early at the first level where an
//     unbalance limit would bind.
//  3. Fill (premium). From there, one ampere at a time, always to the premium
//     car with the lowest current (ties: rank), if no limit breaks. A car
//     held by an unbalance limit first tries to raise a car on the least
//     loaded phase of that node (any class: this is where eco goes above 6 A
//     for premium's sake); if none can rise, it is parked until that node's
//     phases move (and before the fill ends, every parked car with room is
//     queued again, so the result is work-conserving).
//  4. Jump and fill again for eco, with premium in the queue first, so a
//     parked premium car still takes precedence when eco makes room.
//  5. Reasons.
//
// A queue with one bitset per class and ampere level makes each fill step
// O(tree depth). 1,000 points take about 0.7 ms of CPU time on the 2-core
// reference gateway, 5,000 points about 4 ms; see
// docs/benchmarks-loadmgmt.md.
//
// # Guarantees
//
// Proven by the property tests in this package, over random trees of up to
// 1,000 points with random rotations, phases, limits and demands:
//
//   - no node phase, power bound or unbalance limit is ever exceeded (an
//     unbalance the minimum currents alone break is repaired by raising the
//     light phases or by pausing cars);
//   - every current is 0 or whole amperes in [min, max] — never 1–5 A;
//   - work-conserving: no running car could take one more ampere without
//     breaking a limit;
//   - if every car fits at its minimum, every car runs;
//   - premium first (on sites without unbalance limits, where eco never
//     needs to rise for premium): with every eco car back at its minimum,
//     no premium car could take one more ampere;
//   - cars alike in class, phases, place and limits differ by at most 1 A
//     (same sites);
//   - the running set is maximal: with every running car at its minimum,
//     no paused car would fit at its minimum too (same sites);
//   - deterministic: the same input gives the same plan;
//   - on small sites (up to five cars, with unbalance limits), every car is
//     within 1 A of the target found by exhaustive search at 0.5 A.
//
// Known limits of the guarantee: admission is greedy (the largest number of
// running cars is not guaranteed when 1- and 3-phase cars compete); with a
// power bound (sum of phases) a single-phase car may take more than one
// ampere above the continuous target, because a three-phase car's ampere
// needs three times the room.
//
// # Stabilization
//
// Stabilize(now, prev, plan, rules) turns plans into setpoint writes: cuts at
// once, raises held back by a minimum interval per point and a deadband,
// optionally ramped, restarts held back by a minimum off time. Writes come
// cuts first, then raises. A setpoint is never above the plan's allocation
// for its point, so stabilization can only make the site safer than the plan.
package loadmgmt
