package postgres_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
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
// run of digits, optionally grouped by single spaces or dashes, whose
// prefix and length are a card network's (networkLike) and which passes
// the Luhn check; a run inside a word (hex data, ids) is not one. (Any
// Luhn-valid 13–19 digit run starting with 2–6 also matched signature hex
// and ids: one in ten does.)
func cardNumbers(s string) []string {
	isDigit := func(i int) bool { return i >= 0 && i < len(s) && s[i] >= '0' && s[i] <= '9' }
	isAlnum := func(i int) bool {
		return isDigit(i) || i >= 0 && i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z')
	}
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
		// A run inside a word (hex signature data, ids) is not a number.
		inWord := isAlnum(i-1) || isAlnum(j)
		if !inWord && networkLike(string(digits)) && luhn(digits) {
			found = append(found, string(digits))
		}
		i = j
	}
	return found
}

// networkLike reports whether d has the prefix (IIN) and length of a
// Visa, Mastercard, American Express, Discover, Diners Club, JCB or
// UnionPay card.
func networkLike(d string) bool {
	n := len(d)
	if n < 13 || n > 19 {
		return false
	}
	p := func(k int) int { v, _ := strconv.Atoi(d[:k]); return v }
	in := func(v, lo, hi int) bool { return v >= lo && v <= hi }
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case in(p(2), 51, 55), in(p(4), 2221, 2720): // Mastercard
		return n == 16
	case p(2) == 34, p(2) == 37: // American Express
		return n == 15
	case p(4) == 6011, in(p(3), 644, 649), p(2) == 65, p(2) == 62: // Discover, UnionPay
		return n >= 16
	case p(2) == 36, in(p(3), 300, 305), p(2) == 38, p(2) == 39: // Diners Club
		return n == 14 || n == 16
	case in(p(4), 3528, 3589): // JCB
		return n >= 16
	}
	return false
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
	for _, s := range []string{"4242424242424242", "card 4000 0566 5566 5556 used", "5555-5555-5555-4444", `"pan":"378282246310005"`,
		"30569309025904", "3566002020360505", "6011111111111117", "6200000000000005", "2223003122003222", "4222222222222"} {
		if len(cardNumbers(s)) == 0 {
			t.Errorf("%q: card number not found", s)
		}
	}
	// 3045022071700: Luhn-valid, 13 digits after a Diners prefix (Diners
	// numbers have 14): an id the scan once took for a card.
	for _, s := range []string{"4242424242424241", "2026-11-25T10:00:00Z", "1234", "pi_3QxYz 9999999999999", "0000000000000000",
		"3045022071700", "7992739871300000", `"SD":"30450220770979F640DB"`} {
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
				for _, f := range cardNumbers(text) {
					i := strings.Index(text, f)
					t.Errorf("table %s holds a card-like number %s in …%s…", name, f, text[max(i-40, 0):min(i+len(f)+20, len(text))])
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
