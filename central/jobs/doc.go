// Package jobs runs central's periodic work on cron schedules
// (github.com/robfig/cron/v3), each job once per tick across all
// replicas:
//
//	mail-retry      deliver due receipt mails (mail.Outbox.Deliver)
//	reconcile       finish captures and invoices a crash interrupted, release holds (session.Service.Reconcile)
//	hold-expiry     stop sessions whose card hold nears its expiry (HoldRule)
//	nightly-report  yesterday's usage report per operator, CSV and XLSX (central/report)
//	retention       delete what is kept no longer than its retention period (mail outbox …)
//
// # Once across replicas
//
// Runner.Tick runs a job for one scheduled tick only if its Locker claims
// (job, tick): on PostgreSQL (jobs/postgres) a session-level
// pg_try_advisory_lock per job, held for the run, so two replicas never run
// one job at the same time, and under that lock a job_runs row that
// records the last tick run, so a replica whose clock fires a little later
// does not run the same tick again after the first finished. On SQLite
// central is a single process: LocalLocker does the same in memory.
//
// # Time
//
// A job gets the tick it runs for as now; nothing below Runner.Start reads
// the clock. Tests call Tick with the times they want.
package jobs
