package demo

import (
	"fmt"
	"io"
	"strings"

	"github.com/parkgrid/parkgrid/central/api"
	"github.com/parkgrid/parkgrid/central/catalog"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/edge/config"
)

// The demo's billing: one operator owning the simulated site, its charge
// points (with their Eichrecht meters) offering an eco and a premium
// tariff, the fake payment provider (holds are approved at once), and an
// operator API token made anew on every run and printed once.

const demoOperatorID = "demo-op"

// demoBilling adds the demo operator, the fake provider and a fresh
// operator token to ccfg (unless its config names operators itself) and
// returns the token.
func demoBilling(site *config.Site, ccfg *centralconfig.Config) (string, error) {
	if ccfg.Payment.Provider == "" {
		ccfg.Payment.Provider = centralconfig.ProviderFake
	}
	if len(ccfg.Operators) == 0 {
		op := centralconfig.Operator{
			ID: demoOperatorID, Name: "Parkhaus Demo GmbH", Address: "Hauptstraße 1, 10115 Berlin", VATID: "DE000000000",
			Currency: "EUR", Hold: "50.00", InvoicePrefix: "DEMO-", TimeZone: "Europe/Berlin",
			Tariffs: []centralconfig.Tariff{
				{ID: "eco", Class: "eco", PerKWh: "0.39", StartFee: "0.50", PerMinute: "0.05", FreeMinutes: 240, VAT: "19"},
				{ID: "premium", Class: "premium", PerKWh: "0.59", StartFee: "0.50", VAT: "19"},
			},
			Sites: []centralconfig.Site{{ID: site.ID, Name: "Demo car park", Address: "Parkweg 2, 10115 Berlin", Lat: "52.520008", Lon: "13.404954",
				Register: &centralconfig.SiteRegister{Street: "Parkweg", HouseNumber: "2", PostalCode: "10115", City: "Berlin",
					State: "Berlin", District: "Berlin", Commissioned: "2026-11-01"}}},
		}
		first := true
		for i, p := range site.ChargePoints {
			if p.Meter == "" {
				continue // no Eichrecht meter: nothing to bill from
			}
			if first {
				// The first point charges only for a session central
				// authorised (the API's driver example uses it); the
				// others keep the site file's access.
				site.ChargePoints[i].Access, first = config.AccessCentral, false
			}
			op.Sites[0].Points = append(op.Sites[0].Points, centralconfig.Point{ID: p.ID, Meter: p.Meter,
				EVSEID: fmt.Sprintf("DE*PGD*E%04d", i+1), MaxPowerW: min(int64(p.MaxA)*230*3, 22_000), // AC: 22 kW nominal
				Tariffs: []string{"eco", "premium"}, Plugs: []string{"AC Steckdose Typ 2"}})
		}
		if _, err := op.Catalog(); err != nil {
			return "", fmt.Errorf("demo operator: %w", err)
		}
		ccfg.Operators = append(ccfg.Operators, op)
	}
	secret, hash, err := catalog.NewSecret(api.OperatorTokenPrefix)
	if err != nil {
		return "", err
	}
	ccfg.API.Tokens = append(ccfg.API.Tokens, centralconfig.APIToken{ID: "demo", Operator: ccfg.Operators[0].ID, Name: "demo", Hash: hash})
	return secret, nil
}

// printDriverExample prints a ready-to-paste driver session and the
// operator's view of it.
func printDriverExample(w io.Writer, httpAddr, opToken string, ccfg *centralconfig.Config) {
	if len(ccfg.Operators) == 0 || len(ccfg.Operators[0].Sites) == 0 || len(ccfg.Operators[0].Sites[0].Points) == 0 {
		return
	}
	s := ccfg.Operators[0].Sites[0]
	p := s.Points[0]
	base := "http://" + httpAddr + "/api/v1"
	var b strings.Builder
	fmt.Fprintf(&b, "Try a charging session through central's REST API (fake payment; docs/api.md):\n")
	fmt.Fprintf(&b, "  curl -s %s/points/%s/%s/tariffs\n", base, s.ID, p.ID)
	fmt.Fprintf(&b, "  R=$(curl -s -X POST %s/sessions -H 'Content-Type: application/json' \\\n"+
		"      -d '{\"clientId\":\"'$(date +%%s%%N)'-try\",\"site\":\"%s\",\"point\":\"%s\",\"tariff\":\"eco\",\"email\":\"driver@example.com\",\"payment\":\"%s\"}')\n",
		base, s.ID, p.ID, ccfg.Payment.Provider)
	fmt.Fprintf(&b, "  ID=$(echo \"$R\" | jq -r .session.id); TOKEN=$(echo \"$R\" | jq -r .token)   # or copy them from $R\n")
	fmt.Fprintf(&b, "  curl -s -H \"Authorization: Bearer $TOKEN\" %s/sessions/$ID                 # state, energy, cost\n", base)
	fmt.Fprintf(&b, "  curl -s -X POST -H \"Authorization: Bearer $TOKEN\" %s/sessions/$ID/stop\n", base)
	fmt.Fprintf(&b, "  curl -s -o receipt.pdf -H \"Authorization: Bearer $TOKEN\" %s/sessions/$ID/receipt.pdf   # once invoiced\n", base)
	fmt.Fprintf(&b, "Operator token of %s (new on every run):\n  %s\n", ccfg.Operators[0].ID, opToken)
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' %s/operator/sessions\n", opToken, base)
	fmt.Fprintf(&b, "  curl -s -H 'Authorization: Bearer %s' '%s/operator/reports/register?format=csv'   # BNetzA register\n", opToken, base)
	io.WriteString(w, b.String()) //nolint:errcheck // best effort, like the other banners
}
