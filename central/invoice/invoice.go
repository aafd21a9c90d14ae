package invoice

import (
	"embed"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/internal/sqlmigrate"
)

// Errors callers branch on with errors.Is.
var (
	// ErrAlreadyIssued: the session already has an invoice.
	ErrAlreadyIssued = errors.New("session already invoiced")
	// ErrInvalid: an invoice the issuer refuses before the database.
	ErrInvalid = errors.New("invalid invoice")
	// ErrNotFound: no invoice with that identity.
	ErrNotFound = errors.New("invoice not found")
)

// Invoice is one issued invoice. Number is set by Issue.
type Invoice struct {
	Operator string
	Number   int64 // 1, 2, 3 … per operator
	Session  string
	IssuedAt time.Time
	Receipt  Receipt
}

// Validate checks what Issue needs.
func (inv Invoice) Validate() error {
	if inv.Operator == "" || inv.Session == "" {
		return fmt.Errorf("invoice for session %q of operator %q: %w: operator and session required", inv.Session, inv.Operator, ErrInvalid)
	}
	if inv.IssuedAt.IsZero() {
		return fmt.Errorf("invoice for session %q: %w: no issue time", inv.Session, ErrInvalid)
	}
	if err := inv.Receipt.Validate(); err != nil {
		return fmt.Errorf("invoice for session %q: %w", inv.Session, err)
	}
	return nil
}

// FormatNumber writes an invoice number with the operator's prefix, zero
// padded to six digits: FormatNumber("PG-", 42) = "PG-000042".
func FormatNumber(prefix string, n int64) string {
	return fmt.Sprintf("%s%06d", prefix, n)
}

// Seller is the operator as the invoice names it (§14 UStG, §33 UStDV).
type Seller struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	VATID     string `json:"vatId,omitempty"`     // USt-IdNr.
	TaxNumber string `json:"taxNumber,omitempty"` // Steuernummer, if no VAT id
}

// ChargePoint is where the energy was delivered.
type ChargePoint struct {
	Site    string `json:"site"`
	Point   string `json:"point"`
	EVSEID  string `json:"evseId,omitempty"` // e.g. DE*PGR*E0001*1
	Address string `json:"address"`
}

// Receipt is what the driver receives: enough for a simplified invoice
// (§33 UStDV, up to 250 EUR gross) and, with Buyer and the number, a full
// one (§14(4) UStG), plus the signed meter records to check the energy
// with transparency software (Eichrecht).
type Receipt struct {
	Number      string           `json:"number"` // FormatNumber(prefix, Invoice.Number)
	Seller      Seller           `json:"seller"`
	Buyer       string           `json:"buyer,omitempty"` // name and address, for a full invoice
	IssuedAt    time.Time        `json:"issuedAt"`
	ChargePoint ChargePoint      `json:"chargePoint"`
	Start       time.Time        `json:"start"`
	End         time.Time        `json:"end"`
	Price       tariff.Breakdown `json:"price"`   // lines, gross, VAT rate and amount, net
	Payment     string           `json:"payment"` // e.g. "card via Stripe, pi_…"
	// OCMF holds the meter's signed start and end records exactly as the
	// meter produced them; a receipt shows them (as text and QR codes) with
	// the meter's public key so the driver can verify them.
	OCMF           []string `json:"ocmf"`
	MeterPublicKey string   `json:"meterPublicKey,omitempty"`
}

// Validate checks the fields a simplified invoice must carry and that the
// price adds up.
func (r Receipt) Validate() error {
	switch {
	case r.Seller.Name == "" || r.Seller.Address == "":
		return fmt.Errorf("receipt: %w: seller name and address required", ErrInvalid)
	case r.ChargePoint.Point == "":
		return fmt.Errorf("receipt: %w: no charge point", ErrInvalid)
	case r.Start.IsZero() || r.End.Before(r.Start):
		return fmt.Errorf("receipt: %w: start %v, end %v", ErrInvalid, r.Start, r.End)
	case r.Price.Currency == "":
		return fmt.Errorf("receipt: %w: no price", ErrInvalid)
	}
	var sum int64
	for _, l := range r.Price.Lines {
		sum += l.AmountMinor
	}
	if sum != r.Price.GrossMinor || r.Price.NetMinor+r.Price.VATMinor != r.Price.GrossMinor {
		return fmt.Errorf("receipt: %w: lines %d, gross %d, net %d + VAT %d do not add up", ErrInvalid, sum, r.Price.GrossMinor, r.Price.NetMinor, r.Price.VATMinor)
	}
	return nil
}

//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrationFiles embed.FS

// Migration is one versioned schema change of the invoice tables.
type Migration = sqlmigrate.Migration

// Migrations returns the invoice migrations of dialect ("postgres",
// "sqlite") in version order; versions start at 1 without gaps.
func Migrations(dialect string) ([]Migration, error) {
	return sqlmigrate.Load(migrationFiles, path.Join("migrations", dialect), "invoice")
}

// MigrationSet names the invoice tables' migration set: its bookkeeping
// table and its PostgreSQL advisory lock ("invoices" in ASCII).
func MigrationSet() sqlmigrate.Set {
	return sqlmigrate.Set{What: "invoice", Table: "invoice_schema_migrations", LockID: 0x696e766f69636573}
}
