// Package layering holds the test that keeps the dependency direction of
// ARCHITECTURE.md true: drivers, loadmgmt and the wire contract import
// nothing of the app, the edge never depends on central or dashboard,
// central reaches the edge only through edge/reading, and nothing imports
// cmd. It has no code besides its tests.
package layering
