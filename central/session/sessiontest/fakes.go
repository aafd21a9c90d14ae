package sessiontest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// T0 is the suite's reference time (microsecond precision, UTC, as the
// SQL stores keep it).
var T0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Tariff is a valid tariff: 0.49 EUR/kWh, 1.00 EUR start fee, 19 % VAT.
func Tariff() tariff.Tariff {
	return tariff.Tariff{ID: "eco-mitte", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 49, StartFeeMinor: 100, VATRateBP: 1900}
}

// Snapshots is a session.Snapshots in memory: records added per session.
type Snapshots struct {
	mu   sync.Mutex // protects the field below
	recs map[string][]session.Snapshot
	// Err, when set, is returned by every call.
	Err error
}

var _ session.Snapshots = (*Snapshots)(nil)

// Add stores snapshots of a session.
func (f *Snapshots) Add(sessionID string, snaps ...session.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recs == nil {
		f.recs = map[string][]session.Snapshot{}
	}
	f.recs[sessionID] = append(f.recs[sessionID], snaps...)
}

// SessionSnapshots implements session.Snapshots.
func (f *Snapshots) SessionSnapshots(_ context.Context, _, _, sessionID string) ([]session.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return nil, f.Err
	}
	return append([]session.Snapshot(nil), f.recs[sessionID]...), nil
}

// Issuers is a session.Issuers that names one seller for everyone.
type Issuers struct{}

// Issuer implements session.Issuers.
func (Issuers) Issuer(_ context.Context, s session.Session) (session.Issuer, error) {
	return session.Issuer{
		Seller:      invoice.Seller{Name: "Parkhaus Mitte GmbH", Address: "Hauptstr. 1, 10115 Berlin", VATID: "DE123456789"},
		ChargePoint: invoice.ChargePoint{Site: s.Site, Point: s.Point, Address: "Hauptstr. 1, 10115 Berlin"},
	}, nil
}

// Meter signs OCMF records like the simulator's Eichrecht meter: one
// reading per record, the register in kWh with three decimals.
type Meter struct {
	Serial    string
	key       *ecdsa.PrivateKey
	PublicKey string // hex SubjectPublicKeyInfo
}

// NewMeter returns a meter with a fresh P-256 key.
func NewMeter(serial string) (*Meter, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Meter{Serial: serial, key: k, PublicKey: hex.EncodeToString(der)}, nil
}

// Record signs page T<page> with a reading tx (B, C, E …) of the register
// at wh Wh, taken at at.
func (m *Meter) Record(page int, tx string, wh int64, at time.Time) string {
	return m.RecordValue(page, tx, fmt.Sprintf("%d.%03d", wh/1000, wh%1000), "kWh", at)
}

// RecordValue is Record with the RV literal and RU unit given as written.
func (m *Meter) RecordValue(page int, tx, rv, ru string, at time.Time) string {
	payload := fmt.Sprintf(`{"FV":"1.0","GI":"parkgrid","PG":"T%d","MV":"parkgrid","MM":"sim-eichrecht","MS":%q,`+
		`"IS":false,"IL":"NONE","IT":"NONE","ID":"","CT":"EVSEID","CI":"cp-07","RD":[{"TM":%q,"TX":%q,"RV":%s,"RI":"1-b:1.8.0","RU":%q,"ST":"G"}]}`,
		page, m.Serial, at.UTC().Format("2006-01-02T15:04:05,000-0700")+" S", tx, rv, ru)
	rec, err := ocmf.SignP256([]byte(payload), m.key)
	if err != nil {
		panic(err) // a fixed, well-formed payload and a P-256 key
	}
	return rec
}

// Verified wraps records as verified snapshots.
func Verified(recs ...string) []session.Snapshot {
	out := make([]session.Snapshot, len(recs))
	for i, r := range recs {
		out[i] = session.Snapshot{OCMF: r, Verified: true}
	}
	return out
}
