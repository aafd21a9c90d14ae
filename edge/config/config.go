package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Site is one car park as its site file describes it. Load fills the
// defaults, so every field holds the value in force.
type Site struct {
	ID       string        `yaml:"site"`
	Gateway  string        `yaml:"gateway"`
	Watchdog time.Duration `yaml:"watchdog"` // charge-controller communication watchdog; default 15s
	// DataDir is where the edge keeps its state (the safety latch);
	// default /var/lib/parkgrid, relative to the site file's directory.
	DataDir string `yaml:"data_dir"`

	Buses        []Bus         `yaml:"buses"`
	Grid         Grid          `yaml:"grid"`
	ChargePoints []ChargePoint `yaml:"charge_points"`
	Safety       Safety        `yaml:"safety"`
	EMS          EMS           `yaml:"ems"`
	Control      Control       `yaml:"control"`
	Uplink       *Uplink       `yaml:"uplink"` // nil: no uplink to central
	Influx       *Influx       `yaml:"influx"` // nil: no time series
	OCPP         *OCPP         `yaml:"ocpp"`   // nil: no OCPP central system (ocpp.go)

	// Path is the file the site was loaded from ("" for LoadBytes without a name).
	Path string `yaml:"-"`
	// Warnings are legal but unusual settings worth a log line.
	Warnings []string `yaml:"-"`

	devices map[string]*Device // by id, filled by Load
}

// Bus is one Modbus line or TCP endpoint, served by one poller.
type Bus struct {
	ID      string        `yaml:"id"`
	TCP     string        `yaml:"tcp"`     // host:port, or
	RTU     *RTU          `yaml:"rtu"`     // a serial line
	Timeout time.Duration `yaml:"timeout"` // per request; default 1s
	Devices []Device      `yaml:"devices"`
}

// RTU is a serial line's settings.
type RTU struct {
	Port     string `yaml:"port"`      // e.g. /dev/ttyUSB0
	Baud     int    `yaml:"baud"`      // default 9600
	Parity   string `yaml:"parity"`    // none, even or odd; default even
	DataBits int    `yaml:"data_bits"` // 7 or 8; default 8
	StopBits int    `yaml:"stop_bits"` // 1 or 2; default 1
}

// Driver names a device family (drivers/<driver>).
type Driver string

// The device families the edge speaks.
const (
	SDM630    Driver = "sdm630"
	Eichrecht Driver = "eichrecht"
	Phoenix   Driver = "phoenix"
	DIInput   Driver = "diinput"
	XYMD02    Driver = "xymd02"
)

var drivers = []Driver{SDM630, Eichrecht, Phoenix, DIInput, XYMD02}

// IsMeter reports whether the driver measures current and energy.
func (d Driver) IsMeter() bool { return d == SDM630 || d == Eichrecht }

// Device is one Modbus device on a bus.
type Device struct {
	ID     string        `yaml:"id"`
	Driver Driver        `yaml:"driver"`
	Unit   int           `yaml:"unit"` // Modbus unit id
	Poll   time.Duration `yaml:"poll"` // poll interval

	// Bus is the id of the bus the device sits on (filled by Load).
	Bus string `yaml:"-"`
}

// PhaseAmps is a per-phase current in whole amperes, grid phases L1..L3. In
// YAML it is one number (all phases) or a list of three.
type PhaseAmps [3]int

// MA returns the currents in mA.
func (p PhaseAmps) MA() [3]int64 {
	return [3]int64{AmpsToMA(p[0]), AmpsToMA(p[1]), AmpsToMA(p[2])}
}

// AmpsToMA converts whole amperes to mA.
func AmpsToMA(a int) int64 { return int64(a) * 1000 }

// UnmarshalYAML accepts `63` or `[63, 63, 50]`.
func (p *PhaseAmps) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		var a int
		if err := n.Decode(&a); err != nil {
			return err
		}
		*p = PhaseAmps{a, a, a}
		return nil
	case yaml.SequenceNode:
		if len(n.Content) != 3 {
			return fmt.Errorf("line %d: a per-phase current is one number or a list of 3 (L1, L2, L3), not a list of %d", n.Line, len(n.Content))
		}
		var a []int
		if err := n.Decode(&a); err != nil {
			return err
		}
		*p = PhaseAmps{a[0], a[1], a[2]}
		return nil
	}
	return fmt.Errorf("line %d: a per-phase current is one number or a list of 3 (L1, L2, L3)", n.Line)
}

