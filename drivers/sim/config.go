package sim

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config describes a simulated car park. The YAML form is documented in the
// package doc; LoadConfig reads it strictly (unknown fields are errors).
type Config struct {
	// Listen is the main Modbus TCP listener, named "main"
	// (default 127.0.0.1:1502).
	Listen string `yaml:"listen"`
	// Listeners are further Modbus TCP listeners by name; devices pick one
	// with their `listener` field. Unit ids are unique per listener.
	Listeners map[string]string `yaml:"listeners"`
	// API is the address of the HTTP control API (default 127.0.0.1:8081;
	// "off" disables it).
	API string `yaml:"api"`
	// Speed is simulated seconds per wall-clock second (default 1).
	Speed float64 `yaml:"speed"`
	// Tick is how often the real-time runner advances the physics, in wall
	// time (default 100ms).
	Tick time.Duration `yaml:"tick"`
	// Seed makes cars, noise and meter keys reproducible.
	Seed int64 `yaml:"seed"`
	// Start is the simulated time at start (RFC 3339); empty means the wall
	// clock at New, so that at speed 1 simulated time is wall time.
	Start string `yaml:"start"`
	// KeyDir, when set, holds one PEM private key per Eichrecht meter
	// (<meter name>.pem, PKCS#8 or SEC 1); missing keys are derived from the
	// seed and written there. Relative to the config file.
	KeyDir string `yaml:"key_dir"`

	Voltage  VoltageConfig   `yaml:"voltage"`
	Grid     GridConfig      `yaml:"grid"`
	DI       *DeviceConfig   `yaml:"di"`
	Cars     CarsConfig      `yaml:"cars"`
	Chargers ChargerConfig   `yaml:"chargers"`
	OCMF     OCMFConfig      `yaml:"ocmf"`
	Subs     []SubDistConfig `yaml:"sub_distributions"`
}

// VoltageConfig is the site's supply.
type VoltageConfig struct {
	NominalV    float64 `yaml:"nominal_v"`    // default 230
	NoiseV      float64 `yaml:"noise_v"`      // standard deviation, redrawn each second, default 0.5; negative: no noise (voltage, frequency, humidity)
	FrequencyHz float64 `yaml:"frequency_hz"` // default 50
}

// GridConfig is the grid-connection SDM630 meter and the site's base load.
type GridConfig struct {
	DeviceConfig `yaml:",inline"`
	// BaseLoadW is the load other than chargers, per grid phase, W.
	BaseLoadW [3]float64 `yaml:"base_load_w"`
	// Profile, if given, holds 24 hourly factors (simulated time of day,
	// UTC) applied to BaseLoadW.
	Profile []float64 `yaml:"profile"`
}

// DeviceConfig places one Modbus device.
type DeviceConfig struct {
	Name     string `yaml:"name"`
	Listener string `yaml:"listener"` // default "main"
	Unit     int    `yaml:"unit"`     // 1..247
}

// CarsConfig drives random arrivals. Cars plugged through the API or
// PlugCar stay until unplugged.
type CarsConfig struct {
	// ArrivalsPerHour is the arrival rate at each free charge point.
	ArrivalsPerHour float64 `yaml:"arrivals_per_hour"`
	// MeanStay is the mean of the (exponential) stay, at least MinStay.
	MeanStay time.Duration `yaml:"mean_stay"` // default 3h
	MinStay  time.Duration `yaml:"min_stay"`  // default 15m
	// ConnectedAtStart is the share of points with a car at start (0..1).
	ConnectedAtStart float64 `yaml:"connected_at_start"`
	// ThreePhaseShare is the share of 3-phase cars (default 0.7; -1 for none).
	ThreePhaseShare float64 `yaml:"three_phase_share"`
	// Share32A is the share of cars drawing 32 A rather than 16 A (default 0.3; -1 for none).
	Share32A float64 `yaml:"share_32a"`
	// BatteryWh is the range battery sizes are drawn from (default 40000..100000).
	BatteryWh [2]int64 `yaml:"battery_wh"`
	// SocPct is the range of state of charge on arrival (default 10..60).
	SocPct [2]float64 `yaml:"soc_pct"`
	// TaperFromPct is where the charge curve starts tapering (default 80).
	TaperFromPct float64 `yaml:"taper_from_pct"`
}

// ChargerConfig holds the charge controllers' power-on register values: at
// start and after a reboot (FaultReboot).
type ChargerConfig struct {
	// Enabled is coil 400 at power-on (default true).
	Enabled *bool `yaml:"enabled"`
	// MaxCurrentA is holding 528 at power-on (default 16).
	MaxCurrentA *int `yaml:"max_current_a"`
}

