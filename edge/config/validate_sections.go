package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The sections beside the device tree: safety, the EMS APIs, the control
// loop, the uplink to central and InfluxDB.

func (v *validator) safety() {
	sf := &v.site.Safety
	if sf.FireLoop == nil {
		v.errf("safety.fire_loop", "safety: fire_loop is missing: every site wires its fire-alarm loop to a DI module")
	}
	v.input("safety.fire_loop", "safety fire_loop", sf.FireLoop)
	v.input("safety.supervision", "safety supervision", sf.Supervision)
	dir := filepath.Dir(v.site.Path)
	switch d := &v.site.DataDir; {
	case *d == "":
		*d = DefaultDataDir
	case !filepath.IsAbs(*d):
		*d = filepath.Join(dir, *d)
	}
	switch {
	case sf.StateFile == "":
		sf.StateFile = filepath.Join(v.site.DataDir, DefaultStateFile)
	case !filepath.IsAbs(sf.StateFile):
		sf.StateFile = filepath.Join(dir, sf.StateFile)
	}
	switch {
	case sf.OfflineResumeAfter == 0 && !v.has("safety.offline_resume_after"):
		sf.OfflineResumeAfter = DefaultOfflineResumeAfter
	case sf.OfflineResumeAfter < 0:
		v.errf("safety.offline_resume_after", "safety: offline_resume_after %s must be >= 0 (0: an operator resets)", sf.OfflineResumeAfter)
	}
	if sf.OfflineAfter < 0 {
		v.errf("safety.offline_after", "safety: offline_after %s must be > 0", sf.OfflineAfter)
	} else if sf.OfflineAfter == 0 && sf.FireLoop != nil {
		// Three poll intervals, plus one request timeout of its bus: a dead
		// device elsewhere on a shared line may hold the line that long.
		if d, ok := v.site.devices[sf.FireLoop.Device]; ok {
			sf.OfflineAfter = 3 * d.Poll
			for _, b := range v.site.Buses {
				if b.ID == d.Bus {
					sf.OfflineAfter += b.Timeout
				}
			}
		}
	}
}

func (v *validator) ems() {
	e := &v.site.EMS
	if e.MQTT != nil {
		u, err := url.Parse(e.MQTT.Broker)
		if e.MQTT.Broker == "" || err != nil || u.Host == "" || !slices.Contains([]string{"tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"}, u.Scheme) {
			v.errf("ems.mqtt.broker", "ems: broker %q is not a URL like tcp://host:1883", redactURL(e.MQTT.Broker))
		}
		if e.MQTT.TopicPrefix == "" {
			e.MQTT.TopicPrefix = "parkgrid/v1/" + v.site.ID + "/ems"
		} else if strings.ContainsAny(e.MQTT.TopicPrefix, "+#") || strings.HasSuffix(e.MQTT.TopicPrefix, "/") {
			v.errf("ems.mqtt.topic_prefix", "ems: topic_prefix %q must not hold wildcards or end in '/'", e.MQTT.TopicPrefix)
		}
		v.emsMQTTSecurity(e.MQTT)
	}
	if e.REST != nil {
		if _, port, err := net.SplitHostPort(e.REST.Listen); err != nil || port == "" {
			v.errf("ems.rest.listen", "ems: rest listen %q is not host:port", e.REST.Listen)
		}
		v.restSecurity(e.REST)
	}
	switch {
	case e.MaxTTL == 0 && !v.has("ems.max_ttl"):
		e.MaxTTL = DefaultMaxTTL
	case e.MaxTTL <= 0:
		v.errf("ems.max_ttl", "ems: max_ttl %s must be > 0", e.MaxTTL)
	}
}

