package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/parkgrid/parkgrid/loadmgmt"
)

const (
	goodDir = "../testdata/config/good"
	badDir  = "../testdata/config/bad"
)

// badConfigs maps each file in testdata/config/bad to a substring its error
// must contain. Where the line is certain, the substring names it too.
var badConfigs = map[string]string{
	"bus_neither.yaml":                   `bus_neither.yaml:5: buses[0]: bus "lan": set tcp (host:port) or rtu (serial line)`,
	"control_interval_negative.yaml":     `control.interval: control: interval -1s must be > 0`,
	"controller_twice.yaml":              `charge_points[1].controller: charge point "cp-2": device "cc-1" is already used by charge point "cp-1"`,
	"duplicate_device.yaml":              `duplicate_device.yaml:10: buses[0].devices[2].id: device id "cc-1" used twice (first at line 9)`,
	"duplicate_key.yaml":                 `duplicate_key.yaml:4: mapping key "gateway" already defined at line 3`,
	"duplicate_node.yaml":                `node id "c-1" used twice (first at line 15)`,
	"duplicate_point.yaml":               `charge_points[1].id: charge point id "cp-1" used twice`,
	"empty.yaml":                         `empty.yaml: empty file`,
	"ems_broker.yaml":                    `ems: broker "127.0.0.1:1883" is not a URL like tcp://host:1883`,
	"ems_rest_listen.yaml":               `ems: rest listen "localhost" is not host:port`,
	"ems_topic_wildcard.yaml":            `topic_prefix "parkgrid/+/ems" must not hold wildcards`,
	"fallback_range.yaml":                `charge point "cp-2": fallback_a 3 A: want 0 or 6..16 A`,
	"fallback_sum_circuit.yaml":          `fallback_sum_circuit.yaml:18: grid.distributions[0].circuits[0].limit_a: node "c-1": fallback currents of its charge points add up to 36 A on L1, above the node's limit of 32 A (charge points cp-1, cp-2)`,
	"fallback_sum_grid.yaml":             `node "grid": fallback currents of its charge points add up to 42 A on L2, above the node's limit of 40 A`,
	"fire_loop_not_di.yaml":              `safety.fire_loop.device: safety fire_loop: device "m-1" is a sdm630, want diinput`,
	"fire_loop_unknown.yaml":             `safety fire_loop: unknown device "di-7"`,
	"grid_meter_not_meter.yaml":          `grid.meter: grid "grid" meter: device "di-1" is a diinput, want sdm630 or eichrecht`,
	"limit_text.yaml":                    `limit_text.yaml:18: grid.distributions[0].circuits[0].limit_a: "lots" is not a whole number`,
	"limit_two_phases.yaml":              `limit_two_phases.yaml:18: a per-phase current is one number or a list of 3 (L1, L2, L3), not a list of 2`,
	"limit_zero.yaml":                    `circuit "c-1": limit on L2 is 0 A, must be > 0`,
	"max_above_63.yaml":                  `charge point "cp-2": max_a 80 A not in min_a..63`,
	"max_missing.yaml":                   `charge point "cp-2": max_a 0 A not in min_a..63`,
	"meter_is_grid_meter.yaml":           `charge point "cp-1": meter "m-1" is the grid meter`,
	"min_below_6.yaml":                   `charge point "cp-2": min_a 4 A below the IEC 61851 minimum of 6 A`,
	"no_buses.yaml":                      `no buses: a site needs at least one Modbus bus`,
	"no_distributions.yaml":              `grid "grid": no distributions`,
	"no_fire_loop.yaml":                  `safety: fire_loop is missing`,
	"no_grid.yaml":                       `grid is missing`,
	"not_mapping.yaml":                   `the site file must be a mapping`,
	"phases_two.yaml":                    `charge point "cp-2": phases 2: want 1 or 3`,
	"point_no_circuit.yaml":              `point_no_circuit.yaml:21: charge_points[1].circuit: charge point "cp-2" is on no circuit`,
	"point_on_distribution.yaml":         `charge point "cp-2": unknown circuit "ud-1"`,
	"point_unknown_circuit.yaml":         `charge point "cp-2": unknown circuit "c-9"`,
	"poll_negative.yaml":                 `device "di-1": poll interval -100ms must be > 0`,
	"poll_no_unit.yaml":                  `poll_no_unit.yaml:8: buses[0].devices[0].poll: "5" is not a duration`,
	"poll_zero.yaml":                     `poll_zero.yaml:8: buses[0].devices[0].poll: device "di-1": poll interval 0s must be > 0`,
	"rotation_bad.yaml":                  `charge point "cp-2": rotation "L1L1L2"`,
	"rtu_baud.yaml":                      `bus "lan": baud 9601 not one of`,
	"rtu_no_port.yaml":                   `bus "lan": rtu port is missing`,
	"rtu_parity.yaml":                    `bus "lan": parity "mark": want none, even or odd`,
	"safe_budget_missing.yaml":           `grid "grid": safe_budget_a is missing`,
	"safe_budget_over.yaml":              `grid "grid": safe budget on L2 is 40 A, want 0..32 A`,
	"site_id_slash.yaml":                 `site id "tiny/north": use letters, digits`,
	"site_missing.yaml":                  `site: site id is missing`,
	"spd_not_di.yaml":                    `distribution "ud-1" spd: device "cc-1" is a phoenix, want diinput`,
	"spd_input_range.yaml":               `grid.distributions[0].spd.input: distribution "ud-1" spd: input 12 not in 0..9`,
	"syntax.yaml":                        `syntax.yaml:14: mapping values are not allowed`,
	"tcp_and_rtu.yaml":                   `bus "lan": set either tcp or rtu, not both`,
	"tcp_no_port.yaml":                   `bus "lan": tcp "127.0.0.1" is not host:port`,
	"temp_no_sensor.yaml":                `distribution "ud-1": temperature needs at least one sensor`,
	"temp_sensor_wrong.yaml":             `device "m-1" is a sdm630, want xymd02`,
	"temp_stop_below_derate.yaml":        `stop_above_c 40 °C must be above derate_above_c 55 °C`,
	"two_documents.yaml":                 `more than one YAML document`,
	"unit_255_meter.yaml":                `device "m-1": modbus unit 255 is only for phoenix controllers`,
	"unit_range.yaml":                    `unit_range.yaml:11: buses[0].devices[3].unit: device "m-1": modbus unit 300 not in 1..247`,
	"unit_twice.yaml":                    `bus "lan": modbus unit 11 used twice (devices "cc-1" and "cc-2")`,
	"unit_zero.yaml":                     `device "m-1": modbus unit 0 not in 1..247`,
	"unknown_controller.yaml":            `charge point "cp-2" controller: unknown device "cc-9"`,
	"unknown_driver.yaml":                `device "m-1": unknown driver "sdm120"`,
	"unknown_key.yaml":                   `unknown_key.yaml:4: unknown field "gatway" in the site`,
	"unknown_nested_key.yaml":            `unknown_nested_key.yaml:18: unknown field "limit" in a circuit`,
	"watchdog_fraction.yaml":             `watchdog 1.5s must be whole seconds`,
	"ems_rest_public_no_tokens.yaml":     `ems_rest_public_no_tokens.yaml:23: ems.rest.listen: ems: rest listen "0.0.0.0:8090" is reachable from other machines but ems.rest.tokens is not set`,
	"ems_rest_empty_host_no_tokens.yaml": `ems: rest listen ":8090" is reachable from other machines but ems.rest.tokens is not set`,
	"ems_rest_tokens_missing.yaml":       `ems.rest.tokens: ems: rest tokens: token file: stat`,
	"ems_rest_tls_half.yaml":             `ems.rest.tls: ems: rest tls needs cert and key`,
	"ems_rest_origin_path.yaml":          `ems.rest.allowed_origins[0]: ems: allowed origin "https://ems.example/app": want scheme://host[:port]`,
	"ems_broker_userinfo.yaml":           `ems.mqtt.broker: ems: broker "tcp://…@127.0.0.1:1883" carries credentials in the URL`,
	"ems_password_twice.yaml":            `ems.mqtt.password_file: ems: set password or password_file, not both`,
	"ems_password_no_user.yaml":          `ems.mqtt.username: ems: a password needs a username`,
	"ems_tls_ca_missing.yaml":            `ems.mqtt.tls.ca: ems: tls ca: stat`,
	"uplink_broker_userinfo.yaml":        `uplink.broker: uplink: broker "tcp://…@127.0.0.1:1884" carries credentials in the URL`,
	"uplink_password_file_missing.yaml":  `uplink.password_file: uplink: password_file: stat`,
	"uplink_broker.yaml":                 `uplink_broker.yaml:22: uplink.broker: uplink: broker "127.0.0.1:1884" is not a URL like tcp://host:1883`,
	"uplink_broker_ws.yaml":              `uplink: broker "ws://127.0.0.1:9001" is not a URL`,
	"uplink_no_key.yaml":                 `uplink: key is missing`,
	"uplink_no_outbox.yaml":              `uplink: outbox is missing`,
	"uplink_interval_zero.yaml":          `uplink_interval_zero.yaml:25: uplink.reading_interval: uplink: reading_interval 0s must be > 0`,
	"uplink_batch_negative.yaml":         `uplink: batch_max_readings -1 must be >= 1`,
	"uplink_outbox_tiny.yaml":            `uplink: outbox_max_bytes 1000 is below 1 MiB`,
	"uplink_tls_half.yaml":               `uplink: tls cert "gw.pem" and key "" must be set together`,
	"uplink_unknown_key.yaml":            `uplink_unknown_key.yaml:25: unknown field "batch_size"`,
	"influx_url.yaml":                    `influx: url "127.0.0.1:8086" is not a URL like http://127.0.0.1:8086`,
	"wrong_driver_ref.yaml":              `charge point "cp-2" controller: device "di-1" is a diinput, want phoenix`,
}

