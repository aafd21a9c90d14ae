package catalog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/catalog/catalogtest"
	"github.com/parkgrid/parkgrid/central/catalog/sqlstore"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
)

type keys map[string]string

func (k keys) MeterPublicKey(_ context.Context, site, device string) (string, error) {
	v, ok := k[site+"/"+device]
	if !ok {
		return "", errors.New("no key")
	}
	return v, nil
}

func TestIssuers(t *testing.T) {
	db := sqldbtest.SQLite(t)
	if err := sqlstore.Migrate(t.Context(), db, sqldb.SQLite, catalogtest.T0); err != nil {
		t.Fatal(err)
	}
	st := sqlstore.New(db, sqldb.SQLite)
	catalogtest.Seed(t, st)
	iss := catalog.Issuers{Store: st, Keys: keys{"site-a/p1.meter": "3059…"}}
	got, err := iss.Issuer(t.Context(), session.Session{ID: "s1", Operator: "a", Site: "site-a", Point: "p1", Meter: "p1.meter"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Seller.Name != "Operator a" || got.Seller.VATID != "DE123456789" || got.ChargePoint.EVSEID != "DE*PGR*Ep1" ||
		got.ChargePoint.Address != "Parkweg 2, 10115 Berlin" || got.MeterPublicKey != "3059…" {
		t.Errorf("issuer %+v", got)
	}
	// A session naming another operator's site finds no issuer.
	if _, err := iss.Issuer(t.Context(), session.Session{ID: "s2", Operator: "b", Site: "site-a", Point: "p1", Meter: "p1.meter"}); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("cross-operator issuer: %v", err)
	}
	if _, err := iss.Issuer(t.Context(), session.Session{ID: "s3", Operator: "a", Site: "site-a", Point: "p1", Meter: "other"}); err == nil {
		t.Error("unknown meter key accepted")
	}
}
