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
//     per charger (MaxParallel per bus bounds it if set), bypassing the
//     control loop. The 0 A write and the disable are two writes, each
//     within its own WriteTimeout: a controller that refuses or never
//     answers the one still gets the other;
//  3. records the trip (an Event; the state file), and
//  4. re-commands each charger whose cut failed, RetryEvery after the
//     failure, backing off to 32 × RetryEvery while it keeps failing.
//
// While a point is held (latch, SPD, temperature, or before the first
// fire-loop reading), a controller that reports itself enabled, offering
// current or charging in a reading sent after its last cut — one that
// rebooted to its power-on defaults — is cut again at once
// (EventReasserted).
//
// The latch holds until an operator calls Reset(who, why, now). Reset is
// refused while the alarm condition is still present; a reset is stored
// (who, when, why, and the trip it ends) in the state file and as an Event.
// Check trips and Reset releases under one lock, so an alarm arriving
// during a reset either makes the reset refuse or trips right after it.
// A latch tripped only because the DI module could not be read releases
// itself once the module has read healthy for OfflineResumeAfter (no fire
// was seen; EventAutoReset, audited as a reset by "parkgrid"); an open loop
// or wire break seen meanwhile makes it that alarm's latch, which waits for
// an operator.
//
// A latch in the state file survives a restart: the edge comes up latched
// and cuts every charger again. A state file that exists but cannot be read
// or parsed starts the edge latched too (CauseStateUnreadable).
//
// # SPD and temperature
//
// An open SPD auxiliary contact stops the charge points of its distribution
// (0 A, disabled) until the contact closes again. A node whose hottest fresh
// sensor reaches its stop threshold stops its charge points until the
// temperature falls HysteresisDeciC below it; below the stop threshold the
// control loop derates the node (loadmgmt.Derating), using Temperatures.
// A node whose sensors stop reading keeps being derated for the hotter of
// its last reading and LostDeciC, never the full fuse, and is reported
// (EventSensorOffline, Status.NoSensor).
//
// # The gate
//
// The control loop writes setpoints only through SetCurrentMA. A raise
// writes the current first and enables after; 0 A writes 0 A and the
// disable, like a cut. Each charge point has a mutex held for the duration
// of one command, so a cut that safety issues while control's write is in
// flight lands after it: the last word is always safety's.
//
// # State file
//
// With Config.StateFile set (the site file's default: <data_dir>/safety.json),
// the latch and the reset audit are kept in a JSON file, replaced
// atomically (write, fsync, rename); a missing directory is created:
//
//	{"latched":true,"cause":"fire-loop-open","tripped_at":"…","resets":[{"who":"…","why":"…","at":"…","cause":"…","tripped_at":"…"}]}
package safety
