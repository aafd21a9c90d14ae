package dashtest

import (
	"context"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/dashboard"
	"github.com/parkgrid/parkgrid/dashboard/auth"
	"github.com/parkgrid/parkgrid/dashboard/store/memory"
)

// Logins of the fixture (operator op1; op2 is another tenant).
const (
	AdminEmail    = "admin@example.com"
	OperatorEmail = "ops@example.com"
	ViewerEmail   = "viewer@example.com"
	OtherEmail    = "admin@other.example.com" // operator op2
	Password      = "parkgrid-demo-pass"
	ValidCode     = "VISIT-2026"
	ExpiredCode   = "OLD-2025"
)

// Fixture is a seeded set of fakes: one operator with a site of three
// charge points (p1 free, p2 offline, p3 faulted), eco and premium
// tariffs, a latched fire alarm, a live session and a report; a second
// operator with its own site and alarm.
type Fixture struct {
	Driver *Driver
	Ops    *Ops
	Store  *memory.Store
}

// EcoTariff and PremiumTariff are the fixture's tariffs.
var (
	EcoTariff = tariff.Tariff{ID: "eco", Class: tariff.ClassEco, Currency: "EUR", EnergyPerKWhMinor: 39,
		TimeFeePerMinuteMinor: 10, FreeTime: 240 * time.Minute, VATRateBP: 1900}
	PremiumTariff = tariff.Tariff{ID: "premium", Class: tariff.ClassPremium, Currency: "EUR", EnergyPerKWhMinor: 59,
		StartFeeMinor: 100, VATRateBP: 1900, CapMinor: 5000}
)

// NewFixture seeds the fakes; payURL is where Driver.PayHandler is served.
func NewFixture(payURL string, now func() time.Time) (*Fixture, error) {
	ctx := context.Background()
	f := &Fixture{Driver: NewDriver(payURL, now), Ops: NewOps(), Store: memory.New()}
	hash, err := auth.HashPasswordCost(Password, bcrypt.MinCost) // a test fixture: fast, not strong
	if err != nil {
		return nil, err
	}
	for _, u := range []auth.User{
		{ID: "u-admin", Operator: "op1", Email: AdminEmail, Name: "Ada Admin", Role: auth.RoleAdmin},
		{ID: "u-ops", Operator: "op1", Email: OperatorEmail, Name: "Otto Operator", Role: auth.RoleOperator},
		{ID: "u-view", Operator: "op1", Email: ViewerEmail, Name: "Vera Viewer", Role: auth.RoleViewer},
		{ID: "u-other", Operator: "op2", Email: OtherEmail, Name: "Other Admin", Role: auth.RoleAdmin},
	} {
		u.PasswordHash, u.CreatedAt = hash, now()
		if err := f.Store.CreateUser(ctx, u); err != nil {
			return nil, err
		}
	}
	base := dashboard.PointInfo{Operator: "op1", SiteName: "Parkhaus am Markt", Address: "Marktplatz 1, 79098 Freiburg",
		MaxPowerW: 11000, Connector: "Type 2", State: dashboard.PointAvailable, HoldMinor: 5000, Currency: "EUR"}
	for _, p := range []struct {
		id, label string
		st        dashboard.PointState
	}{{"p1", "P-01", dashboard.PointAvailable}, {"p2", "P-02", dashboard.PointOffline}, {"p3", "P-03", dashboard.PointFaulted}} {
		pi := base
		pi.ID, pi.Label, pi.State = p.id, p.label, p.st
		f.Driver.AddPoint(pi, EcoTariff, PremiumTariff)
	}
	other := base
	other.ID, other.Label, other.Operator, other.SiteName = "q1", "Q-01", "op2", "Other car park"
	f.Driver.AddPoint(other, EcoTariff)
	f.Driver.AddCode(ValidCode, false)
	f.Driver.AddCode(ExpiredCode, true)

	t0 := now()
	f.Ops.Seed("op1",
		[]dashboard.Site{{ID: "s1", Name: "Parkhaus am Markt", Points: []dashboard.Point{
			{ID: "p1", Label: "P-01", State: dashboard.PointAvailable},
			{ID: "p2", Label: "P-02", State: dashboard.PointOffline},
			{ID: "p3", Label: "P-03", State: dashboard.PointFaulted, Faults: []string{"RCD tripped"}},
			{ID: "p4", Label: "P-04", State: dashboard.PointCharging, PowerW: 7400, Session: "s-live"},
		}}},
		[]dashboard.Alarm{{ID: "a1", Site: "Parkhaus am Markt", Kind: "fire", Circuit: "main", Since: t0.Add(-10 * time.Minute), Latched: true}},
		[]dashboard.LiveSession{{ID: "s-live", Site: "Parkhaus am Markt", Point: "P-04", Class: tariff.ClassPremium, State: session.StateCharging,
			PowerW: 7400, EnergyWh: 12345, Started: t0.Add(-95 * time.Minute), CostMinor: 828, Currency: "EUR"}},
		[]dashboard.SiteLoad{{Site: "Parkhaus am Markt", BudgetMA: 63000, Binding: "grid meter headroom", PhaseMA: [3]int64{41000, 38000, 44500},
			Limits: []dashboard.Limit{{Name: "fuse", CurrentMA: 80000}, {Name: "grid meter headroom", CurrentMA: 63000},
				{Name: "EMS", CurrentMA: 70000, Expires: t0.Add(time.Hour)}}}},
		[]dashboard.SiteTariff{{Site: "s1", Tariff: EcoTariff}, {Site: "s1", Tariff: PremiumTariff}},
		[]dashboard.AccessCode{{ID: "op1-c1", Code: ValidCode, Kind: "visitor", Label: "Visitors", Group: "visitors", UsesLeft: 10}},
		[]dashboard.Report{{Filename: "kwh-per-site-2026-11.csv", ContentType: "text/csv", Data: []byte("site,kwh\ns1,1234.5\n")}},
	)
	var days []dashboard.DayEnergy
	midnight := time.Date(t0.Year(), t0.Month(), t0.Day(), 0, 0, 0, 0, t0.Location())
	for i := range 7 {
		days = append(days, dashboard.DayEnergy{Day: midnight.AddDate(0, 0, i-7), Site: "Parkhaus am Markt", EnergyWh: int64(180_000 + 37_000*(i%3) + 11_000*i)})
	}
	f.Ops.SeedEnergy("op1", days)
	f.Ops.Seed("op2",
		[]dashboard.Site{{ID: "s9", Name: "Other car park", Points: []dashboard.Point{{ID: "q1", Label: "Q-01", State: dashboard.PointAvailable}}}},
		[]dashboard.Alarm{{ID: "b1", Site: "Other car park", Kind: "spd", Circuit: "c1", Since: t0, Latched: true}},
		nil, nil, []dashboard.SiteTariff{{Site: "s9", Tariff: EcoTariff}}, nil, nil)
	return f, nil
}

// Deps returns the dashboard's dependencies on the fixture.
func (f *Fixture) Deps() dashboard.Deps {
	return dashboard.Deps{Users: f.Store, Sessions: f.Store, Audit: f.Store, Brand: f.Store, Driver: f.Driver,
		Sites: f.Ops, Alarms: f.Ops, Live: f.Ops, Load: f.Ops, Tariffs: f.Ops, Codes: f.Ops, Reports: f.Ops, Chart: f.Ops}
}
