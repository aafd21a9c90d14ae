// Package safety keeps the car park safe beside the control loop, not
// inside it: it watches the fire-alarm loop, the SPD contacts and the
// temperature sensors, and it is the one gate every charger setpoint passes.
//
// # Fire alarm
//
// The fire-alarm loop is normally closed. An open loop, a broken supervision
// wire (end-of-line resistor) or a DI module that cannot be read for
// OfflineAfter is an alarm. On alarm the Watcher
//
//  1. latches (from then on SetCurrentMA refuses anything above 0 A),
//  2. commands every charger to 0 A and disabled, all at once: one goroutine
//     per charger (MaxParallel bounds it if set), bypassing the control loop,
//  3. records the trip (an Event; the state file if configured), and
//  4. re-commands each charger whose cut failed, RetryEvery after the
//     failure, backing off to 32 × RetryEvery while it keeps failing.
//
// The latch holds until an operator calls Reset(who, why, now). Reset is
// refused while the alarm condition is still present; a reset is stored
// (who, when, why, and the trip it ends) in the state file and as an Event.
// A latch in the state file survives a restart: the edge comes up latched
// and cuts every charger again.
//
// # SPD and temperature
//
// An open SPD auxiliary contact stops the charge points of its distribution
// (0 A, disabled) until the contact closes again. A node whose hottest fresh
// sensor reaches its stop threshold stops its charge points until the
// temperature falls HysteresisDeciC below it; below the stop threshold the
// control loop derates the node (loadmgmt.Derating), using Temperatures.
//
// # The gate
//
// The control loop writes setpoints only through SetCurrentMA. Each charge
// point has a mutex held for the duration of one write, so a cut that safety
// issues while control's write is in flight lands after it: the last word is
// always safety's.
//
// # State file
//
// With Config.StateFile set, the latch and the reset audit are kept in a JSON
// file, replaced atomically (write, fsync, rename):
//
//	{"latched":true,"cause":"fire-loop-open","tripped_at":"…","resets":[{"who":"…","why":"…","at":"…","cause":"…","tripped_at":"…"}]}
package safety