func (v *validator) control() {
	c := &v.site.Control
	switch {
	case c.Interval == 0 && !v.has("control.interval"):
		c.Interval = DefaultControlInterval
	case c.Interval <= 0:
		v.errf("control.interval", "control: interval %s must be > 0", c.Interval)
	}
	switch {
	case c.GridStaleAfter == 0 && !v.has("control.grid_stale_after"):
		c.GridStaleAfter = DefaultGridStaleAfter
	case c.GridStaleAfter <= 0:
		v.errf("control.grid_stale_after", "control: grid_stale_after %s must be > 0", c.GridStaleAfter)
	}
	if c.Para14aDevices < 0 {
		v.errf("control.para14a_devices", "control: para14a_devices %d must be >= 0", c.Para14aDevices)
	}
	switch {
	case c.MaxParallelWrites == 0 && !v.has("control.max_parallel_writes"):
		c.MaxParallelWrites = DefaultMaxParallelWrites
	case c.MaxParallelWrites < 1:
		v.errf("control.max_parallel_writes", "control: max_parallel_writes %d must be >= 1", c.MaxParallelWrites)
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{{"raise_every", &c.RaiseEvery, DefaultRaiseEvery}, {"min_on", &c.MinOn, DefaultMinOn}, {"min_off", &c.MinOff, DefaultMinOff}}
	for _, x := range durations {
		switch {
		case *x.d == 0 && !v.has("control."+x.name):
			*x.d = x.def
		case *x.d < 0:
			v.errf("control."+x.name, "control: %s %s must be >= 0", x.name, *x.d)
		}
	}
	switch {
	case c.DeadbandA == 0 && !v.has("control.deadband_a"):
		c.DeadbandA = DefaultDeadbandA
	case c.DeadbandA < 0:
		v.errf("control.deadband_a", "control: deadband_a %d must be >= 0", c.DeadbandA)
	}
}

func (v *validator) uplink() {
	u := v.site.Uplink
	if u == nil {
		return
	}
	if u.Broker == "" {
		// An empty broker switches the uplink off (the section may stay as
		// a template); nothing else in it is checked.
		v.site.Uplink = nil
		return
	}
	if p, err := url.Parse(u.Broker); err != nil || p.Host == "" || !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts"}, p.Scheme) {
		v.errf("uplink.broker", "uplink: broker %q is not a URL like tcp://host:1883 (schemes tcp, mqtt, ssl, tls, mqtts)", redactURL(u.Broker))
	}
	v.uplinkSecurity(u)
	if u.Key == "" {
		v.errf("uplink.key", "uplink: key is missing: the gateway's Ed25519 private key (parkgrid keygen)")
	}
	if u.Outbox == "" {
		v.errf("uplink.outbox", "uplink: outbox is missing: the directory that keeps batches until central acknowledges them")
	}
	dir := filepath.Dir(v.site.Path)
	resolve := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	resolve(&u.Key)
	resolve(&u.Outbox)
	resolve(&u.SessionState)
	switch {
	case u.CentralKey == "":
		v.warnf("uplink.central_key", "uplink: central_key is missing: acks from central cannot be verified, so the uplink will not start")
	case !isHexKey(u.CentralKey):
		resolve(&u.CentralKey) // a key file, read when the uplink starts
	}
	if u.OutboxSegmentBytes < 0 || (u.OutboxSegmentBytes > 0 && (u.OutboxSegmentBytes < 64<<10 || u.OutboxSegmentBytes > 1<<30)) {
		v.errf("uplink.outbox_segment_bytes", "uplink: outbox_segment_bytes %d must be between 64 KiB and 1 GiB", u.OutboxSegmentBytes)
	}
	if u.NoAckAlarm < 0 || (u.NoAckAlarm == 0 && v.has("uplink.no_ack_alarm")) {
		v.errf("uplink.no_ack_alarm", "uplink: no_ack_alarm %s must be > 0", u.NoAckAlarm)
	}
	if u.ReadingInterval < 0 || (u.ReadingInterval == 0 && v.has("uplink.reading_interval")) {
		v.errf("uplink.reading_interval", "uplink: reading_interval %s must be > 0", u.ReadingInterval)
	}
	if u.BatchMaxReadings < 0 || (u.BatchMaxReadings == 0 && v.has("uplink.batch_max_readings")) {
		v.errf("uplink.batch_max_readings", "uplink: batch_max_readings %d must be >= 1", u.BatchMaxReadings)
	}
	if u.BatchMaxDelay < 0 || (u.BatchMaxDelay == 0 && v.has("uplink.batch_max_delay")) {
		v.errf("uplink.batch_max_delay", "uplink: batch_max_delay %s must be > 0", u.BatchMaxDelay)
	}
	if u.OutboxMaxBytes < 0 || (u.OutboxMaxBytes == 0 && v.has("uplink.outbox_max_bytes")) {
		v.errf("uplink.outbox_max_bytes", "uplink: outbox_max_bytes %d must be > 0", u.OutboxMaxBytes)
	} else if u.OutboxMaxBytes > 0 && u.OutboxMaxBytes < 1<<20 {
		v.errf("uplink.outbox_max_bytes", "uplink: outbox_max_bytes %d is below 1 MiB", u.OutboxMaxBytes)
	}
	*u = u.WithDefaults()
	v.clientTLS("uplink", "uplink", u.TLS)
}

func (v *validator) influx() {
	in := v.site.Influx
	if in == nil {
		return
	}
	if p, err := url.Parse(in.URL); in.URL == "" || err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		v.errf("influx.url", "influx: url %q is not a URL like http://127.0.0.1:8086", in.URL)
	}
	if in.Bucket == "" {
		v.errf("influx.bucket", "influx: bucket is missing")
	}
}

// unusedDevices warns about devices no role refers to, except DI modules and
// meters, which may be polled for their readings alone.
func (v *validator) unusedDevices() {
	s := v.site
	used := map[string]bool{s.Grid.Meter: true}
	for _, c := range s.ChargePoints {
		used[c.Controller] = true
		used[c.Meter] = true
	}
	for bi, b := range s.Buses {
		for di, d := range b.Devices {
			if d.Driver == Phoenix && !used[d.ID] {
				v.warnf(fmt.Sprintf("buses[%d].devices[%d]", bi, di), "charge controller %q belongs to no charge point", d.ID)
			}
		}
	}
}

// isHexKey reports whether s is an Ed25519 public key in hex (64 digits).
func isHexKey(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
