// Package dashboard is parkgrid's web front: the driver app a charge
// point's QR code or NFC tag opens (/c/<point>: prices before the start,
// e-mail, payment, eco or premium, "Charge here", live progress over
// Server-Sent Events, "End charging", the receipt), white-labelled per
// operator, and the operator dashboard (/ops/: sites and charge points
// with live state and faults, alarms with their reset, live sessions,
// load management, tariffs, access codes, users, reports, branding, the
// audit log and the printable QR/NFC sheet). Server-rendered html/template
// with one small script; German and English (Accept-Language, or the
// DE/EN switch, remembered in a cookie); every page is built for a phone
// first. Templates, CSS, JavaScript and the service worker are embedded;
// the app icons are drawn at start-up.
//
// # Mounting
//
// The package renders against interfaces it declares itself (ports.go):
// Driver for the driver app and SiteView, AlarmControl, SessionView,
// LoadViewer, TariffEditor, CodeAdmin and ReportSource for the dashboard,
// each taking the logged-in user's operator first. The stores of users,
// sessions, the audit log and the white label are in dashboard/auth and
// dashboard/brand, implemented by dashboard/store (SQLite, PostgreSQL)
// and dashboard/store/memory. central's wiring mounts it like this:
//
//	st, err := store.OpenPostgres(ctx, dsn, time.Now()) // or store.OpenSQLite
//	web, err := dashboard.New(dashboard.Deps{
//		Users: st, Sessions: st, Audit: st, Brand: st,
//		Driver: driverAdapter,                     // central/api's services behind dashboard.Driver
//		Sites: ops, Alarms: ops, Live: ops, Load: ops, Tariffs: ops, Codes: ops, Reports: ops,
//	}, dashboard.Options{
//		PublicURL: "https://charge.example.com",   // what QR codes and NFC tags carry
//		Secret:    secret32,                       // ≥ 32 random bytes, the same on every replica
//		Logger:    log,
//	})
//	mux.Handle("/", web) // beside /api/v1 and /metrics
//
// Every route of the package is under /c/, /s/, /ops/, /brand/, /static/,
// /icons/ and the three PWA files /manifest.webmanifest, /sw.js and
// /offline.html, so it shares a server with /api/v1. The server is
// stateless apart from the stores and the login rate limiter (per
// process), so replicas behind a load balancer need only the same Secret
// and database.
//
// # Security
//
// Operators log in with bcrypt-hashed passwords; the session id (32
// random bytes) lives in an HttpOnly, SameSite=Lax cookie, Secure behind
// TLS or an https PublicURL, is replaced at every login (no session
// fixation) and is stored only as its SHA-256. Every POST carries a CSRF
// token: the session's own on /ops/, a double-submit token bound to a
// random cookie by HMAC on the login and driver forms, and an HMAC of the
// session id on "End charging". Roles: viewer reads, operator acts, admin
// manages users and reads the audit log; every change is audited (who,
// what, when, from where). Logins are limited per IP and per e-mail. A
// driver's session is bound to the browser that started it by an HMAC'd
// cookie, so no credential ever travels in a URL. Uploaded images are
// sniffed from their bytes (PNG, JPEG, WebP; SVG refused), size-limited,
// served under their SHA-256 as immutable with a sandboxing CSP. Pages
// carry a strict Content-Security-Policy (scripts only from the app).
//
// # Live progress
//
// GET /s/<session>/events is an event stream: one "progress" event with
// the current status, then one per update of Driver.Subscribe, plus a
// comment every 15 s; the page's script updates energy, power, duration
// and cost in place and shows the receipt link once it is ready. The
// http.Server that mounts the package must not set a WriteTimeout shorter
// than a charging session (use ReadHeaderTimeout and IdleTimeout), or the
// stream is cut; the browser's EventSource reconnects by itself anyway.
package dashboard
