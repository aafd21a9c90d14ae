//go:build !race

package e2e

// raceEnabled: see e2e_race_test.go.
const raceEnabled = false
