package emsapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// pubQoS is the QoS of everything the edge publishes. It is 0 on purpose:
// paho (v1.5.1) races when a QoS 1 message is published while it resumes
// its store after a reconnect (eclipse-paho/paho.mqtt.golang#703, seen
// here under -race), and QoS 0 loses nothing that matters: every retained
// topic is republished on each (re)connect, and an EMS that gets no reply
// sends its command again. Commands are subscribed with QoS 1 and the LWT
// has QoS 1; neither goes through the client's store on resume.
const pubQoS = 0

// Status payloads on <prefix>/status.
const (
	StatusOnline  = "online"
	StatusOffline = "offline"
)

// MQTTOptions configure the MQTT side of the API.
type MQTTOptions struct {
	Options

	Site        string      // site id; names the default topic prefix and the Home Assistant entities
	Broker      string      // e.g. tcp://127.0.0.1:1883, ssl://broker:8883; never with user:password@ (it is logged)
	ClientID    string      // default parkgrid-<site>-ems; must be unique on the broker
	Username    string      // never logged
	Password    string      // never logged
	TLS         *tls.Config // nil: plain TCP unless the scheme (ssl, tls, mqtts, wss) asks for TLS with the system roots
	TopicPrefix string      // default parkgrid/v1/<site>/ems

	StateInterval time.Duration // how often state is published; default 1 s

	HomeAssistant   bool   // publish Home Assistant MQTT discovery configs
	DiscoveryPrefix string // default homeassistant
}

// Topics names the topics under one prefix.
type Topics struct{ Prefix string }

// Status is the retained online/offline topic (the LWT).
func (t Topics) Status() string { return t.Prefix + "/status" }

// State is the retained site state topic.
func (t Topics) State() string { return t.Prefix + "/state" }

// Point is the retained state topic of one charge point.
func (t Topics) Point(id string) string { return t.Prefix + "/point/" + TopicSegment(id) + "/state" }

// Alarms is the retained alarms topic.
func (t Topics) Alarms() string { return t.Prefix + "/alarms" }

// LimitSet is the command topic for limits.
func (t Topics) LimitSet() string { return t.Prefix + "/limit/set" }

// LimitReply is the topic where limit commands are answered.
func (t Topics) LimitReply() string { return t.Prefix + "/limit/reply" }

// TopicSegment makes an id safe as one topic level: MQTT wildcards, the
// level separator and NUL become '_'.
func TopicSegment(id string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', '+', '#', 0:
			return '_'
		}
		return r
	}, id)
}

// command is a message received on the limit topic.
type command struct {
	payload  []byte
	retained bool
}

// MQTT publishes the site's state and takes limit commands over MQTT. Make
// it with NewMQTT and run it with Run.
type MQTT struct {
	o      MQTTOptions
	topics Topics

	connected chan struct{} // paho's OnConnect signals Run (cap 1)
	cmds      chan command  // paho's message handler hands commands to Run
	dropped   atomic.Uint64 // commands dropped because Run was busy
	running   atomic.Bool

	// Owned by Run's goroutine.
	client     paho.Client
	subscribed bool
	lastPoints map[string]PointState // as last published, At zeroed
	lastAlarms []byte
	discovered map[string]bool // points with Home Assistant configs published
}

// NewMQTT checks the options; it does no I/O.
func NewMQTT(o MQTTOptions) (*MQTT, error) {
	if err := o.Options.check(); err != nil {
		return nil, err
	}
	if o.Site == "" || TopicSegment(o.Site) != o.Site {
		return nil, fmt.Errorf("emsapi: MQTTOptions.Site %q must be a non-empty topic level (no '/', '+', '#')", o.Site)
	}
	if o.Broker == "" {
		return nil, errors.New("emsapi: MQTTOptions.Broker is empty")
	}
	if u, err := url.Parse(o.Broker); err != nil || u.User != nil {
		return nil, errors.New("emsapi: MQTTOptions.Broker must be a URL without user:password@ (use Username and Password; URLs are logged)")
	}
	if o.ClientID == "" {
		o.ClientID = "parkgrid-" + o.Site + "-ems"
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = "parkgrid/v1/" + o.Site + "/ems"
	}
	o.TopicPrefix = strings.TrimSuffix(o.TopicPrefix, "/")
	if strings.ContainsAny(o.TopicPrefix, "+#") {
		return nil, fmt.Errorf("emsapi: MQTTOptions.TopicPrefix %q contains a wildcard", o.TopicPrefix)
	}
	if o.StateInterval < 0 {
		return nil, fmt.Errorf("emsapi: MQTTOptions.StateInterval %s is negative", o.StateInterval)
	}
	if o.StateInterval == 0 {
		o.StateInterval = time.Second
	}
	if o.DiscoveryPrefix == "" {
		o.DiscoveryPrefix = "homeassistant"
	}
	return &MQTT{
		o:         o,
		topics:    Topics{Prefix: o.TopicPrefix},
		connected: make(chan struct{}, 1),
		cmds:      make(chan command, 16),
	}, nil
}

