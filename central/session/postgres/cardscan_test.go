package postgres_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parkgrid/parkgrid/central/invoice"
	invoicepg "github.com/parkgrid/parkgrid/central/invoice/postgres"
	"github.com/parkgrid/parkgrid/central/invoice/receiptpdf"
	"github.com/parkgrid/parkgrid/central/mail"
	"github.com/parkgrid/parkgrid/central/mail/mailtest"
	mailpg "github.com/parkgrid/parkgrid/central/mail/postgres"
	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/postgres"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// cardNumbers finds what looks like a payment card number in s: a whole
// run of 13 to 19 digits, optionally grouped by single spaces or dashes,
// whose first digit is a card network's (2–6) and which passes the Luhn
// check.
func cardNumbers(s string) []string {
	isDigit := func(i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }
	var found []string
	for i := 0; i < len(s); i++ {
		if !isDigit(i) || isDigit(i-1) {
			continue
		}
		var digits []byte
		j := i
		for ; j < len(s); j++ {
			if isDigit(j) {
				digits = append(digits, s[j])
			} else if !((s[j] == ' ' || s[j] == '-') && isDigit(j-1) && isDigit(j+1)) {
				break
			}
		}
		if n := len(digits); n >= 13 && n <= 19 && digits[0] >= '2' && digits[0] <= '6' && luhn(digits) {
			found = append(found, string(digits))
		}
		i = j
	}
	return found
}

func luhn(d []byte) bool {
	sum := 0
	for i := range d {
		v := int(d[len(d)-1-i] - '0')
		if i%2 == 1 {
			if v *= 2; v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

func TestCardNumberScanner(t *testing.T) {
	for _, s := range []string{"4242424242424242", "card 4000 0566 5566 5556 used", "5555-5555-5555-4444", `"pan":"378282246310005"`} {
		if len(cardNumbers(s)) == 0 {
			t.Errorf("%q: card number not found", s)
		}
	}
	for _, s := range []string{"4242424242424241", "2026-11-25T10:00:00Z", "1234", "pi_3QxYz 9999999999999", "0000000000000000"} {
		if got := cardNumbers(s); len(got) != 0 {
			t.Errorf("%q: found %v", s, got)
		}
	}
}

// TestNoCardNumberAnywhere runs sessions end to end with the fake
// provider on PostgreSQL — hold, charge, capture, invoice, receipt PDF
// mailed over SMTP — and then scans every row of every table, the whole
// log and every mail sent for anything that looks like a card number.
func TestNoCardNumberAnywhere(t *testing.T) {
	dsn := svctest.PostgresDSN(t)
	db := pool(t, dsn)
	ctx := t.Context()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t0 := sessiontest.T0
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		t.Fatal(err)
	}
	snaps := &sessiontest.Snapshots{}
	svc, err := session.New(session.Config{Store: postgres.New(db), Logger: log,
		Payments:  fake.New(fake.Options{AutoApprove: true, Logger: log, Now: func() time.Time { return t0 }}),
		Snapshots: snaps, Issuers: sessiontest.Issuers{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := mailpg.Migrate(ctx, db, t0); err != nil {
		t.Fatal(err)
	}
	srv := mailtest.NewServer(t, false, "parkgrid", "pw")
	smtp, err := mail.NewSMTP(mail.SMTPConfig{Host: "localhost", Port: srv.Port, Username: "parkgrid", PasswordEnv: "P", RootCAs: srv.RootCAs},
		func(string) string { return "pw" })
	if err != nil {
		t.Fatal(err)
	}
	outbox := mail.NewOutbox(mailpg.New(db), smtp, log)
	for i := range 5 {
		id := fmt.Sprintf("s-%d", i)
		r := session.StartRequest{ID: id, Operator: "op", Site: "mitte", Point: "cp-07", Meter: "m-07",
			Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Account: "acct_1", Fee: payment.Fee{BP: 150}}}
		if _, err := svc.Start(ctx, r, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Charging(ctx, id, "edge", t0); err != nil {
			t.Fatal(err)
		}
		snaps.Add(id, sessiontest.Verified(m.Record(1, "B", 1_000, t0), m.Record(2, "E", 1_000+int64(4_000*i+777), t0.Add(30*time.Minute)))...)
		if _, err := svc.Stop(ctx, id, "driver", t0.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		s, err := svc.Complete(ctx, id, t0.Add(31*time.Minute))
		if err != nil || s.State != session.StateInvoiced {
			t.Fatalf("complete %s: %s, %v", id, s.State, err)
		}
		inv, err := postgresInvoice(t, db, s.InvoiceNumber)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mail.QueueReceipt(ctx, outbox, inv, "rechnung@parkhaus.example", "driver@example.org", time.UTC, t0); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := outbox.Deliver(ctx, t0.Add(time.Hour)); err != nil || rep.Sent != 5 {
		t.Fatalf("deliver: %+v, %v", rep, err)
	}
	var pdf bytes.Buffer
	inv, _ := postgresInvoice(t, db, 1)
	if err := receiptpdf.Render(&pdf, inv.Receipt, receiptpdf.Options{Uncompressed: true}); err != nil {
		t.Fatal(err)
	}

	// Scan every table, row by row, every column as text or raw bytes.
	tables, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(tables, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	scanned := 0
	for _, name := range names {
		rows, err := db.Query(ctx, `SELECT * FROM `+pgx.Identifier{name}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				var text string
				switch v := v.(type) {
				case []byte:
					text = string(v)
				default:
					text = fmt.Sprint(v)
				}
				if found := cardNumbers(text); len(found) > 0 {
					t.Errorf("table %s holds card-like numbers %v", name, found)
				}
				scanned += len(text)
			}
		}
		rows.Close()
	}
	for what, text := range map[string]string{"log": logs.String(), "receipt PDF": pdf.String()} {
		if found := cardNumbers(text); len(found) > 0 {
			t.Errorf("%s holds card-like numbers %v", what, found)
		}
		scanned += len(text)
	}
	for _, r := range srv.Received() {
		if found := cardNumbers(string(r.Data)); len(found) > 0 {
			t.Errorf("a mail holds card-like numbers %v", found)
		}
		scanned += len(r.Data)
	}
	if len(names) < 6 || !strings.Contains(logs.String(), "session invoiced") || scanned < 100_000 {
		t.Errorf("scanned %d tables (%v), %d bytes: the run did not produce what it should", len(names), names, scanned)
	}
	t.Logf("scanned %d tables, the log, %d mails and a receipt: %d bytes", len(names), len(srv.Received()), scanned)
}

func postgresInvoice(t *testing.T, db invoicepg.Tx, number int64) (invoice.Invoice, error) {
	t.Helper()
	return invoicepg.Get(t.Context(), db, "op", number)
}