// Grid is the grid connection: the root of the site tree.
type Grid struct {
	ID            string         `yaml:"id"` // default "grid"
	Limit         PhaseAmps      `yaml:"limit_a"`
	Unbalance     *int           `yaml:"unbalance_a"` // default 20; 0 = no limit
	Meter         string         `yaml:"meter"`       // grid meter device
	SafeBudget    PhaseAmps      `yaml:"safe_budget_a"`
	MeterMargin   *int           `yaml:"meter_margin_a"` // A kept free below the meter's headroom; default 1 (DefaultMeterMarginA)
	Temperature   *Temperature   `yaml:"temperature"`
	Distributions []Distribution `yaml:"distributions"`
}

// Distribution is a sub-distribution below the grid connection.
type Distribution struct {
	ID          string       `yaml:"id"`
	Limit       PhaseAmps    `yaml:"limit_a"`
	Unbalance   int          `yaml:"unbalance_a"` // 0 = no limit
	SPD         *Input       `yaml:"spd"`         // SPD auxiliary contact (normally closed)
	Temperature *Temperature `yaml:"temperature"`
	Circuits    []Circuit    `yaml:"circuits"`
}

// Circuit is a protected circuit feeding charge points.
type Circuit struct {
	ID          string       `yaml:"id"`
	Limit       PhaseAmps    `yaml:"limit_a"`
	Unbalance   int          `yaml:"unbalance_a"` // 0 = no limit
	Temperature *Temperature `yaml:"temperature"`
}

// Temperature are a node's sensors and thresholds: above DerateAboveC the
// node's limit falls linearly, reaching 0 at StopAboveC, where safety stops
// the node's charge points.
type Temperature struct {
	Sensors      []string `yaml:"sensors"` // xymd02 devices; the hottest fresh one counts
	DerateAboveC int      `yaml:"derate_above_c"`
	StopAboveC   int      `yaml:"stop_above_c"`
	// HysteresisC is how far below StopAboveC the temperature must fall
	// before a stopped node may charge again; default 5.
	HysteresisC int `yaml:"hysteresis_c"`
	// LostC is the temperature the node is derated for while none of its
	// sensors reads: the hottest last reading, or this if higher. Default:
	// halfway between derate_above_c and stop_above_c, so a dead sensor
	// never gives back the full fuse.
	LostC *int `yaml:"lost_c"`
}

// Input is one contact of a digital-input module.
type Input struct {
	Device string `yaml:"device"` // diinput device
	Input  int    `yaml:"input"`  // discrete input address
}

// Phase rotations: charger L1, L2, L3 wired to these grid phases.
const (
	RotationL1L2L3 = "L1L2L3"
	RotationL2L3L1 = "L2L3L1"
	RotationL3L1L2 = "L3L1L2"
	RotationL1L3L2 = "L1L3L2"
	RotationL2L1L3 = "L2L1L3"
	RotationL3L2L1 = "L3L2L1"
)

var rotations = []string{RotationL1L2L3, RotationL2L3L1, RotationL3L1L2, RotationL1L3L2, RotationL2L1L3, RotationL3L2L1}

// ChargePoint is one charger with its controller and meter.
type ChargePoint struct {
	ID         string `yaml:"id"`
	Circuit    string `yaml:"circuit"`
	Controller string `yaml:"controller"` // phoenix device
	Meter      string `yaml:"meter"`      // sdm630 or eichrecht device; optional
	Phases     int    `yaml:"phases"`     // 1 or 3; default 3
	// Rotation wires charger L1, L2, L3 to grid phases, e.g. "L2L3L1";
	// a single-phase charger may name just its phase ("L2"). Default L1L2L3.
	Rotation  string `yaml:"rotation"`
	MinA      int    `yaml:"min_a"` // default 6
	MaxA      int    `yaml:"max_a"`
	FallbackA int    `yaml:"fallback_a"` // 0 or min_a..max_a
	// Access says who lets a car charge: AccessFree ("" too) any car
	// plugged in; AccessCentral only a session central authorised (the
	// point gets no current until then). Central needs an Eichrecht meter.
	Access string `yaml:"access"`
}

// Charge point access (ChargePoint.Access).
const (
	AccessFree    = "free"
	AccessCentral = "central"
)

// GridPhases returns the grid phases (0 = L1) the charger's phases load, in
// charger-phase order: one entry for a single-phase charger, three otherwise.
func (c ChargePoint) GridPhases() []int {
	r := canonicalRotation(c.Rotation)
	if r == "" {
		r = RotationL1L2L3
	}
	ph := []int{int(r[1] - '1'), int(r[3] - '1'), int(r[5] - '1')}
	if c.Phases == 1 {
		return ph[:1]
	}
	return ph
}