func TestBadConfigs(t *testing.T) {
	for file, want := range badConfigs {
		t.Run(file, func(t *testing.T) {
			_, err := Load(filepath.Join(badDir, file))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got error %v\nwant one containing %q", err, want)
			}
			if err != nil && !errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "no such file") {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

// TestEveryBadConfigHasAnEntry catches a file in bad/ that nobody checks.
func TestEveryBadConfigHasAnEntry(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(badDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("glob %s: %v (%d files)", badDir, err, len(files))
	}
	for _, f := range files {
		if _, ok := badConfigs[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in badConfigs", f)
		}
	}
}

func TestGoodConfigs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(goodDir, "*.yaml"))
	deploy, _ := filepath.Glob("../../deploy/site-*.yaml")
	files = append(files, deploy...)
	if len(files) < 2 {
		t.Fatalf("found only %d good configs", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range s.Warnings {
				t.Logf("warning: %s", w)
			}
			ls := s.LoadSite()
			if err := ls.Validate(); err != nil {
				t.Errorf("LoadSite does not validate in loadmgmt: %v", err)
			}
			if len(ls.Points) != len(s.ChargePoints) {
				t.Errorf("LoadSite has %d points, config %d", len(ls.Points), len(s.ChargePoints))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	s, err := Load(filepath.Join(goodDir, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	twenty := 20
	want := &Site{
		ID: "tiny", Gateway: "gw-tiny", Watchdog: 15 * time.Second, DataDir: DefaultDataDir,
		Buses: []Bus{{ID: "lan", TCP: "127.0.0.1:1502", Timeout: time.Second, Devices: []Device{
			{ID: "di-1", Driver: DIInput, Unit: 2, Poll: 100 * time.Millisecond, Bus: "lan"},
			{ID: "cc-1", Driver: Phoenix, Unit: 255, Poll: time.Second, Bus: "lan"},
		}}},
		Grid: Grid{ID: "grid", Limit: PhaseAmps{32, 32, 32}, Unbalance: &twenty, Distributions: []Distribution{
			{ID: "ud-1", Limit: PhaseAmps{32, 32, 32}, Circuits: []Circuit{{ID: "c-1", Limit: PhaseAmps{32, 32, 32}}}},
		}},
		ChargePoints: []ChargePoint{{ID: "cp-1", Circuit: "c-1", Controller: "cc-1", Phases: 3, Rotation: RotationL1L2L3, MinA: 6, MaxA: 16}},
		Safety: Safety{FireLoop: &Input{Device: "di-1"}, OfflineAfter: 1300 * time.Millisecond,
			StateFile: filepath.Join(DefaultDataDir, DefaultStateFile), OfflineResumeAfter: DefaultOfflineResumeAfter},
		EMS: EMS{MaxTTL: time.Hour},
		Control: Control{Interval: time.Second, GridStaleAfter: 2 * time.Second, MaxParallelWrites: 32,
			RaiseEvery: 10 * time.Second, DeadbandA: 1, MinOn: time.Minute, MinOff: 3 * time.Minute},
		Path: filepath.Join(goodDir, "minimal.yaml"),
	}
	if diff := cmp.Diff(want, s, cmpopts.IgnoreUnexported(Site{})); diff != "" {
		t.Errorf("minimal.yaml (-want +got):\n%s", diff)
	}
	if d, ok := s.Device("cc-1"); !ok || d.Bus != "lan" {
		t.Errorf("Device(cc-1) = %+v, %v", d, ok)
	}
}

func TestFullLoadSite(t *testing.T) {
	s, err := Load(filepath.Join(goodDir, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ls := s.LoadSite()
	want := loadmgmt.Site{
		MeterStaleAfter: 3 * time.Second,
		MeterMarginMA:   1000, // grid.meter_margin_a's default
		Para14aDevices:  4,
		Rotation:        loadmgmt.RotationRules{MinOn: time.Minute, MinOff: 3 * time.Minute},
		Nodes: []loadmgmt.Node{
			{ID: "hak", FuseMA: [3]int64{100000, 100000, 80000}, UnbalanceMA: 16000, Metered: true, SafeBudgetMA: [3]int64{40000, 40000, 30000}},
			{ID: "ud-1", Parent: "hak", FuseMA: [3]int64{63000, 63000, 63000}, Derating: &loadmgmt.Derating{StartDeciC: 400, StopDeciC: 550}},
			{ID: "c-1", Parent: "ud-1", FuseMA: [3]int64{32000, 32000, 32000}},
			{ID: "c-2", Parent: "ud-1", FuseMA: [3]int64{32000, 32000, 32000}, UnbalanceMA: 10000, Derating: &loadmgmt.Derating{StartDeciC: 450, StopDeciC: 600}},
			{ID: "ud-2", Parent: "hak", FuseMA: [3]int64{50000, 50000, 50000}, UnbalanceMA: 20000},
			{ID: "c-3", Parent: "ud-2", FuseMA: [3]int64{32000, 32000, 32000}},
		},
		Points: []loadmgmt.ChargePoint{
			{ID: "cp-01", Node: "c-1", Rotation: loadmgmt.RotationL1L2L3, Phases: 3, MinCurrentMA: 6000, MaxCurrentMA: 16000, FallbackCurrentMA: 6000},
			{ID: "cp-02", Node: "c-1", Rotation: loadmgmt.RotationL2L3L1, Phases: 1, MinCurrentMA: 6000, MaxCurrentMA: 32000, FallbackCurrentMA: 10000},
			{ID: "cp-03", Node: "c-2", Rotation: loadmgmt.RotationL3L1L2, Phases: 3, MinCurrentMA: 6000, MaxCurrentMA: 32000},
			{ID: "cp-04", Node: "c-3", Rotation: loadmgmt.RotationL3L1L2, Phases: 1, MinCurrentMA: 8000, MaxCurrentMA: 20000, FallbackCurrentMA: 8000},
		},
	}
	if diff := cmp.Diff(want, ls); diff != "" {
		t.Errorf("LoadSite (-want +got):\n%s", diff)
	}
	if got := s.ChargePoints[1].GridPhases(); !cmp.Equal(got, []int{1}) {
		t.Errorf("cp-02 grid phases = %v, want [1]", got)
	}
	if got := s.ChargePoints[2].GridPhases(); !cmp.Equal(got, []int{2, 0, 1}) {
		t.Errorf("cp-03 grid phases = %v, want [2 0 1]", got)
	}
	if s.Buses[1].RTU.Parity != "none" || s.Buses[1].Devices[1].Poll != 10*time.Second {
		t.Errorf("rtu bus = %+v, %+v", *s.Buses[1].RTU, s.Buses[1].Devices[1])
	}
}

func TestWarnings(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(goodDir, "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "{id: c-1, limit_a: 32}", "{id: c-1, limit_a: 40}", 1)
	y = strings.Replace(y, "max_a: 16", "max_a: 50", 1)
	s, err := LoadBytes("w.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(s.Warnings, "\n")
	for _, want := range []string{
		`circuit "c-1": limit 40 A on L1 is above its parent "ud-1"'s 32 A`,
		`charge point "cp-1": max_a 50 A is above circuit "c-1"'s limit of 40 A`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("no/such/site.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want ErrNotExist", err)
	}
}

func TestUplinkPathsAndDefaults(t *testing.T) {
	s, err := Load(filepath.Join(goodDir, "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Uplink{
		Broker:           "ssl://central.example.net:8883",
		Key:              filepath.Join(goodDir, "keys", "gateway.key"),
		Outbox:           "/var/lib/parkgrid/outbox",
		ReadingInterval:  10 * time.Second,
		BatchMaxReadings: 500,
		BatchMaxDelay:    5 * time.Second,
		OutboxMaxBytes:   1 << 30,
		// The uplink's evidence defaults (issue 12).
		OutboxSegmentBytes: DefaultOutboxSegmentBytes,
		NoAckAlarm:         DefaultNoAckAlarm,
		SessionState:       "/var/lib/parkgrid/sessions.json",
		TLS: &UplinkTLS{
			CA:         filepath.Join(goodDir, "tls", "ca.pem"),
			Cert:       filepath.Join(goodDir, "tls", "gw.pem"),
			Key:        filepath.Join(goodDir, "tls", "gw.key"),
			ServerName: "central.example.net",
		},
		Username: "gw-0001",
		Password: "secret",
	}
	if diff := cmp.Diff(want, s.Uplink); diff != "" {
		t.Errorf("uplink (-want +got):\n%s", diff)
	}

	min, err := LoadBytes("/etc/parkgrid/site.yaml", []byte(`
site: s
gateway: g
buses: [{id: lan, tcp: "127.0.0.1:1502", devices: [{id: di-1, driver: diinput, unit: 2}, {id: cc-1, driver: phoenix, unit: 255}]}]
grid: {limit_a: 32, distributions: [{id: ud-1, limit_a: 32, circuits: [{id: c-1, limit_a: 32}]}]}
charge_points: [{id: cp-1, circuit: c-1, controller: cc-1, max_a: 16}]
safety: {fire_loop: {device: di-1, input: 0}}
uplink: {broker: "tcp://127.0.0.1:1884", key: keys/gw.key, outbox: data/outbox}
`))
	if err != nil {
		t.Fatal(err)
	}
	want = &Uplink{
		Broker: "tcp://127.0.0.1:1884", Key: "/etc/parkgrid/keys/gw.key", Outbox: "/etc/parkgrid/data/outbox",
		ReadingInterval: DefaultReadingInterval, BatchMaxReadings: DefaultBatchMaxReadings,
		BatchMaxDelay: DefaultBatchMaxDelay, OutboxMaxBytes: DefaultOutboxMaxBytes,
		OutboxSegmentBytes: DefaultOutboxSegmentBytes, NoAckAlarm: DefaultNoAckAlarm, SessionState: "/etc/parkgrid/data/sessions.json",
	}
	if diff := cmp.Diff(want, min.Uplink); diff != "" {
		t.Errorf("uplink defaults (-want +got):\n%s", diff)
	}

	off, err := Load(filepath.Join(goodDir, "uplink_empty_broker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if off.Uplink != nil {
		t.Errorf("empty broker: uplink %+v, want nil (off)", off.Uplink)
	}
}
