package loadmgmt

import (
	"slices"
	"testing"
)

// TestBySizeOrdersByRoomNeeded: premium first, then single-phase, then the
// lower minimum; equal cars keep their rank order.
func TestBySizeOrdersByRoomNeeded(t *testing.T) {
	cars := []car{
		{class: Eco, onePhase: true, nph: 1, minMA: 6000},      // 0
		{class: Premium, onePhase: false, nph: 3, minMA: 6000}, // 1
		{class: Eco, onePhase: false, nph: 3, minMA: 6000},     // 2
		{class: Premium, onePhase: true, nph: 1, minMA: 8000},  // 3
		{class: Premium, onePhase: true, nph: 1, minMA: 6000},  // 4
		{class: Eco, onePhase: true, nph: 1, minMA: 6000},      // 5
		{class: Premium, onePhase: false, nph: 3, minMA: 7000}, // 6
		{class: Eco, onePhase: true, nph: 1, minMA: 1_500_000}, // 7: above the key's range of amperes
		{class: Eco, onePhase: true, nph: 1, minMA: 7000},      // 8
	}
	e := &engine{cars: cars}
	for _, tc := range []struct {
		name string
		elig []int
		want []int
	}{
		{"all", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, []int{4, 3, 1, 6, 0, 5, 8, 7, 2}},
		{"rank order kept among equals", []int{5, 2, 0}, []int{5, 0, 2}},
		{"none", nil, []int{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.bySize(tc.elig); !slices.Equal(got, tc.want) {
				t.Errorf("bySize(%v) = %v, want %v", tc.elig, got, tc.want)
			}
		})
	}
}
