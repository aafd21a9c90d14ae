package command

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// MQTTConfig configures the broker connection of the commands.
type MQTTConfig struct {
	Broker   string // tcp://… or ssl://…
	ClientID string // unique per replica (central's ingest id + "-cmd")
	Username string
	Password string
	TLS      *tls.Config
	// ReplyTopic is the filter the replies come on (default
	// reading.SharedReplyTopic: every site's; a login limited to one site
	// uses reading.ReplyTopic(site)).
	ReplyTopic string
	Log        *slog.Logger
}

// MQTT is the broker connection: it publishes commands and feeds every
// reply (MQTTConfig.ReplyTopic, not shared) to a handler. Create it
// with NewMQTT, run it with Run.
type MQTT struct {
	cfg     MQTTConfig
	onReply func([]byte)

	mu     sync.Mutex // protects client
	client mqtt.Client
	ready  chan struct{} // closed once subscribed the first time
	once   sync.Once
}

var _ Publisher = (*MQTT)(nil)

// NewMQTT returns the connection; onReply gets each reply message
// (Commander.HandleReply).
func NewMQTT(cfg MQTTConfig, onReply func([]byte)) *MQTT {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReplyTopic == "" {
		cfg.ReplyTopic = reading.SharedReplyTopic
	}
	return &MQTT{cfg: cfg, onReply: onReply, ready: make(chan struct{})}
}

// Ready is closed once the connection subscribed to the replies.
func (m *MQTT) Ready() <-chan struct{} { return m.ready }

// Run connects (and reconnects) until ctx ends.
func (m *MQTT) Run(ctx context.Context) error {
	opts := mqtt.NewClientOptions().
		AddBroker(m.cfg.Broker).
		SetClientID(m.cfg.ClientID).
		SetUsername(m.cfg.Username).
		SetPassword(m.cfg.Password).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(false).
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.Subscribe(m.cfg.ReplyTopic, 1, func(_ mqtt.Client, msg mqtt.Message) { m.onReply(msg.Payload()) })
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				m.cfg.Log.Error("command replies: subscribe failed", "topic", m.cfg.ReplyTopic, "err", tok.Error())
				return
			}
			m.cfg.Log.Info("command replies subscribed", "topic", m.cfg.ReplyTopic, "client", m.cfg.ClientID)
			m.once.Do(func() { close(m.ready) })
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			m.cfg.Log.Warn("command connection lost; reconnecting", "err", err)
		})
	if m.cfg.TLS != nil {
		opts.SetTLSConfig(m.cfg.TLS)
	}
	c := mqtt.NewClient(opts)
	m.mu.Lock()
	m.client = c
	m.mu.Unlock()
	tok := c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("command connection: connect %s: %w", m.cfg.Broker, err)
		}
	case <-ctx.Done():
	}
	<-ctx.Done()
	c.Disconnect(250)
	return nil
}

// Publish implements Publisher (QoS 1).
func (m *MQTT) Publish(ctx context.Context, topic string, payload []byte) error {
	m.mu.Lock()
	c := m.client
	m.mu.Unlock()
	if c == nil || !c.IsConnectionOpen() {
		return fmt.Errorf("publish %s: not connected to the broker", topic)
	}
	tok := c.Publish(topic, 1, false, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish %s: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
}
