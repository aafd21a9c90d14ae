package central

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/mail"
	mailpg "github.com/parkgrid/parkgrid/central/mail/postgres"
	mailsqlite "github.com/parkgrid/parkgrid/central/mail/sqlite"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/internal/sqldb"
)

// This file wires the receipt e-mails (issue 15): the outbox tables beside
// the session tables, the SMTP sender from the config's mail section, and
// the receiptMailer, which queues the receipt of every invoiced session.
//
// Queueing is driven by the invoices table, not by the step that issued
// the invoice, so it survives crashes and works across replicas: a pass
// lists the invoices of the last days whose receipt/<operator>/<number>
// mail is not in the outbox and queues it (mail.QueueReceipt; the id is the
// idempotency key, so two replicas queueing at once store it once). A pass
// runs right after this replica issues an invoice (invoiceHook) and before
// every mail-retry job run, which then delivers what is due.

// receiptWindow is how far back a pass looks for invoices without a
// queued receipt: invoices issued while central was down or before mail
// was configured are mailed if they are this young. It is never longer
// than the outbox keeps sent mails (else a purged receipt would be queued
// again).
const receiptWindow = 7 * 24 * time.Hour

// receiptBatch bounds the invoices one pass looks at.
const receiptBatch = 500

// startReader finds the driver's start record (with the e-mail address);
// the catalog has it.
type startReader interface {
	StartOf(ctx context.Context, session string) (catalog.Start, error)
}

// operatorReader finds an operator's time zone and invoice prefix; the
// catalog has it.
type operatorReader interface {
	Operator(ctx context.Context, id string) (catalog.Operator, error)
}

// receiptMailer queues and sends receipt mails.
type receiptMailer struct {
	outbox   *mail.Outbox
	pending  func(ctx context.Context, since time.Time, limit int) ([]invoiceRef, error)
	invoices invoiceReader
	starts   startReader
	ops      operatorReader
	from     func(operator string) string
	window   time.Duration
	log      *slog.Logger

	mu      sync.Mutex           // protects skipped
	skipped map[string]time.Time // receipt id → when: no address or no valid mail, logged once
}

// invoiceRef names an invoice whose receipt is not queued.
type invoiceRef struct {
	Operator string
	Number   int64
	Session  string
	IssuedAt time.Time
}

// openMail migrates the outbox tables on the billing database and, with a
// mail section in cfg, builds the SMTP sender and the receiptMailer.
// Without one it returns nil and logs once that receipts are not mailed.
func openMail(ctx context.Context, cfg *centralconfig.Config, b *billing, getenv func(string) string, now time.Time, log *slog.Logger) (*receiptMailer, error) {
	var st mail.Store
	switch b.dialect {
	case sqldb.SQLite:
		if err := mailsqlite.Migrate(ctx, b.db, now); err != nil {
			return nil, err
		}
		st = mailsqlite.New(b.db)
	case sqldb.Postgres:
		if err := mailpg.Migrate(ctx, b.pool, now); err != nil {
			return nil, err
		}
		st = mailpg.New(b.pool)
	default:
		return nil, fmt.Errorf("mail: dialect %q", b.dialect)
	}
	m := cfg.Mail
	if m == nil {
		log.Info("mail: no mail section in the config: receipts are not e-mailed; drivers download them from the API (GET /api/v1/sessions/{id}/receipt.pdf)")
		return nil, nil
	}
	roots, err := m.RootCAs()
	if err != nil {
		return nil, err
	}
	smtpCfg := mail.SMTPConfig{Host: m.Host, Port: m.Port, Security: mail.Security(m.Security), Username: m.Username,
		PasswordFile: m.PasswordFile, PasswordEnv: m.PasswordEnv, RootCAs: roots, HelloName: m.Hello, Timeout: m.Timeout}
	sender, err := mail.NewSMTP(smtpCfg, getenv)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	log.Info("mail: receipts are e-mailed", "smtp", smtpCfg, "from", m.From)
	return &receiptMailer{
		outbox:   mail.NewOutbox(st, sender, log),
		pending:  pendingReceipts(b.db, b.dialect),
		invoices: b.invoices,
		starts:   b.catalog,
		ops:      b.catalog,
		from:     m.FromFor,
		window:   min(receiptWindow, m.Keep),
		log:      log,
	}, nil
}

// pendingReceipts lists the invoices issued since since whose receipt is
// not in the outbox, oldest first.
func pendingReceipts(db *sql.DB, dialect string) func(ctx context.Context, since time.Time, limit int) ([]invoiceRef, error) {
	q := sqldb.Bind(dialect, `SELECT i.operator, i.number, i.session FROM invoices i
		WHERE i.issued_at >= ? AND NOT EXISTS (
			SELECT 1 FROM mail_outbox m WHERE m.id = 'receipt/' || i.operator || '/' || i.number)
		ORDER BY i.issued_at, i.operator, i.number LIMIT ?`)
	return func(ctx context.Context, since time.Time, limit int) ([]invoiceRef, error) {
		var arg any = since
		if dialect == sqldb.SQLite {
			arg = since.UnixMicro() // central's SQLite times
		}
		rows, err := db.QueryContext(ctx, q, arg, limit)
		if err != nil {
			return nil, fmt.Errorf("receipts to queue: %w", err)
		}
		defer rows.Close()
		var out []invoiceRef
		for rows.Next() {
			var r invoiceRef
			if err := rows.Scan(&r.Operator, &r.Number, &r.Session); err != nil {
				return nil, fmt.Errorf("receipts to queue: %w", err)
			}
			out = append(out, r)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("receipts to queue: %w", err)
		}
		return out, nil
	}
}

