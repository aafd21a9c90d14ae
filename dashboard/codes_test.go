package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/dashboard/dashtest"
)

// TestCodeGroups: the codes page lists codes by user group (named groups
// by name, codes in no group last); an operator sets a group at creation
// and changes it with the CSRF token; a bad group, a missing token, a
// viewer and another operator change nothing.
func TestCodeGroups(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := e.browser(t)
	b.login(dashtest.OperatorEmail)
	_, _, page := b.get("/ops/codes")
	tok := csrf(t, page)
	for _, f := range []url.Values{
		{"kind": {"visitor"}, "label": {"Van 7"}, "group": {" fleet "}, "uses": {"-1"}, "validUntil": {"2027-01-31"}},
		{"kind": {"visitor"}, "label": {"Guest"}, "uses": {"3"}},
	} {
		f.Set("csrf", tok)
		if code, _, body := b.post("/ops/codes", f); code != http.StatusSeeOther {
			t.Fatalf("create %v: %d\n%.300s", f, code, body)
		}
	}
	if code, _, _ := b.post("/ops/codes", url.Values{"csrf": {tok}, "kind": {"visitor"}, "uses": {"3"}, "group": {"public"}}); code != http.StatusBadRequest {
		t.Errorf("create in group public: %d, want 400", code)
	}
	cs, _ := e.fx.Ops.Codes(ctx, "op1")
	if len(cs) != 3 || cs[1].Group != "fleet" || cs[2].Group != "" {
		t.Fatalf("codes %+v", cs)
	}
	_, _, page = b.get("/ops/codes")
	iFleet, iVisitors, iNone := strings.Index(page, "<h2>fleet"), strings.Index(page, "<h2>visitors"), strings.Index(page, "<h2>No group")
	if iFleet < 0 || iVisitors < iFleet || iNone < iVisitors || !strings.Contains(page, `<option value="employees">`) {
		t.Errorf("groups at %d, %d, %d in:\n%s", iFleet, iVisitors, iNone, page)
	}
	if code, _, _ := b.post("/ops/codes/op1-c1/group", url.Values{"group": {"employees"}}); code != http.StatusForbidden {
		t.Errorf("regroup without CSRF token: %d, want 403", code)
	}
	for _, g := range []string{"Public", strings.Repeat("x", 41), "a\x00b"} {
		if code, _, _ := b.post("/ops/codes/op1-c1/group", url.Values{"csrf": {tok}, "group": {g}}); code != http.StatusBadRequest {
			t.Errorf("regroup to %q: %d, want 400", g, code)
		}
	}
	if code, _, _ := b.post("/ops/codes/nope/group", url.Values{"csrf": {tok}, "group": {"fleet"}}); code != http.StatusNotFound {
		t.Errorf("regroup unknown code: %d, want 404", code)
	}
	viewer := e.browser(t)
	vpage := viewer.login(dashtest.ViewerEmail)
	if code, _, _ := viewer.post("/ops/codes/op1-c1/group", url.Values{"csrf": {csrf(t, vpage)}, "group": {"fleet"}}); code != http.StatusForbidden {
		t.Errorf("viewer regroups: %d, want 403", code)
	}
	if cs, _ := e.fx.Ops.Codes(ctx, "op1"); cs[0].Group != "visitors" {
		t.Fatalf("refused changes moved the code to %q", cs[0].Group)
	}
	if code, h, _ := b.post("/ops/codes/op1-c1/group", url.Values{"csrf": {tok}, "group": {"employees"}}); code != http.StatusSeeOther || h.Get("Location") == "" {
		t.Fatalf("regroup: %d", code)
	}
	if cs, _ := e.fx.Ops.Codes(ctx, "op1"); cs[0].Group != "employees" {
		t.Errorf("regrouped code in %q", cs[0].Group)
	}
	es, _ := e.fx.Store.Entries(ctx, "op1", 10)
	if len(es) == 0 || es[0].Action != "code.group" || es[0].Target != "op1-c1" || !strings.Contains(es[0].Detail, `"employees"`) {
		t.Errorf("audit %+v", es)
	}
	if code, _, _ := b.post("/ops/codes/op1-c1/group", url.Values{"csrf": {tok}, "group": {""}}); code != http.StatusSeeOther {
		t.Errorf("clear group: %d", code)
	}
	if cs, _ := e.fx.Ops.Codes(ctx, "op1"); cs[0].Group != "" {
		t.Errorf("cleared code in %q", cs[0].Group)
	}
}
