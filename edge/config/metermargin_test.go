package config

import (
	"strings"
	"testing"
)

// TestMeterMargin: grid.meter_margin_a defaults to 1 A, reaches the
// allocator's site as Site.MeterMarginMA, and is checked for range.
func TestMeterMargin(t *testing.T) {
	withMargin := func(line string) string {
		return strings.Replace(fallbackSite(2, 0, 40), "  safe_budget_a: 40\n", "  safe_budget_a: 40\n"+line, 1)
	}
	tests := []struct {
		name   string
		yaml   string
		wantMA int64
		err    string
	}{
		{"default", fallbackSite(2, 0, 40), 1000, ""},
		{"zero", withMargin("  meter_margin_a: 0\n"), 0, ""},
		{"three", withMargin("  meter_margin_a: 3\n"), 3000, ""},
		{"max", withMargin("  meter_margin_a: 50\n"), 50000, ""},
		{"negative", withMargin("  meter_margin_a: -1\n"), 0, `fb.yaml:15: grid.meter_margin_a: grid "grid": meter_margin_a -1 A, want 0..50 A`},
		{"too large", withMargin("  meter_margin_a: 51\n"), 0, `meter_margin_a 51 A, want 0..50 A`},
		{"text", withMargin("  meter_margin_a: lots\n"), 0, `meter_margin_a`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LoadBytes("fb.yaml", []byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.LoadSite().MeterMarginMA; got != tt.wantMA {
				t.Errorf("MeterMarginMA = %d, want %d", got, tt.wantMA)
			}
		})
	}
}

// TestMeterMarginWithoutGridMeter: a margin without a grid meter is legal,
// unused and worth a warning.
func TestMeterMarginWithoutGridMeter(t *testing.T) {
	y := strings.Replace(fallbackSite(2, 0, 40), "  meter: grid\n  safe_budget_a: 40\n", "  meter_margin_a: 2\n", 1)
	s, err := LoadBytes("fb.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if s.LoadSite().MeterMarginMA != 0 || !strings.Contains(strings.Join(s.Warnings, "\n"), "meter_margin_a is set but there is no grid meter") {
		t.Errorf("margin %d, warnings %q", s.LoadSite().MeterMarginMA, s.Warnings)
	}
}
