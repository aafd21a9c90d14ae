package loadmgmt

import (
	"cmp"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestRankOrderSortsByKey: rankOrder, packed into words or not, orders the
// points by (hi, lo).
func TestRankOrderSortsByKey(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 200).Draw(t, "n")
		hiBits := rapid.IntRange(0, tierShift).Draw(t, "hi-bits")
		waitBits := rapid.IntRange(0, 64-pointBits).Draw(t, "wait-bits")
		hiBase := rapid.Uint64().Draw(t, "hi-base") >> 3
		waitBase := rapid.Uint64().Draw(t, "wait-base") >> (pointBits + 1)
		keys := make([]rankKey, n)
		for i := range keys {
			tier := rapid.Uint64Range(0, 3).Draw(t, "tier")
			hi := tier<<tierShift | (hiBase+rapid.Uint64Range(0, 1<<hiBits-1).Draw(t, "charged"))&(1<<tierShift-1)
			wait := waitBase + rapid.Uint64Range(0, 1<<waitBits-1).Draw(t, "wait")
			keys[i] = rankKey{hi: hi, lo: wait<<pointBits | uint64(i)}
		}
		want := slices.Clone(keys)
		slices.SortFunc(want, func(a, b rankKey) int {
			if c := cmp.Compare(a.hi, b.hi); c != 0 {
				return c
			}
			return cmp.Compare(a.lo, b.lo)
		})
		got := rankOrder(slices.Clone(keys))
		for i, k := range want {
			if pi := int32(k.lo & (1<<pointBits - 1)); got[i] != pi {
				t.Fatalf("place %d: point %d, want %d", i, got[i], pi)
			}
		}
	})
}
