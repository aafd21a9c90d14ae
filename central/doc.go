// Package central builds and runs the central service from its config:
// the store (PostgreSQL or embedded SQLite, migrated on open), enrolment of
// the configured gateways and meter keys, the embedded MQTT broker when no
// external one is configured, verified ingest over a shared subscription,
// the optional InfluxDB writer, and the HTTP listener (/metrics,
// /api/v1/ingest/stats, /healthz). The parts live in central/...; this
// package only wires them.
//
// Life cycle:
//
//  1. Build: New(cfg, opts) takes a config that config.Load has checked;
//     it does no I/O.
//  2. Run: (*Service).Run(ctx) opens the store, the broker and the
//     listeners and runs until ctx ends (nil) or a part fails (its error).
//     Addrs waits until it listens and tells where.
//  3. Close: when Run returns, the HTTP server is shut down, ingest has
//     stopped, the broker and the store are closed. A Service runs once.
//
// Central is stateless between runs: any number of replicas may share one
// broker (shared subscription) and one PostgreSQL store.
package central