// OCMFConfig fills the gateway and meter fields of the snapshots.
type OCMFConfig struct {
	GatewayID      string        `yaml:"gateway_id"`      // GI, default "parkgrid-sim"
	GatewaySerial  string        `yaml:"gateway_serial"`  // GS, default "SIM-0001"
	GatewayVersion string        `yaml:"gateway_version"` // GV, default "1.0"
	SnapshotDelay  time.Duration `yaml:"snapshot_delay"`  // simulated time the meter is busy (default 0)
}

// SubDistConfig is one sub-distribution: its sub-meter, thermometer and
// charge points.
type SubDistConfig struct {
	Name string `yaml:"name"`
	// Meter is the sub-distribution's SDM630 (optional).
	Meter *DeviceConfig `yaml:"meter"`
	// Temperature is the sub-distribution's XY-MD02 (optional).
	Temperature *ThermoConfig `yaml:"temperature"`
	// Points are groups of charge points.
	Points []PointGroupConfig `yaml:"points"`
}

// ThermoConfig places an XY-MD02 and sets its surroundings.
type ThermoConfig struct {
	DeviceConfig `yaml:",inline"`
	AmbientC     float64 `yaml:"ambient_c"` // default 22
	// RiseCPerA is the steady-state warming per ampere of the
	// sub-distribution's most loaded phase (default 0.05).
	RiseCPerA float64 `yaml:"rise_c_per_a"`
}

// PointGroupConfig generates Count charge points. Point i (0-based) is named
// Name followed by i+1 zero-padded to the width of Count (just Name when
// Count is 1). Its controller is unit Unit+i on Listener and its Eichrecht
// meter unit MeterUnit+i on MeterListener.
//
// A group larger than one port holds (247 unit ids) lists several ports
// instead: with Listeners, point i's controller is unit Unit + i%PerListener
// on Listeners[i/PerListener], and its meter unit MeterUnit + i%PerListener
// on MeterListeners[i/PerListener].
type PointGroupConfig struct {
	Name          string `yaml:"name"`
	Count         int    `yaml:"count"` // default 1
	Listener      string `yaml:"listener"`
	Unit          int    `yaml:"unit"`
	MeterListener string `yaml:"meter_listener"` // default Listener
	MeterUnit     int    `yaml:"meter_unit"`
	// Listeners and MeterListeners replace Listener and MeterListener for
	// a group spread over several ports (MeterListeners defaults to
	// Listeners).
	Listeners      []string `yaml:"listeners"`
	MeterListeners []string `yaml:"meter_listeners"`
	// PerListener is how many points go to each listener (default: Count
	// spread evenly, rounded up).
	PerListener int `yaml:"per_listener"`
	// Rotation is L1L2L3, L2L3L1, L3L1L2, or "cycle" (through the three in
	// that order); default L1L2L3.
	Rotation string `yaml:"rotation"`
	// MaxA is the charger's hardware limit per phase (default 32).
	MaxA int `yaml:"max_a"`
}

// place returns where point i's controller and meter are.
func (g PointGroupConfig) place(i int) (ctl, meter DeviceConfig) {
	j := i / g.PerListener
	k := i % g.PerListener
	name := g.pointName(i)
	return DeviceConfig{Name: name, Listener: g.Listeners[j], Unit: g.Unit + k},
		DeviceConfig{Name: name + ".meter", Listener: g.MeterListeners[j], Unit: g.MeterUnit + k}
}

// MainListener names the listener of Config.Listen.
const MainListener = "main"

// LoadConfig reads and checks a config file; errors name the file and field.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("sim config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("sim config %s: %w", path, err)
	}
	if cfg.KeyDir != "" && !filepath.IsAbs(cfg.KeyDir) {
		cfg.KeyDir = filepath.Join(filepath.Dir(path), cfg.KeyDir)
	}
	return cfg, nil
}

