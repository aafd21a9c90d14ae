// Package svctest decides, in one place, what a test does when a real
// service it needs (PostgreSQL, Mosquitto, InfluxDB, stripe-mock, a Debian
// tool, the shared test data) is missing: locally it skips with the reason,
// in CI (CI=true) it fails, so an integration test is never skipped silently.
package svctest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// InCI reports whether the tests run in CI, where a missing service fails.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test locally and fails it in CI, naming what is missing
// and how to get it.
func Missing(t testing.TB, what, hint string) {
	t.Helper()
	msg := fmt.Sprintf("%s is not available (%s)", what, hint)
	if InCI() {
		t.Fatalf("CI=true: %s", msg)
	}
	t.Skipf("skipping: %s; in CI this test fails", msg)
}

// dial checks that something listens on addr.
func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// MosquittoAddr returns host:port of the external MQTT broker
// (PARKGRID_TEST_MQTT, default 127.0.0.1:1883).
func MosquittoAddr(t testing.TB) string {
	t.Helper()
	addr := env("PARKGRID_TEST_MQTT", "127.0.0.1:1883")
	if err := dial(addr); err != nil {
		Missing(t, "Mosquitto at "+addr, "start it: mosquitto -d -c /etc/mosquitto/mosquitto.conf")
	}
	return addr
}

// PostgresAddr returns host:port of PostgreSQL (PARKGRID_TEST_PG_ADDR,
// default 127.0.0.1:5432).
func PostgresAddr(t testing.TB) string {
	t.Helper()
	addr := env("PARKGRID_TEST_PG_ADDR", "127.0.0.1:5432")
	if err := dial(addr); err != nil {
		Missing(t, "PostgreSQL at "+addr, "start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start")
	}
	return addr
}

// PostgresDSN returns a DSN for a fresh, empty database made for this test
// (dropped at cleanup). It uses the psql command so that svctest itself
// needs no driver.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	addr := PostgresAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	user := env("PARKGRID_TEST_PG_USER", "postgres")
	name := fmt.Sprintf("parkgrid_test_%d_%d", os.Getpid(), time.Now().UnixNano())
	psql := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "psql", "-h", host, "-p", port, "-U", user, "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql %q: %w: %s", sql, err, out)
		}
		return nil
	}
	if _, err := exec.LookPath("psql"); err != nil {
		Missing(t, "psql", "apt-get install postgresql-client")
	}
	if err := psql("CREATE DATABASE " + name); err != nil {
		Missing(t, "PostgreSQL (create database)", err.Error())
	}
	t.Cleanup(func() { _ = psql("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, addr, name)
}

// InfluxURL returns the base URL of an InfluxDB 1.8 server
// (PARKGRID_TEST_INFLUX, default http://127.0.0.1:8086).
func InfluxURL(t testing.TB) string {
	t.Helper()
	u := env("PARKGRID_TEST_INFLUX", "http://127.0.0.1:8086")
	addr := strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	if err := dial(addr); err != nil {
		Missing(t, "InfluxDB at "+u, "make services starts it (go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)")
	}
	return u
}

// StripeMockURL returns the base URL of stripe-mock (PARKGRID_TEST_STRIPE,
// default http://127.0.0.1:12111).
func StripeMockURL(t testing.TB) string {
	t.Helper()
	u := env("PARKGRID_TEST_STRIPE", "http://127.0.0.1:12111")
	addr := strings.TrimPrefix(u, "http://")
	if err := dial(addr); err != nil {
		Missing(t, "stripe-mock at "+u, "make services starts it (go install github.com/stripe/stripe-mock@v0.203.0)")
	}
	return u
}

// Command returns the path of an external program a test needs (mbpoll,
// python3 with pymodbus, chromium …).
func Command(t testing.TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "command "+name, hint)
	}
	return p
}

// RepoRoot returns the module root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("svctest: cannot find own source file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir returns ../shared/<rel> next to the repository, or
// $PARKGRID_SHARED/<rel> (test data that is not part of a user's clone). Locally it skips when absent; in CI it
// fails.
func SharedDir(t testing.TB, rel string) string {
	t.Helper()
	base := os.Getenv("PARKGRID_SHARED") // override for clones elsewhere
	if base == "" {
		base = filepath.Join(RepoRoot(t), "..", "shared")
	}
	p := filepath.Join(base, rel)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "shared test data "+p, "it sits beside the repository on the developers' machines, not in a user's clone")
	}
	return p
}

// PymodbusSDM630 serves an Eastron SDM630 register map with Debian's
// python3-pymodbus (drivers/sdm630/testdata/pymodbus_sdm630.py: a Modbus
// stack written independently of ours) on a free loopback port, and returns
// its host:port once it listens. The server stops at cleanup.
func PymodbusSDM630(t testing.TB) string {
	t.Helper()
	py := pymodbusPython(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	script := filepath.Join(RepoRoot(t), "drivers", "sdm630", "testdata", "pymodbus_sdm630.py")
	cmd := exec.CommandContext(ctx, py, script, port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("pymodbus server exited before it was ready")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pymodbus server not ready within 30 s")
	}
	return addr
}

// pymodbusPython returns a python3 that can import pymodbus: the one on
// PATH, else Debian's /usr/bin/python3 (python3-pymodbus installs there,
// while a pyenv or venv python3 may shadow it on PATH).
func pymodbusPython(t testing.TB) string {
	t.Helper()
	py := Command(t, "python3", "apt-get install python3")
	for _, p := range []string{py, "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import pymodbus").Run() == nil {
			return p
		}
	}
	Missing(t, "python3 module pymodbus", "apt-get install -y python3-pymodbus")
	return ""
}
