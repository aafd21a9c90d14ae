// Package edge builds and runs the edge daemon of one car park from its site
// file: Modbus buses and drivers, one poller per bus, the safety watcher
// (fire-alarm latch), the 1 s control loop, the signed uplink to central
// (outbox + MQTT), the local EMS API (REST + MQTT), Prometheus metrics and
// the optional InfluxDB writer. The parts live in edge/...; this package
// only wires them.
//
// Life cycle:
//
//  1. Build: New(cfg, opts) checks and assembles everything from a site
//     file that config.Load has validated. It dials nothing, opens no file
//     and starts no goroutine, so a broken site fails before any I/O.
//  2. Run: (*Daemon).Run(ctx) binds the REST API, starts the buses, opens
//     the uplink (a failure there raises the "uplink" alarm and stops only
//     the uplink), then starts safety, the pollers, control and the API
//     workers. It blocks until ctx ends or a worker fails.
//  3. Close: when Run returns, every worker has stopped and every bus is
//     closed, the buses last so the workers' final writes still go out;
//     the outbox is closed by the uplink. There is no separate Close: a
//     Daemon runs once.
//
// Ready, RESTAddr, State, Safety and Control let in-process callers (the
// demo, tests) watch a running daemon.
package edge
