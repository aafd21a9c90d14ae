package sim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

var badConfigs = map[string]string{ // file in testdata/bad → expected error substring
	"unknown_field.yaml":      `field colour not found`,
	"duplicate_unit.yaml":     `di.unit: listener "main" unit 1 already used by grid`,
	"unit_range.yaml":         `sub_distributions[0].points[0].unit: 240: units 240..249 of 10 points per listener are not all within 1..247`,
	"bad_rotation.yaml":       `sub_distributions[0].points[0].rotation: "L1L3L2" is not`,
	"no_listener.yaml":        `grid.listener: no listener "side"`,
	"duplicate_name.yaml":     `"p1" already names sub_distributions[0].points[0] (point p1 controller)`,
	"bad_max_current.yaml":    `chargers.max_current_a: 3 must be 6..63 (holding 528)`,
	"profile_length.yaml":     `grid.profile: has 3 factors, want 24`,
	"listener_collision.yaml": `address 127.0.0.1:1502 already used by listener "main"`,
	"bad_duration.yaml":       `cannot unmarshal !!str`,
	"too_few_listeners.yaml":  `sub_distributions[0].points[0].listeners: 2 listener(s) × 200 points hold fewer than count 500`,
	"both_listeners.yaml":     `sub_distributions[0].points[0].listeners: give listener or listeners, not both`,
}

func TestBadConfigs(t *testing.T) {
	for file, want := range badConfigs {
		path := filepath.Join("testdata", "bad", file)
		_, err := LoadConfig(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got error %v, want one naming the file and containing %q", file, err, want)
		}
	}
}

func TestEveryBadConfigHasAnExpectedError(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badConfigs[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in badConfigs", f)
		}
	}
}

func TestDeployConfigs(t *testing.T) {
	root := svctest.RepoRoot(t)
	for _, c := range []struct {
		file                       string
		points, devices, listeners int
	}{
		{"sim-small.yaml", 10, 4 + 2*10, 1},
		{"sim-large.yaml", 500, 8 + 2*500, 7},
	} {
		t.Run(c.file, func(t *testing.T) {
			cfg, err := LoadConfig(filepath.Join(root, "deploy", c.file))
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(cfg, Options{Manual: true})
			if err != nil {
				t.Fatal(err)
			}
			st := s.State()
			if len(st.Points) != c.points || len(st.Devices) != c.devices || len(st.Listeners) != c.listeners {
				t.Errorf("%d points, %d devices, %d listeners; want %d, %d, %d",
					len(st.Points), len(st.Devices), len(st.Listeners), c.points, c.devices, c.listeners)
			}
			if st.Listeners[MainListener] != "127.0.0.1:1502" {
				t.Errorf("main listener %s", st.Listeners[MainListener])
			}
		})
	}
}

func TestKeyDir(t *testing.T) {
	dir := t.TempDir()
	yml := quietSite + "key_dir: " + dir + "\n"
	a := newSim(t, yml)
	if _, err := os.Stat(filepath.Join(dir, "p1.meter.pem")); err != nil {
		t.Fatalf("key not written: %v", err)
	}
	// A key put there is used: swap p1's and p2's files.
	p1, _ := os.ReadFile(filepath.Join(dir, "p1.meter.pem"))
	p2, _ := os.ReadFile(filepath.Join(dir, "p2.meter.pem"))
	if err := os.WriteFile(filepath.Join(dir, "p1.meter.pem"), p2, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "p2.meter.pem"), p1, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newSim(t, yml)
	if string(a.State().Points[0].PublicKeyDER) != string(b.State().Points[1].PublicKeyDER) {
		t.Errorf("the key from key_dir was not used")
	}
	if err := os.WriteFile(filepath.Join(dir, "p3.meter.pem"), []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseConfig([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "p3.meter.pem") {
		t.Errorf("junk key: %v", err)
	}
}

func TestNewFillsDefaultsOnACopy(t *testing.T) {
	cfg := Config{
		Listen: "127.0.0.1:0",
		API:    "off",
		Grid:   GridConfig{DeviceConfig: DeviceConfig{Unit: 1}},
		Subs:   []SubDistConfig{{Name: "ud1", Meter: &DeviceConfig{Unit: 2}, Points: []PointGroupConfig{{Name: "p", Count: 2, Unit: 10, MeterUnit: 20}}}},
	}
	s, err := New(cfg, Options{Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Subs[0].Meter.Name != "" || cfg.Subs[0].Points[0].Rotation != "" || cfg.Chargers.MaxCurrentA != nil {
		t.Errorf("New wrote into the caller's config: %+v", cfg.Subs[0])
	}
	if got := s.Config().Subs[0].Meter.Name; got != "ud1.meter" {
		t.Errorf("sub-meter named %q", got)
	}
	if _, err := New(Config{Grid: GridConfig{DeviceConfig: DeviceConfig{Unit: 300}}}, Options{}); err == nil || !strings.Contains(err.Error(), "grid.unit: 300 outside 1..247") {
		t.Errorf("bad unit: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(quietSite))
	f.Add([]byte("grid: {unit: 1}\nsub_distributions: [{name: a, points: [{name: p, count: 3, unit: 1, meter_unit: 9}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := cfg.validate(); err != nil { // a parsed config stays valid
			t.Fatalf("ParseConfig accepted a config validate rejects: %v", err)
		}
	})
}

func TestGroupSpreadOverListeners(t *testing.T) {
	s := newSim(t, `
listen: 127.0.0.1:0
listeners: {c1: 127.0.0.1:0, c2: 127.0.0.1:0, c3: 127.0.0.1:0, m1: 127.0.0.1:0, m2: 127.0.0.1:0, m3: 127.0.0.1:0}
api: "off"
grid: {unit: 1}
sub_distributions:
  - name: ud1
    points:
      - {name: a, count: 500, listeners: [c1, c2, c3], meter_listeners: [m1, m2, m3], per_listener: 200, unit: 1, meter_unit: 1}
`)
	st := s.State()
	if len(st.Points) != 500 {
		t.Fatalf("%d points", len(st.Points))
	}
	at := map[string]DeviceState{}
	for _, d := range st.Devices {
		at[d.Name] = d
	}
	for name, want := range map[string]DeviceState{
		"a001":       {Listener: "c1", Unit: 1},
		"a200":       {Listener: "c1", Unit: 200},
		"a201":       {Listener: "c2", Unit: 1},
		"a500":       {Listener: "c3", Unit: 100},
		"a500.meter": {Listener: "m3", Unit: 100},
	} {
		if got := at[name]; got.Listener != want.Listener || got.Unit != want.Unit {
			t.Errorf("%s at %s/%d, want %s/%d", name, got.Listener, got.Unit, want.Listener, want.Unit)
		}
	}
}
