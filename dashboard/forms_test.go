package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func formContext(v url.Values) *gin.Context {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.Request = r
	return c
}

// FuzzParseTariff: the tariff form is outside input; whatever it holds,
// parseTariff either refuses it or returns a tariff that validates.
func FuzzParseTariff(f *testing.F) {
	f.Add("0.39", "1,00", "0.10", "240", "50", "19", "EUR", "eco")
	f.Add("-1", "", "", "x", "", "abc", "XXX", "turbo")
	f.Add("99999999999999", "0.001", "1e3", "-5", "0", "7.7", "eur", "premium")
	f.Fuzz(func(t *testing.T, energy, start, perMin, freeMin, capV, vat, cur, class string) {
		c := formContext(url.Values{"site": {"s1"}, "id": {"t"}, "energy": {energy}, "start": {start}, "perMinute": {perMin},
			"freeMin": {freeMin}, "cap": {capV}, "vat": {vat}, "currency": {cur}, "class": {class}})
		st, err := parseTariff(c)
		if err != nil {
			return
		}
		if err := st.Tariff.Validate(); err != nil {
			t.Fatalf("parseTariff accepted an invalid tariff: %v", err)
		}
		if st.Tariff.EnergyPerKWhMinor <= 0 || st.Tariff.StartFeeMinor < 0 || st.Tariff.CapMinor < 0 {
			t.Fatalf("accepted %+v", st.Tariff)
		}
	})
}

// FuzzParseStart: the driver's start form never yields a request without
// a valid e-mail, class and method.
func FuzzParseStart(f *testing.F) {
	f.Add("d@example.com", "eco", "card", "")
	f.Add("Eve <e@x.de>", "premium", "code", "ABC")
	f.Add(" A@B.DE ", "eco", "code", strings.Repeat("x", 70))
	f.Fuzz(func(t *testing.T, email, class, method, code string) {
		c := formContext(url.Values{"email": {email}, "class": {class}, "method": {method}, "code": {code}})
		r, ok := parseStart(c, "p1")
		if !ok {
			return
		}
		if r.Email == "" || strings.ContainsAny(r.Email, "<> ") || (r.Class != "eco" && r.Class != "premium") ||
			(r.Method == PayCode) != (r.AccessCode != "") || len(r.AccessCode) > 64 {
			t.Fatalf("accepted %+v", r)
		}
	})
}

func TestGroupCodes(t *testing.T) {
	cs := []AccessCode{{ID: "a"}, {ID: "b", Group: "visitors"}, {ID: "c", Group: "fleet"}, {ID: "d", Group: "visitors"}, {ID: "e"}}
	var got []string
	for _, g := range groupCodes(cs) {
		ids := ""
		for _, c := range g.Codes {
			ids += c.ID
		}
		got = append(got, g.Name+":"+ids)
	}
	if want := []string{"fleet:c", "visitors:bd", ":ae"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("groups %v, want %v", got, want)
	}
	if g := groupCodes(nil); len(g) != 0 {
		t.Errorf("no codes: %v", g)
	}
}
