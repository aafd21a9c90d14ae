package report

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/parkgrid/parkgrid/central/ocmf"
)

// Plug is a plug type as the BNetzA register names it.
type Plug string

// Plug types of the register's template.
const (
	PlugType2Socket Plug = "AC Steckdose Typ 2"
	PlugType2Cable  Plug = "AC Kupplung Typ 2"
	PlugSchuko      Plug = "AC Schuko"
	PlugCCS         Plug = "DC Kupplung Combo"
	PlugCHAdeMO     Plug = "DC CHAdeMO"
)

// FastChargingAboveW is the LSV's line between a normal and a fast
// charging point: more than 22 kW.
const FastChargingAboveW = 22_000

// MaxPointsPerStation is the number of points one row of the register
// template holds; a larger station is reported as several rows.
const MaxPointsPerStation = 4

// Station is one charging station (Ladeeinrichtung) as the register wants
// it. The catalogue of sites and charge points provides it (Catalogue).
type Station struct {
	Operator     string
	Street       string
	HouseNumber  string
	AddressExtra string // Adresszusatz, e.g. "Parkhaus, Ebene -1"
	PostalCode   string
	City         string
	State        string // Bundesland
	District     string // Kreis/kreisfreie Stadt
	// Coordinates in millionths of a degree (WGS 84): 52520008 = 52.520008°.
	LatMicroDeg, LonMicroDeg int64
	CommissionedOn           time.Time // the date counts; the time of day is ignored
	// RatedPowerW is the station's rated power; 0: the sum of its points.
	RatedPowerW int64
	Points      []RegisterPoint
}

// RegisterPoint is one charging point of a station.
type RegisterPoint struct {
	EVSEID string
	Plugs  []Plug
	PowerW int64
	// MeterPublicKey is the public key of the point's Eichrecht meter as
	// published (hex SubjectPublicKeyInfo or raw point).
	MeterPublicKey string
}

// Catalogue lists an operator's public charging stations for the register.
type Catalogue interface {
	Stations(ctx context.Context, operator string) ([]Station, error)
}

// registerHeader is the column row of the Ladesäulenregister template.
var registerHeader = func() []string {
	h := []string{"Betreiber", "Straße", "Hausnummer", "Adresszusatz", "Postleitzahl", "Ort", "Bundesland",
		"Kreis/kreisfreie Stadt", "Breitengrad", "Längengrad", "Inbetriebnahmedatum",
		"Nennleistung Ladeeinrichtung [kW]", "Art der Ladeeinrichung", "Anzahl Ladepunkte"}
	for i := 1; i <= MaxPointsPerStation; i++ {
		n := strconv.Itoa(i)
		h = append(h, "Steckertypen"+n, "P"+n+" [kW]", "Public Key"+n)
	}
	return h
}()

