package catalog_test

import (
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/catalog/catalogtest"
	"github.com/parkgrid/parkgrid/central/catalog/sqlstore"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/internal/sqldb"
	"github.com/parkgrid/parkgrid/internal/sqldb/sqldbtest"
)

func TestStations(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ctx := t.Context()
	if err := sqlstore.Migrate(ctx, db, sqldb.SQLite, catalogtest.T0); err != nil {
		t.Fatal(err)
	}
	st := sqlstore.New(db, sqldb.SQLite)
	catalogtest.Seed(t, st)
	site := catalogtest.Site("a", "site-a")
	site.Register = &catalog.Register{Street: "Parkweg", HouseNumber: "2", PostalCode: "10115", City: "Berlin", State: "Berlin",
		District: "Berlin", CommissionedOn: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	if err := st.PutSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	p := catalogtest.Point("a", "site-a", "p1")
	p.Plugs = []string{string(report.PlugType2Socket)}
	if err := st.PutPoint(ctx, p); err != nil {
		t.Fatal(err)
	}
	c := catalog.Stations{Store: st, Keys: keys{"site-a/p1.meter": "3059key", "site-b/p1.meter": "3059keyb"}}
	got, err := c.Stations(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("stations %+v", got)
	}
	s := got[0]
	if s.Operator != "Operator a" || s.Street != "Parkweg" || s.LatMicroDeg != 52_520_000 || !s.CommissionedOn.Equal(site.Register.CommissionedOn) ||
		len(s.Points) != 1 || s.Points[0].MeterPublicKey != "3059key" || s.Points[0].PowerW != 22000 || s.Points[0].Plugs[0] != report.PlugType2Socket {
		t.Errorf("station %+v", s)
	}
	// b's site has no register entry: nothing to report; a's never shows for b.
	if got, err := c.Stations(ctx, "b"); err != nil || len(got) != 0 {
		t.Errorf("b's stations %+v, %v", got, err)
	}
}