// Topics returns the topics m uses.
func (m *MQTT) Topics() Topics { return m.topics }

// Dropped returns how many commands were dropped because they arrived
// faster than the Controller took them.
func (m *MQTT) Dropped() uint64 { return m.dropped.Load() }

// Run connects to the broker (retrying until it can), publishes state every
// StateInterval and answers limit commands until ctx ends. It reconnects
// by itself. On return it has published "offline" (if connected) and
// disconnected; it returns ctx.Err(). Run may be called once.
func (m *MQTT) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("emsapi: MQTT.Run called twice")
	}
	log := m.o.Logger
	opts := paho.NewClientOptions().
		AddBroker(m.o.Broker).
		SetClientID(m.o.ClientID).
		SetUsername(m.o.Username).
		SetPassword(m.o.Password).
		SetCleanSession(true). // commands are not queued for us while we are away
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(2*time.Second).
		SetMaxReconnectInterval(30*time.Second).
		SetConnectTimeout(5*time.Second).
		SetWriteTimeout(publishTimeout).
		SetKeepAlive(30*time.Second).
		SetWill(m.topics.Status(), StatusOffline, 1, true).
		SetOnConnectHandler(func(paho.Client) {
			select {
			case m.connected <- struct{}{}:
			default: // Run has a signal pending already
			}
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			log.Warn("emsapi: MQTT connection lost", "broker", m.o.Broker, "err", err)
		})
	if m.o.TLS != nil {
		opts.SetTLSConfig(m.o.TLS)
	}
	m.client = paho.NewClient(opts)
	m.client.Connect() // with ConnectRetry the token completes only once connected; OnConnect tells us
	defer m.shutdown()

	tick := time.NewTicker(m.o.StateInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.connected:
			m.onConnect()
		case c := <-m.cmds:
			m.handle(ctx, c)
		case <-tick.C:
			if !m.subscribed && m.client.IsConnectionOpen() {
				m.subscribe()
			}
			m.publishState()
		}
	}
}

// shutdown says goodbye and disconnects.
func (m *MQTT) shutdown() {
	if m.client.IsConnectionOpen() {
		t := m.client.Publish(m.topics.Status(), pubQoS, true, StatusOffline)
		if !t.WaitTimeout(2*time.Second) || t.Error() != nil {
			m.o.Logger.Warn("emsapi: publish offline status", "err", t.Error())
		}
	}
	m.client.Disconnect(250)
}

// onConnect runs on every (re)connect: the broker may have lost our
// subscription and our retained messages (clean session, or a broker
// restarted without persistence), so both are made anew.
func (m *MQTT) onConnect() {
	m.o.Logger.Info("emsapi: MQTT connected", "broker", m.o.Broker, "prefix", m.o.TopicPrefix)
	m.subscribed = false
	m.lastPoints = map[string]PointState{}
	m.lastAlarms = nil
	m.discovered = map[string]bool{}
	m.wait("status", m.client.Publish(m.topics.Status(), pubQoS, true, StatusOnline))
	m.subscribe()
	m.publishState()
}

func (m *MQTT) subscribe() {
	t := m.client.Subscribe(m.topics.LimitSet(), 1, m.onMessage)
	if !t.WaitTimeout(publishTimeout) {
		m.o.Logger.Error("emsapi: subscribe timed out", "topic", m.topics.LimitSet())
		return
	}
	if err := t.Error(); err != nil {
		m.o.Logger.Error("emsapi: subscribe", "topic", m.topics.LimitSet(), "err", err)
		return
	}
	m.subscribed = true
}

