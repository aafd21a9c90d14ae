// Package auth is the operator dashboard's access control: users with
// bcrypt password hashes and one of three roles, server-side sessions, CSRF
// tokens, a login rate limiter and the audit log's record type. It defines
// the small store interfaces it consumes (UserStore, SessionStore,
// AuditLog); dashboard/store implements them on SQLite and PostgreSQL and
// dashboard/store/memory in memory.
//
// # Sessions
//
// A session id is 32 random bytes, base64url in the cookie; the stores
// keep only its SHA-256 (SessionKey), so a copy of the database opens no
// session. A login always makes a new id (the id a browser had before is
// deleted: no session fixation). Each session has its own CSRF token,
// compared in constant time on every state-changing request. Sessions
// expire after an idle time and after an absolute lifetime.
//
// # Roles
//
// viewer < operator < admin: a viewer reads; an operator also acts (alarm
// reset, tariffs, access codes, white label); an admin also manages users.
// Every user belongs to one operator (tenant) and sees only its data.
package auth