// canonicalRotation turns "L1-L2-L3", "l2l3l1" or a single "L2" into one of
// the six rotation constants; it returns "" for anything else.
func canonicalRotation(s string) string {
	s = strings.ToUpper(strings.ReplaceAll(strings.ReplaceAll(s, "-", ""), " ", ""))
	switch s {
	case "L1":
		return RotationL1L2L3
	case "L2":
		return RotationL2L3L1
	case "L3":
		return RotationL3L1L2
	}
	for _, r := range rotations {
		if s == r {
			return r
		}
	}
	return ""
}

// Safety names the fire-alarm contacts and where the latch is kept.
type Safety struct {
	FireLoop    *Input `yaml:"fire_loop"`   // normally closed: 0 = alarm
	Supervision *Input `yaml:"supervision"` // end-of-line supervision: 0 = wire break
	// StateFile keeps the latch and its reset audit across restarts;
	// default <data_dir>/safety.json, relative to the site file's
	// directory. A file that cannot be read starts the edge latched.
	StateFile string `yaml:"state_file"`
	// OfflineAfter is how long the DI module may go unread before it counts
	// as an alarm; default 3 poll intervals of the fire-loop device plus its
	// bus's request timeout (one dead device on a shared line holds the
	// line for a timeout).
	OfflineAfter time.Duration `yaml:"offline_after"`
	// OfflineResumeAfter releases a latch tripped only because the DI
	// module could not be read, once the module has read healthy (loop
	// closed, supervision intact) this long: no fire was seen. Default
	// 10s; 0s keeps such a latch until an operator resets it. An open loop
	// or a wire break always waits for an operator.
	OfflineResumeAfter time.Duration `yaml:"offline_resume_after"`
}

// EMS configures the local API for energy-management systems.
type EMS struct {
	MQTT   *EMSMQTT      `yaml:"mqtt"`
	REST   *EMSREST      `yaml:"rest"`
	MaxTTL time.Duration `yaml:"max_ttl"` // longest TTL a limit may ask for; default 1h
}

// EMSMQTT is the broker the EMS API talks to. Credentials never go in the
// broker URL (URLs are logged); the password is never shown by the API.
type EMSMQTT struct {
	Broker      string `yaml:"broker"`       // e.g. tcp://127.0.0.1:1883, ssl://broker:8883
	TopicPrefix string `yaml:"topic_prefix"` // default parkgrid/v1/<site>/ems

	Username string `yaml:"username"`
	Password string `yaml:"password"` // or:
	// PasswordFile holds the password (first line; relative to the site
	// file; not readable by group or others). Load reads it into Password.
	PasswordFile string     `yaml:"password_file"`
	TLS          *ClientTLS `yaml:"tls"` // optional: CA, client certificate
}

// EMSREST is where and how the REST API listens.
type EMSREST struct {
	Listen string `yaml:"listen"` // host:port
	// Tokens is the token file (parkgrid token): bearer tokens with their
	// scopes, kept as hashes; relative to the site file. Without it the API
	// authenticates nobody, which Load allows on a loopback listen only.
	Tokens string     `yaml:"tokens"`
	TLS    *ServerTLS `yaml:"tls"` // optional: serve HTTPS
	// AllowedHosts are DNS names clients may use for the gateway (Host
	// header), besides IP addresses and localhost (DNS-rebinding guard).
	AllowedHosts []string `yaml:"allowed_hosts"`
	// AllowedOrigins are browser origins (https://ems.example) allowed to
	// call the API besides its own; other cross-site requests are refused.
	AllowedOrigins []string `yaml:"allowed_origins"`
	MaxConns       int      `yaml:"max_conns"`        // connections at once; default 64
	MaxConnsPerIP  int      `yaml:"max_conns_per_ip"` // per client address; default 16
}

// ServerTLS are a server's certificate and key (PEM files, relative to the
// site file).
type ServerTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// ClientTLS are an MQTT client's TLS files (relative to the site file):
// CA alone verifies the broker (empty: the system roots); Cert and Key
// add a client certificate (mTLS).
type ClientTLS struct {
	CA         string `yaml:"ca"`
	Cert       string `yaml:"cert"`
	Key        string `yaml:"key"`
	ServerName string `yaml:"server_name"`
}

