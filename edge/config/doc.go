// Package config reads and checks an edge site file: the YAML description of
// one car park that the edge daemon runs (buses and devices, the site tree
// with its fuses, charge points, safety inputs, temperature sensors, EMS
// settings). Load decodes strictly (unknown keys are errors) and validates
// everything before anything starts; each error names the file, the line,
// the field and the value.
//
// # File format
//
//	site: garage-north            # site id (MQTT topics, readings)
//	gateway: gw-0001              # gateway id (signs readings)
//	watchdog: 15s                 # communication watchdog, on controllers that have one (docs/failsafe.md)
//	data_dir: /var/lib/parkgrid   # the edge's state (default); relative to this file
//
//	buses:                        # one poller per bus
//	  - id: lan
//	    tcp: 192.168.1.20:502     # a Modbus TCP endpoint …
//	    timeout: 500ms            # per request; default 1s
//	    devices:
//	      - {id: grid-meter, driver: sdm630, unit: 1, poll: 1s}
//	      - {id: di-1, driver: diinput, unit: 2, poll: 100ms}
//	      - {id: cc-01, driver: phoenix, unit: 255, poll: 1s}
//	  - id: rs485-1
//	    rtu: {port: /dev/ttyUSB0, baud: 9600, parity: even}   # … or a serial line
//	    devices:
//	      - {id: t-ud1, driver: xymd02, unit: 1, poll: 10s}
//
//	grid:                         # the grid connection, root of the site tree
//	  id: grid                    # default "grid"
//	  limit_a: 250                # per phase: one number or [l1, l2, l3]
//	  unbalance_a: 20             # max difference between phases; default 20
//	  meter: grid-meter           # grid meter device (sdm630 or eichrecht)
//	  safe_budget_a: 80           # used while the grid meter is stale
//	  meter_margin_a: 1           # kept free below the meter's headroom (other load read at other moments); default 1, 0..50
//	  distributions:
//	    - id: ud-1
//	      limit_a: 160
//	      spd: {device: di-1, input: 2}        # SPD auxiliary contact (NC)
//	      temperature: {sensors: [t-ud1], derate_above_c: 40, stop_above_c: 55}  # lost_c: derated for while no sensor reads; default halfway
//	      circuits:
//	        - {id: c-1, limit_a: 63}
//
//	charge_points:
//	  - id: cp-01
//	    circuit: c-1
//	    controller: cc-01         # phoenix charge controller device
//	    meter: m-01               # optional: sdm630 or eichrecht device
//	    phases: 3                 # 1 or 3; default 3
//	    rotation: L1L2L3          # charger L1,L2,L3 → these grid phases
//	    min_a: 6                  # default 6
//	    max_a: 32
//	    fallback_a: 0             # what a controller with a watchdog falls back to if the edge is silent
//	    access: free              # free (default) or central: only sessions central authorises (needs an eichrecht meter)
//
//	safety:
//	  fire_loop: {device: di-1, input: 0}      # normally closed: 0 = alarm
//	  supervision: {device: di-1, input: 1}    # end-of-line: 0 = wire break
//	  state_file: /var/lib/parkgrid/safety.json  # default <data_dir>/safety.json: the latch survives restarts
//	  offline_after: 800ms        # DI unread this long = alarm; default 3 polls + bus timeout
//	  offline_resume_after: 10s   # an unreadable-module latch releases itself after the module reads healthy this long; 0s: operator only
//
//	ems:
//	  mqtt: {broker: tcp://127.0.0.1:1883, topic_prefix: parkgrid/v1/garage-north/ems}
//	  rest: {listen: 127.0.0.1:8080}
//	  max_ttl: 1h                 # longest TTL an EMS limit may ask for
//
//	uplink:                       # optional: signed readings to central; absent or broker "" = none
//	  broker: tcp://127.0.0.1:1884  # central's MQTT broker (tcp, mqtt, ssl, tls, mqtts)
//	  key: keys/gateway.key       # gateway Ed25519 key (parkgrid keygen), mode 0600
//	  outbox: data/outbox         # durable outbox directory
//	  central_key: keys/central.pub  # central's Ed25519 public key (64 hex digits, or a file holding them):
//	                              # acks not signed with it are ignored; without it the uplink does not start
//	  reading_interval: 10s       # each meter's sample into a batch; default 10s
//	  batch_max_readings: 500     # default 500
//	  batch_max_delay: 1s         # how long a reading waits in memory at most; default 1s
//	  outbox_max_bytes: 1073741824  # default 1 GiB; alarm at 80 %
//	  outbox_segment_bytes: 4194304 # segment size; acknowledged segments are deleted; default 4 MiB
//	  no_ack_alarm: 2m            # the uplink/no-ack alarm when records wait this long without an ack; default 2m
//	  session_state: data/sessions.json  # open charging sessions across restarts; default beside the outbox
//	  tls: {ca: tls/ca.pem, cert: tls/gw.pem, key: tls/gw.key, server_name: central.example.net}
//	  username: ""                # optional broker login
//	  password: ""
//
//	influx:                       # optional: time series (per point and grid, every control step)
//	  url: http://127.0.0.1:8086
//	  token: edge-token           # InfluxDB 2 token, or "user:password" for 1.8
//	  org: parkgrid
//	  bucket: edge                # or "database/retention-policy" for 1.8
//
//	control:                      # optional, all defaults shown
//	  interval: 1s
//	  grid_stale_after: 2s        # grid meter older than this: safe budget (2 s: with 1 s polls and the 1 s loop, the safe budget is in force within 3 s of the last answer)
//	  raise_every: 10s            # least time between raises of one point
//	  deadband_a: 1               # smaller raises are not written
//	  min_on: 1m                  # when cars take turns: least run time …
//	  min_off: 3m                 # … and least pause
//	  max_parallel_writes: 32
//	  para14a_devices: 0          # §14a floor: 0 = number of charge points
//
// # Rules Load enforces
//
// Ids are unique (devices among devices, nodes among nodes, charge points
// among charge points); every reference names an existing device of the
// right driver; unit ids are 1..247 (255 also for phoenix) and unique per
// bus; poll intervals are > 0 (a missing one takes the driver's default:
// 100ms for DI modules, 10s for thermometers, 1s otherwise); DI inputs are
// 0..9 as docs/registers.md lays them out; a charge point hangs on a known circuit and
// has 6 ≤ min_a ≤ max_a ≤ 63 and a fallback of 0 or min_a..max_a; and the
// fallback currents below every node add up, per grid phase, to no more than
// that node's limit, and at a metered grid connection to no more than its
// safe budget (the charger's own safe state when the edge dies must not
// overload a fuse, and a silent edge reads no grid meter); relative uplink paths (key, outbox, central_key file, session_state, TLS files) are
// resolved against the site file's directory. Conditions that are legal but unusual (a circuit limit
// above its distribution's, a charge point allowed more than its circuit) are
// returned in Site.Warnings.
package config
