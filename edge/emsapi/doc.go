// Package emsapi is the edge's local API for energy-management systems
// (EMS, HEMS, building automation): the site's state, each charge point's
// state, alarms, and site limits that expire. It speaks MQTT (any 3.1.1
// broker, through paho) and REST (Gin); both read the same [Source], send
// commands to the same [Controller], and parse requests with the same
// [ParseLimit], so the two cannot drift apart.
//
// The package imports no other edge package. The edge's control loop is
// adapted to [Source] and [Controller] in cmd/parkgrid.
//
// # MQTT topics
//
// All topics sit under a prefix, by default parkgrid/v1/<site>/ems:
//
//	<prefix>/status                 retained  "online" on connect, "offline" as the LWT and on shutdown
//	<prefix>/state                  retained  SiteState, every StateInterval (default 1 s)
//	<prefix>/point/<id>/state       retained  PointState, when it changed (its "at" aside)
//	<prefix>/alarms                 retained  AlarmList, when it changed
//	<prefix>/limit/set              command   LimitRequest JSON (QoS 1, never retained)
//	<prefix>/limit/reply            reply     LimitReply JSON, one per command, not retained
//
// The edge publishes with QoS 0 (see pubQoS for why) and republishes every
// retained topic on each (re)connect; the LWT has QoS 1. Commands should be
// published with QoS 1.
//
// With Home Assistant discovery on, each charge point also gets
// <discovery-prefix>/sensor/<site>_<id>/{power,energy}/config (retained).
//
// # Limits
//
// A limit request is
//
//	{"requestId": "r-17", "maxPowerW": 22000, "maxCurrentA": [32, 32, 32], "ttlS": 300}
//
// requestId (1..128 characters) and ttlS (whole seconds, 1..MaxTTL) are
// required, and at least one of maxPowerW (integer W) and maxCurrentA
// (three numbers in A, per grid phase, rounded to whole mA) must be given.
// Unknown fields are ignored (the contract grows by adding fields); a field
// of the wrong type, a negative or absurd value or an array of the wrong
// length rejects the whole request and nothing changes. A limit is in force
// from the moment the Controller accepts it until ttlS later, then the
// site falls back to its other limits: an EMS that dies cannot pin the car
// park to a stale limit. To keep a limit, send it again before it expires.
//
// A command that arrives with the MQTT retain flag set is rejected: a
// retained command would be replayed to the edge on every reconnect, long
// after the EMS meant it. (MQTT 3.1.1 clears the flag on messages forwarded
// to a subscriber that was already subscribed, so a command published with
// retain=true while the edge is connected is applied once; its replay after
// the next reconnect is the one rejected.) Empty payloads, which clear a
// retained message, are ignored.
//
// # Units
//
// Everything the edge reports carries its unit in the name and is an
// integer: currents in mA (currentMA, setpointMA, maxCurrentMA), power in W,
// energy in Wh. The one exception is the request's maxCurrentA, in A, as
// EMSes speak it.
//
// # REST
//
// The routes, their bodies and their errors are in openapi.json, served at
// /api/v1/openapi.json and checked against the router by the tests. Errors
// are {"error": "..."} with 400 (bad request), 404 (unknown), 409 (refused
// by the controller) or 503 (the controller did not answer in time).
//
// # Who may call it
//
// With Options.Auth every route but the OpenAPI document needs a bearer
// token (package token) with the route's scope: read for GETs, limit for
// POST /api/v1/limit, reset for POST /api/v1/alarms/reset; 401 without a
// valid token, 403 without the scope. An alarm reset records the token's
// name as who. Whatever the token, auth.go's guards refuse a Host that is
// not this edge (DNS rebinding), a browser's cross-site request (CSRF) and
// a POST that is not application/json (415). Serve bounds what a client
// can hold: timeouts, connections in total and per address, header and
// body sizes (server.go).
package emsapi
