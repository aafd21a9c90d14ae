package edge

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/central/broker"
	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/drivers/sim"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/sign"
)

// fakeCentral subscribes to a site's batches, opens each with the gateway
// key (signature first), acks it and keeps what it got.
type fakeCentral struct {
	t   *testing.T
	pub ed25519.PublicKey
	key ed25519.PrivateKey // central's: signs the acks

	mu       sync.Mutex // protects the fields below
	readings []reading.Reading
	events   []reading.Event
	seqs     map[uint64]bool
	bad      []error
	changed  chan struct{} // cap 1: something arrived
}

func newFakeCentral(t *testing.T, brokerURL, site, gateway string, pub ed25519.PublicKey) *fakeCentral {
	t.Helper()
	fc := &fakeCentral{t: t, pub: pub, key: testCentralKey, seqs: map[uint64]bool{}, changed: make(chan struct{}, 1)}
	c := mqttClient(t, brokerURL, "fake-central-"+site)
	keys := func(gw string) (ed25519.PublicKey, error) {
		if gw != gateway {
			return nil, errors.New("unknown gateway")
		}
		return pub, nil
	}
	tok := c.Subscribe(reading.BatchTopic(site), 1, func(c paho.Client, m paho.Message) {
		b, _, err := reading.Open(m.Payload(), keys)
		fc.mu.Lock()
		if err != nil {
			fc.bad = append(fc.bad, err)
		} else {
			fc.seqs[b.Seq] = true
			fc.readings = append(fc.readings, b.Readings...)
			fc.events = append(fc.events, b.Events...)
		}
		fc.mu.Unlock()
		if err == nil {
			ack, _ := reading.SealAck(reading.Ack{Gateway: gateway, Epoch: b.Epoch, Seq: b.Seq}, fc.key)
			c.Publish(reading.AckTopic(site), 1, false, ack) // the handler must not wait on it
		}
		select {
		case fc.changed <- struct{}{}:
		default:
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return fc
}

// testCentralKey is the fake central's ack key; testCentralPub is what the
// edge enrols (Options.UplinkCentralKey).
var (
	testCentralKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0xce}, ed25519.SeedSize))
	testCentralPub = hex.EncodeToString(testCentralKey.Public().(ed25519.PublicKey))
)

// until waits until cond holds on what arrived.
func (fc *fakeCentral) until(what string, within time.Duration, cond func(rs []reading.Reading, es []reading.Event) bool) {
	fc.t.Helper()
	deadline := time.After(within)
	for {
		fc.mu.Lock()
		ok := cond(fc.readings, fc.events)
		bad := fc.bad
		fc.mu.Unlock()
		if len(bad) > 0 {
			fc.t.Fatalf("batches that did not open: %v", bad)
		}
		if ok {
			return
		}
		select {
		case <-fc.changed:
		case <-deadline:
			fc.t.Fatalf("central: %s: not within %s", what, within)
		}
	}
}

func findEvent(es []reading.Event, kind, point string) (reading.Event, bool) {
	for _, e := range es {
		if e.Kind == kind && (point == "" || e.Point == point) {
			return e, true
		}
	}
	return reading.Event{}, false
}

func findSnapshot(rs []reading.Reading, point, tx string) (reading.Reading, bool) {
	for _, r := range rs {
		if r.Quantity == reading.QSnapshot && r.Point == point {
			if rec, err := ocmf.Parse(r.OCMF); err == nil && strings.Contains(string(rec.Payload), `"TX":"`+tx+`"`) {
				return r, true
			}
		}
	}
	return reading.Reading{}, false
}