// Uplink is the connection to central: signed reading batches through a
// durable outbox to central's MQTT broker. Load resolves relative paths
// against the site file's directory and fills the defaults.
type Uplink struct {
	Broker string `yaml:"broker"` // central's broker, e.g. tcp://127.0.0.1:1884; "" = no uplink
	Key    string `yaml:"key"`    // gateway Ed25519 private key (parkgrid keygen), mode 0600
	Outbox string `yaml:"outbox"` // outbox directory

	// CentralKey is central's Ed25519 public key: 64 hex digits, or the
	// path of a file holding them (relative to the site file; central's
	// `parkgrid keygen` output). Acks and commands not signed with it are
	// ignored; without it the uplink does not start.
	CentralKey string `yaml:"central_key"`

	ReadingInterval    time.Duration `yaml:"reading_interval"`     // each meter's sample into a batch; default 10s
	BatchMaxReadings   int           `yaml:"batch_max_readings"`   // default 500
	BatchMaxDelay      time.Duration `yaml:"batch_max_delay"`      // how long a reading waits in memory at most; default 1s
	OutboxMaxBytes     int64         `yaml:"outbox_max_bytes"`     // default 1 GiB; alarm at 80 %
	OutboxSegmentBytes int64         `yaml:"outbox_segment_bytes"` // outbox segment size; default 4 MiB
	// NoAckAlarm raises the uplink alarm when records wait this long
	// without an ack from central; default 2m.
	NoAckAlarm time.Duration `yaml:"no_ack_alarm"`
	// SessionState is the file that keeps open charging sessions across
	// restarts (relative to the site file); default sessions.json beside
	// the outbox directory.
	SessionState string `yaml:"session_state"`

	TLS *UplinkTLS `yaml:"tls"` // optional (mTLS with cert and key)
	// Username and Password log in to central's broker. Empty: the gateway
	// id and the password derived from the gateway key
	// (reading.MQTTPassword), which central's embedded broker checks
	// against the enrolled key.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile holds the password instead (first line; relative to the
	// site file; not readable by group or others). Load reads it into
	// Password.
	PasswordFile string `yaml:"password_file"`
}

// UplinkTLS are the uplink's TLS files (relative to the site file).
type UplinkTLS = ClientTLS

// WithDefaults returns u with every unset tunable at its default.
func (u Uplink) WithDefaults() Uplink {
	if u.ReadingInterval == 0 {
		u.ReadingInterval = DefaultReadingInterval
	}
	if u.BatchMaxReadings == 0 {
		u.BatchMaxReadings = DefaultBatchMaxReadings
	}
	if u.BatchMaxDelay == 0 {
		u.BatchMaxDelay = DefaultBatchMaxDelay
	}
	if u.OutboxMaxBytes == 0 {
		u.OutboxMaxBytes = DefaultOutboxMaxBytes
	}
	if u.OutboxSegmentBytes == 0 {
		u.OutboxSegmentBytes = DefaultOutboxSegmentBytes
	}
	if u.NoAckAlarm == 0 {
		u.NoAckAlarm = DefaultNoAckAlarm
	}
	if u.SessionState == "" && u.Outbox != "" {
		u.SessionState = filepath.Join(filepath.Dir(filepath.Clean(u.Outbox)), "sessions.json")
	}
	return u
}

// Influx is the InfluxDB the edge writes its time series to (per-point
// current, power, energy and the grid values, once per control step).
type Influx struct {
	URL    string `yaml:"url"`    // e.g. http://127.0.0.1:8086
	Token  string `yaml:"token"`  // InfluxDB 2 token, or "user:password" for 1.8
	Org    string `yaml:"org"`    // InfluxDB 2 org
	Bucket string `yaml:"bucket"` // InfluxDB 2 bucket, or "database/retention-policy" for 1.8
}

// Control tunes the control loop.
type Control struct {
	Interval       time.Duration `yaml:"interval"`         // default 1s
	GridStaleAfter time.Duration `yaml:"grid_stale_after"` // default 2s
	// Para14aDevices is the number of steerable consumers behind the grid
	// connection for the §14a floor; default: the number of charge points.
	Para14aDevices int `yaml:"para14a_devices"`
	// MaxParallelWrites bounds concurrent setpoint writes; default 32.
	MaxParallelWrites int `yaml:"max_parallel_writes"`
	// RaiseEvery is the least time between two raises of one charge
	// point; default 10s. Cuts are never delayed.
	RaiseEvery time.Duration `yaml:"raise_every"`
	// DeadbandA: a raise smaller than this is not written; default 1.
	DeadbandA int `yaml:"deadband_a"`
	// MinOn and MinOff protect contactors and cars when not every car fits
	// at 6 A and cars take turns; defaults 1m and 3m.
	MinOn  time.Duration `yaml:"min_on"`
	MinOff time.Duration `yaml:"min_off"`
}

// Device returns the device with the given id.
func (s *Site) Device(id string) (Device, bool) {
	d, ok := s.devices[id]
	if !ok {
		return Device{}, false
	}
	return *d, true
}

// Devices returns every device in bus order.
func (s *Site) Devices() []Device {
	var out []Device
	for _, b := range s.Buses {
		out = append(out, b.Devices...)
	}
	return out
}
