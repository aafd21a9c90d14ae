// Package command sends central's commands to an edge and waits for its
// answer: Authorize lets a charge point with access "central" charge for
// one session (class, energy cap, hold expiry), Stop stops it; SetLimit
// puts a site limit with expiry in force (TTL 0 withdraws it) and returns
// the limit the edge then has in force, ResetSafety releases the edge's
// fire-alarm latch (refused while the alarm is present). A command is
// an edge/reading Command signed with central's Ed25519 key (the key that
// signs acks), published on parkgrid/v1/<site>/down/cmd to the gateway
// enrolled for the site, with a random id and a short expiry. The edge
// answers on …/up/reply with a Reply signed by its gateway key; Commander
// verifies it with the key enrolled for the gateway it sent to, matches it
// by id and returns nil for ok, ErrRefused with the edge's reason, or
// ErrNoReply when nothing came in time (edge offline: the command expires
// there unexecuted or was executed and its answer lost; every command may
// simply be sent again: sessions are idempotent at the edge, a limit sent
// again restarts its TTL).
//
// Every replica subscribes to every reply (not shared) and takes those it
// waits for; the others are ignored. MQTT (mqtt.go) is the transport over
// paho; Commander works over any Publisher and is fed replies by
// HandleReply.
package command