// Queue queues the receipt of every invoice of the last window whose
// receipt is not queued, and returns how many it queued. An invoice whose
// session has no driver address (no start record) is logged once and
// left; the others go on past an error, and every error is returned.
func (r *receiptMailer) Queue(ctx context.Context, now time.Time) (int, error) {
	since := now.Add(-r.window)
	refs, err := r.pending(ctx, since, receiptBatch)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	for id, at := range r.skipped {
		if at.Before(since) {
			delete(r.skipped, id)
		}
	}
	r.mu.Unlock()
	var (
		queued int
		errs   []error
	)
	for _, ref := range refs {
		added, err := r.queue(ctx, ref, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if added {
			queued++
		}
	}
	return queued, errors.Join(errs...)
}

func (r *receiptMailer) queue(ctx context.Context, ref invoiceRef, now time.Time) (bool, error) {
	id := mail.ReceiptID(ref.Operator, ref.Number)
	r.mu.Lock()
	_, skip := r.skipped[id]
	r.mu.Unlock()
	if skip {
		return false, nil
	}
	start, err := r.starts.StartOf(ctx, ref.Session)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && start.Email == "") {
		r.skip(id, now)
		r.log.Warn("receipt not e-mailed: the session has no driver address", "session", ref.Session, "invoice", ref.Number, "operator", ref.Operator)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("receipt %s: start of session %s: %w", id, ref.Session, err)
	}
	inv, err := r.invoices.Invoice(ctx, ref.Operator, ref.Number)
	if err != nil {
		return false, fmt.Errorf("receipt %s: %w", id, err)
	}
	op, err := r.ops.Operator(ctx, ref.Operator)
	if err != nil {
		return false, fmt.Errorf("receipt %s: operator: %w", id, err)
	}
	loc := time.UTC
	if op.TimeZone != "" {
		if l, err := time.LoadLocation(op.TimeZone); err == nil {
			loc = l
		}
	}
	if inv.Receipt.Number == "" {
		inv.Receipt.Number = invoice.FormatNumber(op.InvoicePrefix, inv.Number)
	}
	added, err := mail.QueueReceipt(ctx, r.outbox, inv, r.from(ref.Operator), start.Email, loc, now)
	if errors.Is(err, mail.ErrInvalid) {
		// Not a mail that can be built (an address net/mail refuses, …):
		// trying again every minute would not change it.
		r.skip(id, now)
		r.log.Error("receipt not e-mailed: no valid mail", "session", ref.Session, "invoice", ref.Number, "operator", ref.Operator, "err", err)
		return false, nil
	}
	return added, err
}

// skip remembers a receipt that is not mailed, until it leaves the window.
func (r *receiptMailer) skip(id string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skipped == nil {
		r.skipped = map[string]time.Time{}
	}
	r.skipped[id] = now
}

// Send queues what is pending and delivers what is due: the run right
// after an invoice.
func (r *receiptMailer) Send(ctx context.Context, now time.Time) error {
	_, qerr := r.Queue(ctx, now)
	_, derr := r.outbox.Deliver(ctx, now)
	return errors.Join(qerr, derr)
}

// Deliver is the mail-retry job's run (jobs.Outbox): queue what is
// pending, then deliver what is due.
func (r *receiptMailer) Deliver(ctx context.Context, now time.Time) (mail.DeliverReport, error) {
	_, qerr := r.Queue(ctx, now)
	rep, derr := r.outbox.Deliver(ctx, now)
	return rep, errors.Join(qerr, derr)
}

// Purge is the retention job's run (jobs.Outbox).
func (r *receiptMailer) Purge(ctx context.Context, before time.Time) (int64, error) {
	return r.outbox.Purge(ctx, before)
}

// run sends after every kick until ctx ends; errors are logged (the
// mail-retry job tries again).
func (r *receiptMailer) run(ctx context.Context, kick <-chan struct{}, now func() time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		if err := r.Send(ctx, now()); err != nil && ctx.Err() == nil {
			r.log.Warn("receipt mail after invoice", "err", err)
		}
	}
}

// invoiceHook is a session.Store that signals after every invoice it
// issued, so the receipt goes out at once rather than at the next job
// run.
type invoiceHook struct {
	session.Store
	issued chan<- struct{} // buffered (1): a signal pending is enough
}

func (h invoiceHook) Invoice(ctx context.Context, s session.Session, tr session.Transition, inv invoice.Invoice) (invoice.Invoice, error) {
	out, err := h.Store.Invoice(ctx, s, tr, inv)
	if err == nil {
		select {
		case h.issued <- struct{}{}:
		default:
		}
	}
	return out, err
}