// ParseConfig decodes YAML strictly, fills defaults and checks the result.
func ParseConfig(data []byte) (Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// clone copies everything a config refers to, so that filling defaults
// never writes into the caller's slices and maps.
func (c Config) clone() Config {
	c.Listeners = maps.Clone(c.Listeners)
	c.Grid.Profile = slices.Clone(c.Grid.Profile)
	if c.DI != nil {
		d := *c.DI
		c.DI = &d
	}
	if c.Chargers.Enabled != nil {
		v := *c.Chargers.Enabled
		c.Chargers.Enabled = &v
	}
	if c.Chargers.MaxCurrentA != nil {
		v := *c.Chargers.MaxCurrentA
		c.Chargers.MaxCurrentA = &v
	}
	c.Subs = slices.Clone(c.Subs)
	for i := range c.Subs {
		s := &c.Subs[i]
		s.Points = slices.Clone(s.Points)
		for j := range s.Points {
			g := &s.Points[j]
			g.Listeners = slices.Clone(g.Listeners)
			g.MeterListeners = slices.Clone(g.MeterListeners)
		}
		if s.Meter != nil {
			m := *s.Meter
			s.Meter = &m
		}
		if s.Temperature != nil {
			t := *s.Temperature
			s.Temperature = &t
		}
	}
	return c
}

func (c *Config) setDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:1502"
	}
	if c.API == "" {
		c.API = "127.0.0.1:8081"
	}
	if c.Speed == 0 {
		c.Speed = 1
	}
	if c.Tick == 0 {
		c.Tick = 100 * time.Millisecond
	}
	if c.Voltage.NominalV == 0 {
		c.Voltage.NominalV = 230
	}
	if c.Voltage.NoiseV == 0 {
		c.Voltage.NoiseV = 0.5
	}
	if c.Voltage.FrequencyHz == 0 {
		c.Voltage.FrequencyHz = 50
	}
	if c.Grid.Name == "" {
		c.Grid.Name = "grid"
	}
	if c.DI != nil && c.DI.Name == "" {
		c.DI.Name = "di"
	}
	cc := &c.Cars
	if cc.MeanStay == 0 {
		cc.MeanStay = 3 * time.Hour
	}
	if cc.MinStay == 0 {
		cc.MinStay = 15 * time.Minute
	}
	if cc.ThreePhaseShare == 0 {
		cc.ThreePhaseShare = 0.7
	}
	if cc.Share32A == 0 {
		cc.Share32A = 0.3
	}
	if cc.BatteryWh == [2]int64{} {
		cc.BatteryWh = [2]int64{40000, 100000}
	}
	if cc.SocPct == [2]float64{} {
		cc.SocPct = [2]float64{10, 60}
	}
	if cc.TaperFromPct == 0 {
		cc.TaperFromPct = 80
	}
	if c.Chargers.Enabled == nil {
		t := true
		c.Chargers.Enabled = &t
	}
	if c.Chargers.MaxCurrentA == nil {
		a := 16
		c.Chargers.MaxCurrentA = &a
	}
	if c.OCMF.GatewayID == "" {
		c.OCMF.GatewayID = "parkgrid-sim"
	}
	if c.OCMF.GatewaySerial == "" {
		c.OCMF.GatewaySerial = "SIM-0001"
	}
	if c.OCMF.GatewayVersion == "" {
		c.OCMF.GatewayVersion = "1.0"
	}
	for i := range c.Subs {
		s := &c.Subs[i]
		if s.Meter != nil && s.Meter.Name == "" {
			s.Meter.Name = s.Name + ".meter"
		}
		if t := s.Temperature; t != nil {
			if t.Name == "" {
				t.Name = s.Name + ".temp"
			}
			if t.AmbientC == 0 {
				t.AmbientC = 22
			}
			if t.RiseCPerA == 0 {
				t.RiseCPerA = 0.05
			}
		}
		for j := range s.Points {
			g := &s.Points[j]
			if g.Count == 0 {
				g.Count = 1
			}
			if g.MeterListener == "" {
				g.MeterListener = g.Listener
			}
			if len(g.Listeners) == 0 {
				g.Listeners = []string{g.Listener}
			}
			if len(g.MeterListeners) == 0 {
				if g.MeterListener != "" || len(g.Listeners) == 1 {
					g.MeterListeners = []string{g.MeterListener}
				} else {
					g.MeterListeners = g.Listeners
				}
			}
			if g.PerListener == 0 && len(g.Listeners) > 0 {
				g.PerListener = (g.Count + len(g.Listeners) - 1) / len(g.Listeners)
			}
			if g.Rotation == "" {
				g.Rotation = "L1L2L3"
			}
			if g.MaxA == 0 {
				g.MaxA = 32
			}
		}
	}
}

// rotations maps a rotation name to the grid phase (0..2) of charger
// phases L1, L2, L3.
var rotations = map[string][3]int{
	"L1L2L3": {0, 1, 2},
	"L2L3L1": {1, 2, 0},
	"L3L1L2": {2, 0, 1},
}

var rotationCycle = []string{"L1L2L3", "L2L3L1", "L3L1L2"}

