// Package web adapts central's services to the ports of the dashboard
// package: the driver app (Driver) and the operator views (SiteView,
// AlarmControl, SessionView, LoadViewer, TariffEditor, CodeAdmin,
// ReportSource, EnergyChart). central's root package builds one Adapter
// per process and mounts dashboard.New over it (central/web.go).
//
// Where the data comes from:
//
//   - charge points, sites, tariffs (versioned) and operators: the catalog;
//     access codes: central/accesscode; sessions: central/session's store;
//   - the live state of a point (offline, faulted, occupied, power) and of
//     a site (alarms, EMS limits, per-phase load): what the edge reported,
//     as central's ingest store holds it (readings, and the events of the
//     site's recent batches);
//   - a driver's start goes through central/api's own handler in-process,
//     so the web app and the REST API share one start path (validation,
//     access-code redemption, payment hold, authorisation at the edge);
//     stop and the receipt use the same services the API uses.
//
// Tenant isolation: every operator method takes the logged-in user's
// operator and asks the catalog and the access-code store with it (their
// queries filter by operator). Sessions are read by id or listed by state
// and then kept only when they are the operator's; a reset, a tariff or a
// code of another operator answers dashboard.ErrNotFound.
//
// Point ids: the dashboard names a point by one path segment, so the
// adapter uses "<site>~<point>" ('~' is never part of a catalog id).
package web
