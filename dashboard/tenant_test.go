package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/dashboard/dashtest"
)

// TestTenantMatrix: op2's admin aims every endpoint at op1's ids; not one
// succeeds and op1's data is unchanged.
func TestTenantMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	beforeT, _ := e.fx.Ops.Tariffs(ctx, "op1")
	beforeC, _ := e.fx.Ops.Codes(ctx, "op1")
	beforeA, _ := e.fx.Ops.Alarms(ctx, "op1")
	b := e.browser(t)
	b.login(dashtest.OtherEmail)
	_, _, page := b.get("/ops/")
	tok := csrf(t, page)
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{
		{http.MethodPost, "/ops/alarms/a1/reset", url.Values{}},
		{http.MethodPost, "/ops/codes/op1-c1/revoke", url.Values{}},
		{http.MethodPost, "/ops/codes/op1-c1/group", url.Values{"group": {"fleet"}}},
		{http.MethodPost, "/ops/tariffs", url.Values{"site": {"s1"}, "id": {"eco"}, "class": {"eco"}, "currency": {"EUR"}, "energy": {"0.01"}, "vat": {"19"}}},
		{http.MethodGet, "/ops/reports/0", nil},
	} {
		var code int
		if c.method == http.MethodGet {
			code, _, _ = b.get(c.path)
		} else {
			c.form.Set("csrf", tok)
			code, _, _ = b.post(c.path, c.form)
		}
		if code < 400 {
			t.Errorf("%s %s with op1's id as op2: %d", c.method, c.path, code)
		}
	}
	afterT, _ := e.fx.Ops.Tariffs(ctx, "op1")
	afterC, _ := e.fx.Ops.Codes(ctx, "op1")
	afterA, _ := e.fx.Ops.Alarms(ctx, "op1")
	if d := cmp.Diff(beforeT, afterT) + cmp.Diff(beforeC, afterC) + cmp.Diff(beforeA, afterA); d != "" {
		t.Errorf("op1's data changed by op2:\n%s", d)
	}
}
