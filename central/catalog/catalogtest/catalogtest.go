// Package catalogtest is the conformance suite every catalog.Store passes
// (central/catalog/sqlstore on PostgreSQL and SQLite), and fixtures.
package catalogtest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/tariff"
)

// T0 is the suite's clock.
var T0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// Operator returns a valid operator with id.
func Operator(id string) catalog.Operator {
	return catalog.Operator{ID: id, Name: "Operator " + id, Address: "Hauptstr. 1, 10115 Berlin", VATID: "DE123456789",
		Currency: "EUR", HoldMinor: 5000, InvoicePrefix: id + "-", TimeZone: "Europe/Berlin"}
}

// Site returns a valid site of operator.
func Site(operator, id string) catalog.Site {
	return catalog.Site{ID: id, Operator: operator, Name: "Site " + id, Address: "Parkweg 2, 10115 Berlin", LatE6: 52_520_000, LonE6: 13_405_000}
}

// Point returns a valid point of a site, offering tariffs "eco" and "premium".
func Point(operator, site, id string) catalog.Point {
	return catalog.Point{Site: site, ID: id, Operator: operator, Meter: id + ".meter", EVSEID: "DE*PGR*E" + id, MaxPowerW: 22000, Tariffs: []string{"eco", "premium"}}
}

// Tariff returns a valid tariff of operator.
func Tariff(operator, id string, class tariff.Class, perKWh int64) catalog.Tariff {
	return catalog.Tariff{Operator: operator, Tariff: tariff.Tariff{ID: id, Class: class, Currency: "EUR",
		EnergyPerKWhMinor: perKWh, StartFeeMinor: 100, TimeFeePerMinuteMinor: 10, FreeTime: 240 * time.Minute, VATRateBP: 1900}}
}

