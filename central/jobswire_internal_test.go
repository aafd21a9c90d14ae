package central

import (
	"slices"
	"testing"

	"github.com/parkgrid/parkgrid/central/accesscode"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/jobs"
	"github.com/parkgrid/parkgrid/central/report"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/sqldb"
)

// TestBuildJobs: which jobs run follows the config (mail section, reports
// directory), and the config's schedules replace the standard ones.
func TestBuildJobs(t *testing.T) {
	svc, err := session.New(session.Config{Store: sessiontest.NewMemory(), Payments: accesscode.Payments{}, Snapshots: &sessiontest.Snapshots{},
		Issuers: sessiontest.Issuers{}})
	if err != nil {
		t.Fatal(err)
	}
	b := &billing{sessions: svc, sessionStore: sessiontest.NewMemory(), usage: report.SessionSource{}}
	for _, tc := range []struct {
		name string
		cfg  centralconfig.Config
		mail bool
		want map[string]string
	}{
		{"bare", centralconfig.Config{}, false, map[string]string{"reconcile": jobs.SpecReconcile, "hold-expiry": jobs.SpecHoldExpiry}},
		{"all, one schedule changed", centralconfig.Config{
			Mail: &centralconfig.Mail{Keep: centralconfig.DefaultMailKeep},
			Jobs: centralconfig.Jobs{ReportsDir: t.TempDir(), TimeZone: "Europe/Berlin", Schedules: map[string]string{"nightly-report": "15 3 * * *"}},
		}, true, map[string]string{"reconcile": jobs.SpecReconcile, "hold-expiry": jobs.SpecHoldExpiry, "mail-retry": jobs.SpecMailRetry,
			"retention": jobs.SpecRetention, "nightly-report": "15 3 * * *"}},
	} {
		var m *receiptMailer
		if tc.mail {
			m = &receiptMailer{}
		}
		js, err := buildJobs(&tc.cfg, b, m, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := map[string]string{}
		for _, j := range js {
			got[j.Name] = j.Spec
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: jobs %v, want %v", tc.name, got, tc.want)
		}
		for name, spec := range tc.want {
			if got[name] != spec {
				t.Errorf("%s: %s runs %q, want %q", tc.name, name, got[name], spec)
			}
		}
		if _, err := jobs.NewRunner(jobs.NewLocalLocker(), nil, js...); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	for _, name := range centralconfig.JobNames {
		if !slices.Contains([]string{"mail-retry", "reconcile", "hold-expiry", "nightly-report", "retention"}, name) {
			t.Errorf("config names job %q that jobs.Standard does not make", name)
		}
	}
	if l, err := jobLocker(t.Context(), &billing{dialect: sqldb.SQLite}, "r1", tb0); err != nil || l == nil {
		t.Errorf("sqlite locker: %v, %v", l, err)
	}
}