// Validate checks what the register requires of s.
func (s Station) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Operator == "" {
		bad("no operator")
	}
	if s.Street == "" || s.PostalCode == "" || s.City == "" {
		bad("street, postal code and city required")
	}
	if s.LatMicroDeg < -90_000_000 || s.LatMicroDeg > 90_000_000 || s.LonMicroDeg < -180_000_000 || s.LonMicroDeg > 180_000_000 {
		bad("coordinates %d, %d µ° out of range", s.LatMicroDeg, s.LonMicroDeg)
	}
	if s.LatMicroDeg == 0 && s.LonMicroDeg == 0 {
		bad("no coordinates")
	}
	if s.CommissionedOn.IsZero() {
		bad("no commissioning date")
	}
	if n := len(s.Points); n == 0 || n > MaxPointsPerStation {
		bad("%d charging points, the register takes 1 to %d per station", n, MaxPointsPerStation)
	}
	for i, p := range s.Points {
		switch {
		case p.PowerW <= 0:
			bad("point %d (%s): no power", i+1, p.EVSEID)
		case len(p.Plugs) == 0:
			bad("point %d (%s): no plug type", i+1, p.EVSEID)
		}
		if p.MeterPublicKey == "" {
			bad("point %d (%s): no meter public key", i+1, p.EVSEID)
		} else if _, err := ocmf.ParsePublicKey(p.MeterPublicKey, ""); err != nil {
			bad("point %d (%s): meter public key: %v", i+1, p.EVSEID, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register: %w: station %s, %s %s: %w", ErrInvalid, s.Operator, s.Street, s.HouseNumber, err)
	}
	return nil
}

// ratedW is the station's rated power.
func (s Station) ratedW() int64 {
	if s.RatedPowerW > 0 {
		return s.RatedPowerW
	}
	var sum int64
	for _, p := range s.Points {
		sum += p.PowerW
	}
	return sum
}

// kind is "Schnellladeeinrichtung" when a point charges faster than 22 kW.
func (s Station) kind() string {
	for _, p := range s.Points {
		if p.PowerW > FastChargingAboveW {
			return "Schnellladeeinrichtung"
		}
	}
	return "Normalladeeinrichtung"
}

// germanDecimal writes n / 10^digits with a decimal comma, trailing zeros
// cut: (22000, 3) → "22", (52520008, 6) → "52,520008".
func germanDecimal(n int64, digits int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	pow := int64(1)
	for range digits {
		pow *= 10
	}
	frac := strings.TrimRight(fmt.Sprintf("%0*d", digits, n%pow), "0")
	if frac == "" {
		return fmt.Sprintf("%s%d", sign, n/pow)
	}
	return fmt.Sprintf("%s%d,%s", sign, n/pow, frac)
}

// publicKeyText writes a meter key as the register shows it: hex, upper
// case, no spaces.
func publicKeyText(k string) string {
	return strings.ToUpper(strings.Join(strings.Fields(k), ""))
}

func (s Station) record() []string {
	r := []string{s.Operator, s.Street, s.HouseNumber, s.AddressExtra, s.PostalCode, s.City, s.State, s.District,
		germanDecimal(s.LatMicroDeg, 6), germanDecimal(s.LonMicroDeg, 6), s.CommissionedOn.Format("02.01.2006"),
		germanDecimal(s.ratedW(), 3), s.kind(), strconv.Itoa(len(s.Points))}
	for i := range MaxPointsPerStation {
		if i >= len(s.Points) {
			r = append(r, "", "", "")
			continue
		}
		p := s.Points[i]
		plugs := make([]string, len(p.Plugs))
		for j, pl := range p.Plugs {
			plugs[j] = string(pl)
		}
		r = append(r, strings.Join(plugs, ", "), germanDecimal(p.PowerW, 3), publicKeyText(p.MeterPublicKey))
	}
	return r
}

func registerRecords(stations []Station) ([][]string, error) {
	out := [][]string{registerHeader}
	var errs []error
	for _, s := range stations {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s.record())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// WriteRegisterCSV writes the stations in the register template's columns:
// semicolon separated, decimal commas, dates as DD.MM.YYYY, UTF-8. Every
// station is validated first; an invalid one fails the whole file with
// every reason, so nothing incomplete is reported to the agency.
func WriteRegisterCSV(w io.Writer, stations []Station) error {
	recs, err := registerRecords(stations)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.Comma = ';'
	if err := cw.WriteAll(recs); err != nil {
		return fmt.Errorf("register csv: %w", err)
	}
	return nil
}

// WriteRegisterXLSX writes the same table as an XLSX workbook with one
// sheet "Ladepunkte", every cell text as in the CSV.
func WriteRegisterXLSX(w io.Writer, stations []Station) error {
	recs, err := registerRecords(stations)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Ladepunkte"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("register xlsx: %w", err)
	}
	for i, rec := range recs {
		vals := make([]any, len(rec))
		for j, v := range rec {
			vals[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &vals); err != nil {
			return fmt.Errorf("register xlsx: %w", err)
		}
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("register xlsx: %w", err)
	}
	return nil
}