// TestEdgeUplinkToCentral runs the edge with its uplink against an
// in-process broker and a fake central: meter readings arrive in signed
// batches, each Eichrecht meter's key arrives as a meter-key event, and a
// car arriving and leaving produces begin and end OCMF snapshots that
// verify with that key. Central's acks move the outbox.
func TestEdgeUplinkToCentral(t *testing.T) {
	dir := t.TempDir()
	pub, err := sign.Generate(filepath.Join(dir, "keys"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })

	s := simSmall(t)
	var site, gateway string
	var fc *fakeCentral
	r := startEdgeWith(t, s, func(c *config.Site) {
		site, gateway = c.ID, c.Gateway
		c.Uplink.ReadingInterval = 200 * time.Millisecond
		c.Uplink.BatchMaxDelay = 200 * time.Millisecond
		fc = newFakeCentral(t, b.URL(), site, gateway, pub)
	}, func(o *Options) {
		o.UplinkBroker = b.URL()
		o.UplinkKey = filepath.Join(dir, "keys", sign.PrivateFile)
		o.UplinkOutbox = filepath.Join(dir, "outbox")
		o.UplinkCentralKey = testCentralPub
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.d.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.d.UplinkRunning() {
		t.Fatalf("uplink not running; alarms %+v", r.d.Alarms())
	}

	// Meter readings and the meters' keys.
	fc.until("grid meter readings and p01's meter key", 15*time.Second, func(rs []reading.Reading, es []reading.Event) bool {
		_, key := findEvent(es, eventMeterKey, "p01")
		for _, r := range rs {
			if r.Device == "grid" && r.Quantity == reading.QEnergyWh && !r.Stale && r.Value > 0 && key {
				return true
			}
		}
		return false
	})
	fc.mu.Lock()
	keyEv, _ := findEvent(fc.events, eventMeterKey, "p01")
	var kinds = map[string]int{}
	for _, rd := range fc.readings {
		kinds[rd.Quantity]++
		if rd.Stale && rd.Value != 0 {
			t.Errorf("stale reading with a value: %+v", rd)
		}
	}
	fc.mu.Unlock()
	for _, q := range []string{reading.QEnergyWh, reading.QPowerW, reading.QCurrentL1MA, reading.QVoltageL3DV} {
		if kinds[q] == 0 {
			t.Errorf("no %s readings (got %v)", q, kinds)
		}
	}
	if keyEv.Attrs["device"] != "p01.meter" || keyEv.Attrs["point"] != "p01" || keyEv.Attrs["pubkey"] == "" {
		t.Fatalf("meter-key event %+v", keyEv)
	}
	meterKey, err := ocmf.ParsePublicKey(keyEv.Attrs["pubkey"], "")
	if err != nil {
		t.Fatalf("meter key %q: %v", keyEv.Attrs["pubkey"], err)
	}

	// A car arrives at p01: begin snapshot; it leaves: end snapshot.
	if err := s.PlugCar("p01", sim.Car{Phases: 3, MaxA: 16}); err != nil {
		t.Fatal(err)
	}
	fc.until("p01's begin snapshot", 15*time.Second, func(rs []reading.Reading, _ []reading.Event) bool {
		_, ok := findSnapshot(rs, "p01", "B")
		return ok
	})
	if err := s.UnplugCar("p01"); err != nil {
		t.Fatal(err)
	}
	fc.until("p01's end snapshot", 15*time.Second, func(rs []reading.Reading, _ []reading.Event) bool {
		_, ok := findSnapshot(rs, "p01", "E")
		return ok
	})
	fc.mu.Lock()
	begin, _ := findSnapshot(fc.readings, "p01", "B")
	end, _ := findSnapshot(fc.readings, "p01", "E")
	fc.mu.Unlock()
	if begin.Session == "" || begin.Session != end.Session || !strings.HasPrefix(begin.Session, "p01-") {
		t.Errorf("sessions: begin %q, end %q", begin.Session, end.Session)
	}
	for _, snap := range []reading.Reading{begin, end} {
		rec, err := ocmf.Parse(snap.OCMF)
		if err != nil {
			t.Fatalf("OCMF %q: %v", snap.OCMF, err)
		}
		if err := ocmf.Verify(rec, meterKey); err != nil {
			t.Errorf("OCMF %s does not verify with the meter-key event's key: %v", snap.OCMF, err)
		}
		if !strings.Contains(string(rec.Payload), snap.Session) {
			t.Errorf("OCMF payload %s does not carry the session id %q", rec.Payload, snap.Session)
		}
	}

	// Central's acks reach the outbox.
	r.untilStep("outbox acked", 10*time.Second, func(sim.State) bool {
		st := r.d.uplink.outboxStats()
		return st.Acked > 0 && st.Acked+5 >= st.Head
	})
}

// TestEdgeUplinkRefusesToStartButKeepsCharging: without the gateway key,
// and with a corrupt outbox, the uplink does not start and says so in an
// alarm, while control keeps the cars charging.
func TestEdgeUplinkRefusesToStartButKeepsCharging(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) (key, outbox string)
		want  string
	}{
		{"no key", func(t *testing.T, dir string) (string, string) {
			return filepath.Join(dir, "missing.key"), filepath.Join(dir, "outbox")
		}, "uplink key"},
		{"unusable outbox", func(t *testing.T, dir string) (string, string) {
			if _, err := sign.Generate(dir, false, nil); err != nil {
				t.Fatal(err)
			}
			box := filepath.Join(dir, "outbox")
			if err := os.MkdirAll(box, 0o700); err != nil {
				t.Fatal(err)
			}
			// A damaged epoch file: the records name their epoch, so the
			// outbox cannot be used as it is.
			if err := os.WriteFile(filepath.Join(box, "EPOCH"), []byte("garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, sign.PrivateFile), box
		}, "outbox corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, box := tc.setup(t, t.TempDir())
			s := simSmall(t)
			plugCars(t, s)
			r := startEdgeWith(t, s, func(c *config.Site) { c.Control.RaiseEvery = 0 }, func(o *Options) {
				o.UplinkBroker, o.UplinkKey, o.UplinkOutbox, o.UplinkCentralKey = "tcp://127.0.0.1:1", key, box, testCentralPub
			})
			r.untilStep("cars charging", 15*time.Second, charging(cars...))
			if r.d.UplinkRunning() {
				t.Fatal("uplink running")
			}
			var found *emsapi.Alarm
			for _, a := range r.d.Alarms() {
				if a.ID == alarmUplink {
					found = &a
				}
			}
			if found == nil || !found.Active || !strings.Contains(found.Message, tc.want) {
				t.Errorf("alarms %+v, want %q containing %q", r.d.Alarms(), alarmUplink, tc.want)
			}
		})
	}
}
