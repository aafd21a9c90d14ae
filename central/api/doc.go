// Package api is central's REST API /api/v1 (Gin) for drivers and
// operators; docs/api.md tells how to use it and openapi.yaml (served at
// /api/v1/openapi.yaml) is its reference, checked against the router.
//
// Drivers need no account: GET /points/{site}/{point}/tariffs shows the
// price (AFIR order) before the start; POST /sessions starts with an
// e-mail, a tariff and a payment provider or an access code, idempotent by
// a client-chosen id, and returns an unguessable per-session token (an
// HMAC of the session id under central's token key) that every later call
// on the session carries as a bearer token: status, confirm (after the
// driver approved the hold), stop, receipt.pdf.
//
// Operators use bearer tokens ("pgo_…", stored as SHA-256 hashes, compared
// in constant time) scoped to one operator: every operator query filters
// by that operator in the store, so another operator's ids answer 404.
// Tokens are accepted in the Authorization header only, never in URLs.
// Errors are JSON: {"error": {"code": …, "message": …}}, 401 without or
// with an unknown token, 403 with a token of the wrong kind or session.
//
// Operators reach their sites' edges too (ems.go): GET
// /operator/sites/{id}/load reads the latest stored readings, PUT and
// DELETE /operator/sites/{id}/limit put a limit with expiry in force or
// withdraw it, POST /operator/sites/{id}/alarms/reset resets the fire-alarm
// latch (who is the token's name) — forwarded as signed commands.
//
// The API commands the edge through Edge (central/command): it authorises
// a point when its session's hold is in place (with the session's class
// and energy cap) and stops it when the driver stops. Payment webhooks
// arrive at POST /webhooks/{provider}, verified by central/payment before
// anything of the body is read, with replays refused.
package api