// validate checks a config with defaults filled; each error names the field
// and the value.
func (c *Config) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	addrs := map[string]string{} // address → listener name
	checkAddr := func(field, name, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad(field, "%q is not host:port", addr)
			return
		}
		if prev, ok := addrs[addr]; ok && !strings.HasSuffix(addr, ":0") {
			bad(field, "address %s already used by listener %q", addr, prev)
		}
		addrs[addr] = name
	}
	checkAddr("listen", MainListener, c.Listen)
	for name, addr := range c.Listeners {
		if name == MainListener {
			bad("listeners."+name, "the name %q is taken by `listen`", name)
			continue
		}
		checkAddr("listeners."+name, name, addr)
	}
	if c.API != "off" {
		if _, _, err := net.SplitHostPort(c.API); err != nil {
			bad("api", "%q is not host:port (or \"off\")", c.API)
		}
	}
	if c.Speed < 0 || math.IsNaN(c.Speed) || math.IsInf(c.Speed, 0) {
		bad("speed", "%v must be > 0", c.Speed)
	}
	if c.Tick < time.Millisecond {
		bad("tick", "%v must be at least 1ms", c.Tick)
	}
	if c.Start != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.Start); err != nil {
			bad("start", "%q is not RFC 3339", c.Start)
		}
	}
	if c.Voltage.NominalV < 100 || c.Voltage.NominalV > 300 {
		bad("voltage.nominal_v", "%v outside 100..300", c.Voltage.NominalV)
	}
	if c.Voltage.FrequencyHz < 40 || c.Voltage.FrequencyHz > 70 {
		bad("voltage.frequency_hz", "%v outside 40..70", c.Voltage.FrequencyHz)
	}
	for i, w := range c.Grid.BaseLoadW {
		if w < 0 {
			bad(fmt.Sprintf("grid.base_load_w[%d]", i), "%v must be ≥ 0", w)
		}
	}
	if n := len(c.Grid.Profile); n != 0 && n != 24 {
		bad("grid.profile", "has %d factors, want 24 (one per hour)", n)
	}
	for i, f := range c.Grid.Profile {
		if f < 0 {
			bad(fmt.Sprintf("grid.profile[%d]", i), "%v must be ≥ 0", f)
		}
	}
	cc := c.Cars
	if cc.ArrivalsPerHour < 0 {
		bad("cars.arrivals_per_hour", "%v must be ≥ 0", cc.ArrivalsPerHour)
	}
	if cc.MeanStay < 0 || cc.MinStay < 0 {
		bad("cars.mean_stay", "stays must be ≥ 0 (mean %v, min %v)", cc.MeanStay, cc.MinStay)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"connected_at_start", cc.ConnectedAtStart}, {"three_phase_share", cc.ThreePhaseShare}, {"share_32a", cc.Share32A}} {
		if f.v > 1 || (f.v < 0 && f.v != -1) {
			bad("cars."+f.name, "%v outside 0..1 (or -1 for none)", f.v)
		}
	}
	if cc.BatteryWh[0] <= 0 || cc.BatteryWh[1] < cc.BatteryWh[0] {
		bad("cars.battery_wh", "%v must be [min, max] with 0 < min ≤ max", cc.BatteryWh)
	}
	if cc.SocPct[0] < 0 || cc.SocPct[1] > 100 || cc.SocPct[1] < cc.SocPct[0] {
		bad("cars.soc_pct", "%v must be [min, max] within 0..100", cc.SocPct)
	}
	if cc.TaperFromPct <= 0 || cc.TaperFromPct >= 100 {
		bad("cars.taper_from_pct", "%v outside 0..100", cc.TaperFromPct)
	}
	if a := *c.Chargers.MaxCurrentA; a < 6 || a > 63 {
		bad("chargers.max_current_a", "%d must be 6..63 (holding 528)", a)
	}
	if c.OCMF.SnapshotDelay < 0 {
		bad("ocmf.snapshot_delay", "%v must be ≥ 0", c.OCMF.SnapshotDelay)
	}
	if len(c.Subs) > 8 {
		bad("sub_distributions", "%d given, the DI module has SPD inputs for 8", len(c.Subs))
	}

	// Names and unit ids, over the expanded device list.
	names := map[string]string{} // name → field
	units := map[string]string{} // "listener/unit" → field
	place := func(field, name, listener string, unit int) {
		if name == "" {
			bad(field+".name", "missing")
		} else if prev, ok := names[name]; ok {
			bad(field+".name", "%q already names %s", name, prev)
		} else {
			names[name] = field
		}
		if listener == "" {
			listener = MainListener
		}
		if _, ok := c.Listeners[listener]; !ok && listener != MainListener {
			bad(field+".listener", "no listener %q (have %q and `listeners`)", listener, MainListener)
		}
		if unit < 1 || unit > 247 {
			bad(field+".unit", "%d outside 1..247", unit)
			return
		}
		key := fmt.Sprintf("%s/%d", listener, unit)
		if prev, ok := units[key]; ok {
			bad(field+".unit", "listener %q unit %d already used by %s", listener, unit, prev)
			return
		}
		units[key] = field
	}
	place("grid", c.Grid.Name, c.Grid.Listener, c.Grid.Unit)
	if c.DI != nil {
		place("di", c.DI.Name, c.DI.Listener, c.DI.Unit)
	}
	subNames := map[string]bool{}
	for i, s := range c.Subs {
		f := fmt.Sprintf("sub_distributions[%d]", i)
		if s.Name == "" {
			bad(f+".name", "missing")
		} else if subNames[s.Name] {
			bad(f+".name", "%q used twice", s.Name)
		}
		subNames[s.Name] = true
		if s.Meter != nil {
			place(f+".meter", s.Meter.Name, s.Meter.Listener, s.Meter.Unit)
		}
		if s.Temperature != nil {
			place(f+".temperature", s.Temperature.Name, s.Temperature.Listener, s.Temperature.Unit)
		}
		for j, g := range s.Points {
			gf := fmt.Sprintf("%s.points[%d]", f, j)
			groupErrs := len(errs)
			if g.Count < 1 || g.Count > 10000 {
				bad(gf+".count", "%d outside 1..10000", g.Count)
				continue
			}
			if _, ok := rotations[g.Rotation]; !ok && g.Rotation != "cycle" {
				bad(gf+".rotation", "%q is not L1L2L3, L2L3L1, L3L1L2 or cycle", g.Rotation)
			}
			if g.MaxA < 6 || g.MaxA > 63 {
				bad(gf+".max_a", "%d outside 6..63", g.MaxA)
			}
			if g.Name == "" {
				bad(gf+".name", "missing")
				continue
			}
			if g.Listener != "" && len(g.Listeners) > 0 && !slices.Equal(g.Listeners, []string{g.Listener}) {
				bad(gf+".listeners", "give listener or listeners, not both")
				continue
			}
			if g.MeterListener != "" && len(g.MeterListeners) > 0 && !slices.Equal(g.MeterListeners, []string{g.MeterListener}) {
				bad(gf+".meter_listeners", "give meter_listener or meter_listeners, not both")
				continue
			}
			if g.PerListener < 1 || g.PerListener > 247 {
				bad(gf+".per_listener", "%d outside 1..247", g.PerListener)
				continue
			}
			for _, l := range []struct {
				field string
				n     int
			}{{"listeners", len(g.Listeners)}, {"meter_listeners", len(g.MeterListeners)}} {
				if l.n*g.PerListener < g.Count {
					bad(gf+"."+l.field, "%d listener(s) × %d points hold fewer than count %d (a port has unit ids 1..247)", l.n, g.PerListener, g.Count)
				}
			}
			used := min(g.Count, g.PerListener)
			if g.Unit < 1 || g.Unit+used-1 > 247 {
				bad(gf+".unit", "%d: units %d..%d of %d points per listener are not all within 1..247", g.Unit, g.Unit, g.Unit+used-1, used)
			}
			if g.MeterUnit < 1 || g.MeterUnit+used-1 > 247 {
				bad(gf+".meter_unit", "%d: units %d..%d of %d points per listener are not all within 1..247", g.MeterUnit, g.MeterUnit, g.MeterUnit+used-1, used)
			}
			if len(errs) > groupErrs {
				continue // placing would repeat the same error per point
			}
			for k := 0; k < g.Count; k++ {
				ctl, meter := g.place(k)
				place(fmt.Sprintf("%s (point %s controller)", gf, ctl.Name), ctl.Name, ctl.Listener, ctl.Unit)
				place(fmt.Sprintf("%s (point %s meter)", gf, ctl.Name), meter.Name, meter.Listener, meter.Unit)
			}
		}
	}
	return errors.Join(errs...)
}

func (g PointGroupConfig) pointName(i int) string {
	if g.Count == 1 {
		return g.Name
	}
	width := len(fmt.Sprint(g.Count))
	return fmt.Sprintf("%s%0*d", g.Name, width, i+1)
}

func (g PointGroupConfig) rotation(i int) string {
	if g.Rotation == "cycle" {
		return rotationCycle[i%3]
	}
	return g.Rotation
}

// listenerAddr returns the configured address of a listener name.
func (c *Config) listenerAddr(name string) string {
	if name == "" || name == MainListener {
		return c.Listen
	}
	return c.Listeners[name]
}
