package catalog

import (
	"context"
	"fmt"

	"github.com/parkgrid/parkgrid/central/invoice"
	"github.com/parkgrid/parkgrid/central/session"
)

// MeterKeys finds a meter's current public key (central/store has it).
type MeterKeys interface {
	MeterPublicKey(ctx context.Context, site, device string) (string, error)
}

// Issuers is the session.Issuers of the catalog: the operator is the
// seller, the point and its site the charge point, and the meter's key
// the one enrolled for the session's meter.
type Issuers struct {
	Store Store
	Keys  MeterKeys // nil: receipts carry no key
}

var _ session.Issuers = Issuers{}

// Issuer implements session.Issuers.
func (i Issuers) Issuer(ctx context.Context, s session.Session) (session.Issuer, error) {
	op, err := i.Store.Operator(ctx, s.Operator)
	if err != nil {
		return session.Issuer{}, fmt.Errorf("issuer of session %s: %w", s.ID, err)
	}
	site, err := i.Store.Site(ctx, s.Operator, s.Site)
	if err != nil {
		return session.Issuer{}, fmt.Errorf("issuer of session %s: %w", s.ID, err)
	}
	p, err := i.Store.Point(ctx, s.Site, s.Point)
	if err != nil {
		return session.Issuer{}, fmt.Errorf("issuer of session %s: %w", s.ID, err)
	}
	iss := session.Issuer{
		Seller:      invoice.Seller{Name: op.Name, Address: op.Address, VATID: op.VATID, TaxNumber: op.TaxNumber},
		ChargePoint: invoice.ChargePoint{Site: s.Site, Point: s.Point, EVSEID: p.EVSEID, Address: site.Address},
	}
	if i.Keys != nil {
		if iss.MeterPublicKey, err = i.Keys.MeterPublicKey(ctx, s.Site, s.Meter); err != nil {
			return session.Issuer{}, fmt.Errorf("issuer of session %s: meter key: %w", s.ID, err)
		}
	}
	return iss, nil
}
