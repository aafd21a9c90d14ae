package central

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/invoice/invoicetest"
	invoicesqlite "github.com/parkgrid/parkgrid/central/invoice/sqlite"
	"github.com/parkgrid/parkgrid/central/mail"
	mailsqlite "github.com/parkgrid/parkgrid/central/mail/sqlite"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/internal/sqldb"
)

// sent records what the outbox sends.
type sent struct {
	mu   sync.Mutex
	mail []string // from → to
}

func (s *sent) Send(_ context.Context, from, to string, _ []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mail = append(s.mail, from+" → "+to)
	return nil
}

type startsByID map[string]catalog.Start

func (s startsByID) StartOf(_ context.Context, id string) (catalog.Start, error) {
	st, ok := s[id]
	if !ok {
		return catalog.Start{}, catalog.ErrNotFound
	}
	return st, nil
}

type operatorsByID map[string]catalog.Operator

func (o operatorsByID) Operator(_ context.Context, id string) (catalog.Operator, error) {
	op, ok := o[id]
	if !ok {
		return catalog.Operator{}, catalog.ErrNotFound
	}
	return op, nil
}

func mailDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "c.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := invoicesqlite.Migrate(t.Context(), db, tb0); err != nil {
		t.Fatal(err)
	}
	if err := mailsqlite.Migrate(t.Context(), db, tb0); err != nil {
		t.Fatal(err)
	}
	return db
}

func issue(t *testing.T, db *sql.DB, operator, session string, at time.Time) invoice.Invoice {
	t.Helper()
	inv := invoicetest.Sample(operator, session)
	inv.IssuedAt, inv.Receipt.IssuedAt = at, at
	got, err := invoicesqlite.Complete(t.Context(), db, inv, func(context.Context, *sql.Tx) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestReceiptMailerQueuesEachInvoiceOnce: every recent invoice with a
// driver address gets one receipt mail, from the operator's sender; an
// invoice without an address, or with one no mail can go to, is logged
// once and left; an invoice older than the window is left alone.
func TestReceiptMailerQueuesEachInvoiceOnce(t *testing.T) {
	db := mailDB(t)
	issue(t, db, "op-1", "s-old", tb0.Add(-8*24*time.Hour))
	issue(t, db, "op-1", "s-1", tb0.Add(-time.Hour))
	issue(t, db, "op-1", "s-nobody", tb0.Add(-time.Hour))
	issue(t, db, "op-2", "s-2", tb0)
	issue(t, db, "op-2", "s-bad", tb0)
	var logs bytes.Buffer
	out := &sent{}
	cfg := &centralconfig.Mail{From: "Parkgrid <rechnung@parkgrid.example>", Operators: map[string]centralconfig.MailOperator{
		"op-2": {From: "Zwei <zwei@op2.example>"}}}
	r := &receiptMailer{
		outbox:  mail.NewOutbox(mailsqlite.New(db), out, nil),
		pending: pendingReceipts(db, sqldb.SQLite),
		invoices: invoiceReader(func(ctx context.Context, op string, n int64) (invoice.Invoice, error) {
			return invoicesqlite.Get(ctx, db, op, n)
		}),
		starts: startsByID{"s-old": {Email: "old@example.org"}, "s-1": {Email: "one@example.org"}, "s-2": {Email: "two@example.org"}, "s-bad": {Email: "not an address"}},
		ops:    operatorsByID{"op-1": {ID: "op-1", TimeZone: "Europe/Berlin", InvoicePrefix: "A-"}, "op-2": {ID: "op-2"}},
		from:   cfg.FromFor, window: receiptWindow,
		log: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	for i, want := range []int{2, 0} {
		n, err := r.Queue(t.Context(), tb0.Add(time.Duration(i)*time.Minute))
		if err != nil || n != want {
			t.Fatalf("pass %d: queued %d, %v; want %d", i, n, err, want)
		}
	}
	for _, why := range []string{"no driver address", "no valid mail"} {
		if c := strings.Count(logs.String(), why); c != 1 {
			t.Errorf("%q logged %d times, want once:\n%s", why, c, logs.String())
		}
	}
	if _, err := r.outbox.Deliver(t.Context(), tb0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	want := []string{"rechnung@parkgrid.example → one@example.org", "zwei@op2.example → two@example.org"}
	if strings.Join(out.mail, "; ") != strings.Join(want, "; ") {
		t.Errorf("sent %v, want %v", out.mail, want)
	}
	it, err := mailsqlite.New(db).Get(t.Context(), mail.ReceiptID("op-1", 2))
	if err != nil || !bytes.Contains(it.Built.Raw, []byte("A-000002")) {
		t.Errorf("op-1's receipt lacks its number A-000002: %v", err)
	}
	// Once the window has passed the missing address, it is forgotten.
	if _, err := r.Queue(t.Context(), tb0.Add(8*24*time.Hour)); err != nil || len(r.skipped) != 0 {
		t.Errorf("after the window: %v, %d remembered", err, len(r.skipped))
	}
}

// TestOpenMailWithoutConfig: no mail section → the outbox table exists
// all the same, nothing is built, and the log says so once.
func TestOpenMailWithoutConfig(t *testing.T) {
	db := mailDB(t)
	var logs bytes.Buffer
	m, err := openMail(t.Context(), &centralconfig.Config{}, &billing{db: db, dialect: sqldb.SQLite}, nil, tb0,
		slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || m != nil {
		t.Fatalf("no mail: %v, %v", m, err)
	}
	if strings.Count(logs.String(), "receipts are not e-mailed") != 1 {
		t.Errorf("log:\n%s", logs.String())
	}
	if _, err := db.Exec(`SELECT count(*) FROM mail_outbox`); err != nil {
		t.Errorf("outbox not migrated: %v", err)
	}
}

// TestOpenMailRefusesAMissingPassword: the password's environment
// variable unset stops the start, and the error names the variable only.
func TestOpenMailRefusesAMissingPassword(t *testing.T) {
	db := mailDB(t)
	cfg := &centralconfig.Config{Mail: &centralconfig.Mail{Host: "smtp.example.com", Port: 587, Security: "starttls",
		Username: "u", PasswordEnv: "PARKGRID_TEST_SMTP_PW", From: "a@b.example"}}
	_, err := openMail(t.Context(), cfg, &billing{db: db, dialect: sqldb.SQLite}, func(string) string { return "" }, tb0, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "no password") {
		t.Errorf("missing password: %v", err)
	}
}

// TestInvoiceHookSignals: a successful invoice signals once (a pending
// signal is enough), a failed one does not.
func TestInvoiceHookSignals(t *testing.T) {
	ch := make(chan struct{}, 1)
	var failing bool
	h := invoiceHook{Store: fakeInvoicer{fail: &failing}, issued: ch}
	for range 3 {
		if _, err := h.Invoice(t.Context(), session.Session{}, session.Transition{}, invoice.Invoice{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(ch) != 1 {
		t.Fatalf("%d signals pending, want 1", len(ch))
	}
	<-ch
	failing = true
	h.Invoice(t.Context(), session.Session{}, session.Transition{}, invoice.Invoice{})
	if len(ch) != 0 {
		t.Error("a failed invoice signalled")
	}
}

// fakeInvoicer is a session.Store whose Invoice succeeds or fails.
type fakeInvoicer struct {
	session.Store // nil: only Invoice is called
	fail          *bool
}

func (f fakeInvoicer) Invoice(context.Context, session.Session, session.Transition, invoice.Invoice) (invoice.Invoice, error) {
	if *f.fail {
		return invoice.Invoice{}, session.ErrConflict
	}
	return invoice.Invoice{}, nil
}