// Run runs the suite; open returns an empty, migrated store per test.
func Run(t *testing.T, open func(t *testing.T) catalog.Store) {
	t.Run("OperatorsSitesPoints", func(t *testing.T) { operatorsSitesPoints(t, open(t)) })
	t.Run("TariffVersions", func(t *testing.T) { tariffVersions(t, open(t)) })
	t.Run("ScopedByOperator", func(t *testing.T) { scopedByOperator(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { tokens(t, open(t)) })
	t.Run("StartsIdempotent", func(t *testing.T) { starts(t, open(t)) })
	t.Run("WebhookEvents", func(t *testing.T) { webhookEvents(t, open(t)) })
	t.Run("InvalidRefused", func(t *testing.T) { invalid(t, open(t)) })
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Seed stores two operators a and b, each with a site, a point and tariffs
// eco and premium.
func Seed(t testing.TB, s catalog.Store) {
	t.Helper()
	ctx := t.Context()
	for _, op := range []string{"a", "b"} {
		must(t, s.PutOperator(ctx, Operator(op)))
		must(t, s.PutSite(ctx, Site(op, "site-"+op)))
		must(t, s.PutPoint(ctx, Point(op, "site-"+op, "p1")))
		for _, tf := range []catalog.Tariff{Tariff(op, "eco", tariff.ClassEco, 39), Tariff(op, "premium", tariff.ClassPremium, 59)} {
			if _, err := s.PutTariff(ctx, tf, T0); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func operatorsSitesPoints(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	Seed(t, s)
	o, err := s.Operator(ctx, "a")
	must(t, err)
	if diff := cmp.Diff(Operator("a"), o); diff != "" {
		t.Errorf("operator (-want +got):\n%s", diff)
	}
	o.Name = "Renamed"
	must(t, s.PutOperator(ctx, o))
	if got, _ := s.Operator(ctx, "a"); got.Name != "Renamed" {
		t.Errorf("operator after update: %q", got.Name)
	}
	p, err := s.Point(ctx, "site-a", "p1")
	must(t, err)
	if diff := cmp.Diff(Point("a", "site-a", "p1"), p); diff != "" {
		t.Errorf("point (-want +got):\n%s", diff)
	}
	if _, err := s.Point(ctx, "site-a", "nope"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("unknown point: %v, want ErrNotFound", err)
	}
	// A site cannot change hands by a put of another operator.
	if err := s.PutSite(ctx, Site("b", "site-a")); !errors.Is(err, catalog.ErrExists) {
		t.Errorf("site taken over: %v, want ErrExists", err)
	}
	// A point cannot be put on another operator's site.
	if err := s.PutPoint(ctx, Point("b", "site-a", "p9")); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("point on another operator's site: %v, want ErrNotFound", err)
	}
}

func tariffVersions(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	Seed(t, s)
	v1, err := s.Tariff(ctx, "a", "eco")
	must(t, err)
	if v1.Version != 1 {
		t.Fatalf("first version %d", v1.Version)
	}
	same, err := s.PutTariff(ctx, Tariff("a", "eco", tariff.ClassEco, 39), T0.Add(time.Hour))
	must(t, err)
	if same.Version != 1 {
		t.Errorf("an unchanged tariff made version %d", same.Version)
	}
	v2, err := s.PutTariff(ctx, Tariff("a", "eco", tariff.ClassEco, 45), T0.Add(time.Hour))
	must(t, err)
	if v2.Version != 2 || v2.Tariff.EnergyPerKWhMinor != 45 {
		t.Errorf("second version %+v", v2)
	}
	cur, err := s.Tariff(ctx, "a", "eco")
	must(t, err)
	if cur.Version != 2 || cur.Tariff.EnergyPerKWhMinor != 45 {
		t.Errorf("current %+v, want version 2 at 45", cur)
	}
	must(t, s.RetireTariff(ctx, "a", "eco", T0.Add(2*time.Hour)))
	if _, err := s.Tariff(ctx, "a", "eco"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("retired tariff: %v, want ErrNotFound", err)
	}
	all, err := s.Tariffs(ctx, "a")
	must(t, err)
	if len(all) != 1 || all[0].Tariff.ID != "premium" {
		t.Errorf("tariffs after retiring eco: %+v", all)
	}
	back, err := s.PutTariff(ctx, Tariff("a", "eco", tariff.ClassEco, 45), T0.Add(3*time.Hour))
	must(t, err)
	if back.Version != 4 {
		t.Errorf("re-offered tariff version %d, want 4", back.Version)
	}
}

func scopedByOperator(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	Seed(t, s)
	if _, err := s.Tariff(ctx, "a", "eco"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Site(ctx, "a", "site-b"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("a reads b's site: %v", err)
	}
	sites, err := s.Sites(ctx, "a")
	must(t, err)
	points, err := s.Points(ctx, "a")
	must(t, err)
	if len(sites) != 1 || sites[0].ID != "site-a" || len(points) != 1 || points[0].Site != "site-a" {
		t.Errorf("a sees sites %+v points %+v", sites, points)
	}
	if err := s.RetireTariff(ctx, "c", "eco", T0); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("retire another operator's tariff: %v", err)
	}
	b, err := s.Tariff(ctx, "b", "eco")
	must(t, err)
	if b.Operator != "b" || b.Version != 1 {
		t.Errorf("b's tariff %+v", b)
	}
}

func tokens(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	Seed(t, s)
	secret, hash, err := catalog.NewSecret("pgo_")
	must(t, err)
	must(t, s.AddToken(ctx, catalog.Token{ID: "t1", Operator: "a", Name: "ci", Hash: hash, CreatedAt: T0}))
	got, err := s.TokenByHash(ctx, catalog.HashSecret(secret))
	must(t, err)
	if got.Operator != "a" || got.Name != "ci" || !catalog.SecretMatches(secret, got.Hash) {
		t.Errorf("token %+v", got)
	}
	if _, err := s.TokenByHash(ctx, catalog.HashSecret(secret+"x")); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("wrong secret: %v", err)
	}
	// The config's list is the valid tokens: others are deleted.
	_, hash3, _ := catalog.NewSecret("pgo_")
	must(t, s.AddToken(ctx, catalog.Token{ID: "t-old", Operator: "a", Name: "old", Hash: hash3, CreatedAt: T0}))
	n, err := s.KeepTokens(ctx, []string{"t1"})
	must(t, err)
	if _, err := s.TokenByHash(ctx, hash3); n != 1 || !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("kept tokens: deleted %d, old token %v", n, err)
	}
	if _, err := s.TokenByHash(ctx, hash); err != nil {
		t.Errorf("listed token deleted: %v", err)
	}
	// A token id of a cannot be moved to b.
	_, hash2, _ := catalog.NewSecret("pgo_")
	must(t, s.AddToken(ctx, catalog.Token{ID: "t1", Operator: "b", Name: "x", Hash: hash2, CreatedAt: T0}))
	if _, err := s.TokenByHash(ctx, hash2); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("token moved to another operator: %v", err)
	}
}

func starts(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	Seed(t, s)
	_, hash, _ := catalog.NewSecret("pgd_")
	st := catalog.Start{ClientID: "c1", Session: "s1", Operator: "a", Site: "site-a", Point: "p1", Email: "d@example.com",
		Method: "payment", TokenHash: hash, CreatedAt: T0}
	got, created, err := s.PutStart(ctx, st)
	must(t, err)
	if !created || got.Session != "s1" {
		t.Fatalf("first start %+v created %v", got, created)
	}
	again := st
	again.Session, again.TokenHash = "s2", catalog.HashSecret("other")
	got, created, err = s.PutStart(ctx, again)
	must(t, err)
	if created || got.Session != "s1" || got.TokenHash != hash {
		t.Errorf("retry made %+v created %v, want the first start", got, created)
	}
	must(t, s.SetStartHold(ctx, "s1", "hold-1"))
	byHold, err := s.StartByHold(ctx, "hold-1")
	must(t, err)
	if diff := cmp.Diff(catalog.Start{ClientID: "c1", Session: "s1", Operator: "a", Site: "site-a", Point: "p1", Email: "d@example.com",
		Method: "payment", TokenHash: hash, HoldID: "hold-1", CreatedAt: T0}, byHold); diff != "" {
		t.Errorf("start by hold (-want +got):\n%s", diff)
	}
	if _, err := s.OperatorStart(ctx, "b", "s1"); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("b reads a's start: %v", err)
	}
	if got, err := s.OperatorStart(ctx, "a", "s1"); err != nil || got.ClientID != "c1" {
		t.Errorf("a's start %+v, %v", got, err)
	}
	list, err := s.Starts(ctx, "a", 0)
	must(t, err)
	other, err := s.Starts(ctx, "b", 0)
	must(t, err)
	if len(list) != 1 || len(other) != 0 {
		t.Errorf("starts of a %d, of b %d; want 1, 0", len(list), len(other))
	}
}

func webhookEvents(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	seen, err := s.Seen(ctx, "stripe", "evt_1")
	must(t, err)
	if seen {
		t.Fatal("unseen event seen")
	}
	first, err := s.Record(ctx, "stripe", "evt_1", T0)
	must(t, err)
	again, err := s.Record(ctx, "stripe", "evt_1", T0)
	must(t, err)
	other, err := s.Record(ctx, "paypal", "evt_1", T0)
	must(t, err)
	seen, _ = s.Seen(ctx, "stripe", "evt_1")
	if !first || again || !other || !seen {
		t.Errorf("record first %v again %v other provider %v seen %v", first, again, other, seen)
	}
}

func invalid(t *testing.T, s catalog.Store) {
	ctx := t.Context()
	bad := Operator("a")
	bad.HoldMinor = 0
	if err := s.PutOperator(ctx, bad); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("operator without hold: %v", err)
	}
	must(t, s.PutOperator(ctx, Operator("a")))
	tf := Tariff("a", "eco", tariff.ClassEco, 0)
	if _, err := s.PutTariff(ctx, tf, T0); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("tariff at 0 per kWh: %v", err)
	}
	tf = Tariff("a", "bad id/", tariff.ClassEco, 10)
	if _, err := s.PutTariff(ctx, tf, T0); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("tariff id with '/': %v", err)
	}
	if err := s.AddToken(ctx, catalog.Token{ID: "t", Operator: "a", Hash: "short"}); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("token without hash: %v", err)
	}
}
