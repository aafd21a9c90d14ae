// Package accesscode is the operator's access codes: a driver who enters
// one charges without a card.
//
//   - flatrate: unlimited sessions between ValidFrom and ValidUntil
//     (the energy is paid by the flat rate, outside parkgrid);
//   - visitor: at most MaxUses sessions, or until ValidUntil, or both;
//   - costcentre: billed to the operator's cost centre, no card.
//
// A code is a random secret shown once when it is made; the store keeps
// only its SHA-256 hash, it is never logged, and a presented code is
// compared with the stored hash in constant time. Codes are revocable;
// every redemption is stored as a use (one per session, so a retried start
// counts once), and Uses counts them.
//
// Redeem applies the rule (Redeemable) and counts the use in one
// transaction; a code can never be used more than MaxUses times, also by
// concurrent starts on several replicas.
//
// A code may carry a user group (Group: fleet, employees, visitors or
// free text, CheckGroup); the operator's users are grouped by the codes
// they use, and sessions without a code form the group public (reserved).
//
// Sessions started with a code have no payment hold: Payments routes them
// to an internal account (payee account "code:<id>", hold ids "code:…")
// that authorises at once and moves no money; the session is invoiced
// like any other, the receipt naming the code's account. Stores:
// central/accesscode/sqlstore (PostgreSQL and SQLite, its own migration
// set).
package accesscode
