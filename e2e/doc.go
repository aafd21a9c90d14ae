// Package e2e holds the multi-process end-to-end tests: the real parkgrid
// binary (built once per test run from ../cmd/parkgrid) killed and restarted
// against the simulator, central, Mosquitto and PostgreSQL. Its only files
// besides this one are tests.
package e2e
