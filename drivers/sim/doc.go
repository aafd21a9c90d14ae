// Package sim simulates a whole car park on real Modbus TCP: a grid-connection
// SDM630 meter, sub-distributions with their SDM630 sub-meters and XY-MD02
// thermometers, a DI module (fire loop, supervision, SPD contacts) and charge
// points, each a Phoenix charge controller plus its own Eichrecht meter that
// signs OCMF snapshots. Every device serves exactly the register map of
// docs/registers.md, so the drivers and the edge talk to the simulator as
// they would to the field. Cars arrive, charge along a tapering curve and
// leave; faults are injected through a small HTTP control API or Go methods.
//
// # Running
//
//	cfg, err := sim.LoadConfig("deploy/sim-small.yaml")
//	s, err := sim.New(cfg, sim.Options{Logger: log})
//	err = s.Run(ctx) // serves until ctx ends
//
// Tests use Start/Close with Options{Manual: true} and move time with Step,
// which runs the physics deterministically: energy integrates exactly over
// each step, and random events (arrivals, departures, noise) happen at whole
// simulated seconds, so Step(10*time.Second) equals ten Step(time.Second).
// Without Manual, a runner advances simulated time at Config.Speed
// simulated seconds per wall second (physics every Config.Tick of wall time;
// Modbus writes integrate up to the moment they arrive). At speed 1 and
// without `start`, simulated time is wall time.
//
// # Listeners and unit ids
//
// Modbus TCP addresses a device by unit id, 1..247 per connection, so one
// port carries at most 247 devices. Each device names a listener: "main" is
// `listen`, further ones are named in `listeners`. A unit id is unique per
// listener. A charge point is two devices (controller and meter), so 500
// points need at least five listeners; deploy/sim-large.yaml gives each
// sub-distribution two ports: its controllers on one and their meters on the
// other, point n at unit n on both. A group of more points than one port
// holds lists several ports (`listeners`, `meter_listeners`, `per_listener`;
// see PointGroupConfig), e.g. `count: 500` over three ports of 200 units
// each, in one line. A request to a unit id no device has is
// answered with exception 0x0B (gateway target failed to respond), as a
// Modbus gateway does.
//
// # Config (YAML, unknown fields are errors)
//
//	listen: 127.0.0.1:1502          # listener "main"
//	listeners: {a: 127.0.0.1:1510}  # more listeners, by name
//	api: 127.0.0.1:8081             # control API; "off" for none
//	speed: 1                        # simulated s per wall s
//	tick: 100ms                     # physics interval (wall) of the runner
//	seed: 1                         # cars, noise and meter keys
//	start: 2026-11-25T10:00:00Z     # simulated start; default: wall clock
//	key_dir: keys                   # optional: <meter>.pem per Eichrecht meter (written if missing)
//	voltage: {nominal_v: 230, noise_v: 0.5, frequency_hz: 50}   # noise_v < 0: no noise at all
//	grid: {name: grid, listener: main, unit: 1, base_load_w: [3000, 2500, 2800], profile: [24 hourly factors]}
//	di: {name: di, unit: 2}
//	cars: {arrivals_per_hour: 0.5, mean_stay: 3h, min_stay: 15m, connected_at_start: 0.4,
//	       three_phase_share: 0.7, share_32a: 0.3, battery_wh: [40000, 100000], soc_pct: [10, 60],
//	       taper_from_pct: 80}
//	chargers: {enabled: true, max_current_a: 16}   # power-on registers (also after a reboot)
//	ocmf: {gateway_id: parkgrid-sim, gateway_serial: SIM-0001, gateway_version: "1.0", snapshot_delay: 0s}
//	sub_distributions:
//	  - name: ud1
//	    meter: {unit: 3}                    # name defaults to ud1.meter
//	    temperature: {unit: 4, ambient_c: 22, rise_c_per_a: 0.05}   # ud1.temp
//	    points:                             # groups; point i of a group:
//	      - name: p                         #   name p01..p10 (just "p" when count is 1)
//	        count: 10
//	        listener: main                  #   controller: unit 101+i on listener
//	        unit: 101
//	        meter_listener: main            #   Eichrecht meter <name>.meter: unit 201+i
//	        meter_unit: 201
//	        rotation: cycle                 #   L1L2L3 | L2L3L1 | L3L1L2 | cycle
//	        max_a: 32                       #   charger hardware limit
//	      - name: q                         # 500 points over three ports each side:
//	        count: 500                      #   q001..q200 at units 1..200 of c1 and m1,
//	        listeners: [c1, c2, c3]         #   q201..q400 of c2 and m2, q401..q500 of c3, m3
//	        meter_listeners: [m1, m2, m3]
//	        per_listener: 200
//	        unit: 1
//	        meter_unit: 1
//
// Zero values take the defaults shown; shares that should be zero are
// written -1. Sub-distribution i's SPD contact is DI input 2+i (at most 8);
// DI inputs without a sub-distribution read 0 (open).
//
// # Physics
//
// A car has 1 or 3 phases, a maximum current (16 or 32 A), a battery and a
// state of charge. It draws min(offered, its maximum, taper) per phase, where
// the taper falls linearly from its maximum at taper_from_pct to 0 at 100 %;
// below 0.5 A it stops (full). The controller offers its setpoint (holding
// 528, capped at the hardware max) when enabled (coil 400), and 0 below 6 A.
// IEC 61851 state: A no car, B car but no current, C charging, F injected
// EV fault.
//
// The Phoenix controller serves exactly the EV-ETH map evcc uses
// (charger/phoenix-ev-eth.go; docs/registers.md): input 100 (state), 102–103
// (charge time, s, since the car arrived), 105–106 (firmware "SIM1"),
// 108–121 (voltages, currents in whole A, power; int32 low word first);
// coil 400; holding 528 (6..63 A, FC06 only) and 904–905 (energy, Wh). Any
// other address is exception 02, a 528 value outside 6..63 exception 03. It
// has no communication watchdog and no fallback current: the map documents
// none, so a controller that loses the edge keeps its last setpoint.
//
// Power per charger phase is the voltage of the grid phase it is wired to
// (by its rotation: L2L3L1 puts charger L1 on grid L2) times its current; a
// 1-phase car loads charger L1 only. Counters integrate whole watts exactly
// in mWs. The grid meter reads base load (base_load_w × hourly profile) plus
// every charger on each grid phase; a sub-meter reads its points. Voltages
// are nominal plus Gaussian noise, rounded to 0.01 V, redrawn every second;
// a thermometer settles (10 min time constant) at ambient plus rise_c_per_a
// times its sub-distribution's most loaded phase current.
//
// Eichrecht snapshots: write the identification (0x0014, 32 registers), then
// 1 (begin, TX "B"), 3 (intermediate, "C") or 2 (end, "E") to 0x0010. The
// meter signs, with its own P-256 key (derived from the seed and the meter's
// name, or from key_dir), over the exact payload bytes:
//
//	OCMF|{"FV":"1.0","GI":…,"GS":…,"GV":…,"PG":"T<n>","MV":"parkgrid","MM":"sim-eichrecht",
//	"MS":"SIM-<point>","MF":"1.0.0","IS":…,"IL":…,"IF":[],"IT":…,"ID":"<identification>",
//	"CT":"EVSEID","CI":"<point>","RD":[{"TM":"2026-11-25T10:00:00,000+0000 S","TX":"B",
//	"RV":12.345,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}|{"SA":"ECDSA-secp256r1-SHA256","SD":"<HEX DER>"}
//
// PG counts the meter's snapshots gap-free from T1; register 0x0012 is the
// same count modulo 65536. The status (0x0010) is busy for
// ocmf.snapshot_delay of simulated time, then ready; an end or intermediate
// without an open begin gives status 3 (error); a write while busy gets
// exception 0x06.
//
// # Control API (HTTP JSON, Config.API)
//
//	GET  /api/state   everything: simulated and wall time, listeners, the grid
//	                  meter, DI inputs, sub-distributions, every point (state,
//	                  registers, offered and drawn current, energy, car, last
//	                  setpoint write with simulated and wall time, public key),
//	                  every device (listener, address, unit, faults),
//	                  fireLoopOpenedAt and the last 1024 writes. See State.
//	POST /api/fault   {"device": "p01", "kind": "offline", "value": 500}
//	                  kinds: offline | slow (value ms, default 1000) |
//	                  frozen-counter | fire-loop-open | wire-break |
//	                  spd-tripped (device: sub-distribution) |
//	                  over-temperature (value °C, default 70) | unplug |
//	                  ev-fault (value: error code, default 1) |
//	                  reboot (controller back to its power-on registers) |
//	                  refuse-writes (exception 04 to writes, reads work) |
//	                  ignore-setpoint (the car draws its maximum whatever
//	                  is offered) | reversed-ct (SDM630, value: phase 1..3) |
//	                  clear (device "" or "*": everything)
//	POST /api/car     {"point": "p01", "action": "plug", "phases": 3, "maxA": 32,
//	                  "socPct": 20, "batteryWh": 60000} or {"point": "p01", "action": "unplug"}
//	POST /api/step    {"seconds": 60}: skip simulated time ahead
//
// Answers: 200 {"ok": true}; 400 {"error": …} for a bad request, 404 for an
// unknown device or point, 409 when plugging into an occupied point. The
// same operations are methods: State, InjectFault, PlugCar, UnplugCar, Step.
package sim