// onMessage runs on paho's goroutine: it must not block, so it only hands
// the command to Run.
func (m *MQTT) onMessage(_ paho.Client, msg paho.Message) {
	c := command{payload: append([]byte(nil), msg.Payload()...), retained: msg.Retained()}
	select {
	case m.cmds <- c:
	default:
		m.dropped.Add(1)
		m.o.Logger.Warn("emsapi: limit command dropped: too many pending", "topic", msg.Topic())
	}
}

// handle parses, applies and answers one command.
func (m *MQTT) handle(ctx context.Context, c command) {
	if len(c.payload) == 0 {
		return // clears a retained message; not a command
	}
	reply := m.apply(ctx, c)
	b, err := json.Marshal(reply)
	if err != nil {
		m.o.Logger.Error("emsapi: encode limit reply", "err", err)
		return
	}
	m.wait("limit reply", m.client.Publish(m.topics.LimitReply(), pubQoS, false, b))
	if reply.OK {
		m.publishState() // show the new limit now, not a tick later
	}
}

func (m *MQTT) apply(ctx context.Context, c command) LimitReply {
	log := m.o.Logger
	req, err := ParseLimit(c.payload, m.o.MaxTTL)
	if err == nil && c.retained {
		err = fmt.Errorf("limit request: %w: the message is retained; publish commands with retain=false (a retained command would be replayed on every reconnect)", ErrInvalid)
	}
	if err != nil {
		log.Warn("emsapi: limit command rejected", "request", req.RequestID, "err", err)
		return LimitReply{RequestID: req.RequestID, Error: err.Error()}
	}
	cctx, cancel := context.WithTimeout(ctx, controllerTimeout)
	defer cancel()
	eff, err := m.o.Controller.SetLimit(cctx, req, m.o.Now())
	if err != nil {
		log.Warn("emsapi: limit command refused", "request", req.RequestID, "err", err)
		msg := err.Error()
		if StatusOf(err) == 500 {
			msg = "internal error (logged on the edge)"
		}
		return LimitReply{RequestID: req.RequestID, Error: msg}
	}
	log.Info("emsapi: limit set over MQTT", "request", req.RequestID, "ttl", req.TTL)
	return LimitReply{RequestID: req.RequestID, OK: true, Effective: &eff}
}

// publishState publishes the site state, changed points and changed alarms.
func (m *MQTT) publishState() {
	if !m.client.IsConnectionOpen() || m.lastPoints == nil {
		return // onConnect starts over
	}
	var pending []func()
	publish := func(what, topic string, v any, failed func()) {
		b, err := json.Marshal(v)
		if err != nil {
			m.o.Logger.Error("emsapi: encode "+what, "err", err)
			return
		}
		t := m.client.Publish(topic, pubQoS, true, b)
		pending = append(pending, func() {
			if !m.wait(what, t) && failed != nil {
				failed()
			}
		})
	}

	publish("site state", m.topics.State(), siteOf(m.o.Source.Site()), nil)

	for _, p := range m.o.Source.Points() {
		key := p
		key.At = time.Time{}
		if last, ok := m.lastPoints[p.ID]; ok && last == key {
			continue
		}
		m.lastPoints[p.ID] = key
		id := p.ID
		publish("point state", m.topics.Point(id), p, func() { delete(m.lastPoints, id) })
		if m.o.HomeAssistant && !m.discovered[id] {
			m.discovered[id] = true
			for _, d := range m.discovery(id) {
				publish("discovery", d.topic, d.config, func() { delete(m.discovered, id) })
			}
		}
	}

	alarms, err := json.Marshal(alarmListOf(m.o.Source.Alarms()))
	if err == nil && string(alarms) != string(m.lastAlarms) {
		m.lastAlarms = alarms
		publish("alarms", m.topics.Alarms(), json.RawMessage(alarms), func() { m.lastAlarms = nil })
	}

	for _, wait := range pending {
		wait()
	}
}

// wait waits for a token and reports whether it succeeded.
func (m *MQTT) wait(what string, t paho.Token) bool {
	if !t.WaitTimeout(publishTimeout) {
		m.o.Logger.Warn("emsapi: publish timed out", "what", what)
		return false
	}
	if err := t.Error(); err != nil {
		m.o.Logger.Warn("emsapi: publish", "what", what, "err", err)
		return false
	}
	return true
}
