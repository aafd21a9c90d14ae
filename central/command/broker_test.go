package command_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/central/command"
	edgecommand "github.com/parkgrid/parkgrid/edge/command"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// siteDir answers one site's gateway and key.
type siteDir struct {
	site, gateway string
	key           ed25519.PublicKey
}

func (d siteDir) SiteGateway(_ context.Context, site string) (string, ed25519.PublicKey, error) {
	if site != d.site {
		return "", nil, command.ErrNoGateway
	}
	return d.gateway, d.key, nil
}

// edgeSite plays the edge's control loop and safety latch: one EMS limit
// slot, a latch that refuses to reset while alarm is set.
type edgeSite struct {
	mu      sync.Mutex // protects the fields below
	limit   *reading.SiteLimit
	resets  []string
	alarm   bool
	latched bool
}

func (s *edgeSite) SetLimit(_ context.Context, l reading.SiteLimit, requestID string, now time.Time) (reading.LimitInForce, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Withdraw() {
		s.limit = nil
		return reading.LimitInForce{Source: "fuse", MaxCurrentMA: [3]int64{63_000, 63_000, 63_000}}, nil
	}
	s.limit = &l
	return reading.LimitInForce{Source: "ems", MaxCurrentMA: *l.MaxCurrentMA, Expires: now.Add(l.TTL), RequestID: requestID}, nil
}

func (s *edgeSite) ResetSafety(_ context.Context, who, why string, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.latched:
		return errors.New("not latched")
	case s.alarm:
		return errors.New("alarm still present: fire-alarm loop open")
	}
	s.latched = false
	s.resets = append(s.resets, who+": "+why)
	return nil
}

// noSessions is the edge's session manager, unused here.
type noSessions struct{}

func (noSessions) Authorise(context.Context, reading.Authorisation) (map[string]string, error) {
	return nil, errors.New("no sessions here")
}

func (noSessions) Stop(context.Context, string, string) (map[string]string, error) {
	return nil, errors.New("no sessions here")
}

// TestSiteCommandsOverBroker: central's Commander and the edge's command
// handler over a real broker (Mosquitto): a limit is set and withdrawn,
// a safety reset is refused while the alarm is present and then done;
// each answer is signed by the gateway and verified by central.
func TestSiteCommandsOverBroker(t *testing.T) {
	addr := svctest.MosquittoAddr(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	site, gw := "cmdtest-"+hex.EncodeToString(rnd[:]), "gw-"+hex.EncodeToString(rnd[:])
	_, centralKey, _ := ed25519.GenerateKey(rand.Reader)
	gwPub, gwKey, _ := ed25519.GenerateKey(rand.Reader)

	// The edge: edge/command's handler on its own connection.
	es := &edgeSite{latched: true, alarm: true}
	h, err := edgecommand.New(edgecommand.Config{Site: site, Gateway: gw, CentralKey: centralKey.Public().(ed25519.PublicKey), Key: gwKey,
		StateFile: filepath.Join(t.TempDir(), "commands.json"), Exec: noSessions{}, SiteExec: es})
	if err != nil {
		t.Fatal(err)
	}
	ec := mqtt.NewClient(mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(gw).SetCleanSession(true))
	if tok := ec.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("edge connect: %v", tok.Error())
	}
	defer ec.Disconnect(100)
	onCmd := func(cl mqtt.Client, m mqtt.Message) {
		if out := h.Handle(context.Background(), m.Payload()); out != nil {
			cl.Publish(reading.ReplyTopic(site), 1, false, out)
		}
	}
	if tok := ec.Subscribe(reading.CmdTopic(site), 1, onCmd); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("edge subscribe: %v", tok.Error())
	}

	// Central: the Commander on its MQTT connection.
	var cmd *command.Commander
	conn := command.NewMQTT(command.MQTTConfig{Broker: "tcp://" + addr, ClientID: "central-" + site, ReplyTopic: reading.ReplyTopic(site)},
		func(msg []byte) { cmd.HandleReply(msg) })
	cmd, err = command.New(command.Config{Key: centralKey, Directory: siteDir{site, gw, gwPub}, Publisher: conn, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- conn.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-conn.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("central's command connection not ready")
	}

	ma := [3]int64{20_000, 20_000, 20_000}
	eff, err := cmd.SetLimit(ctx, site, command.Limit{MaxCurrentMA: &ma, TTL: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if eff.Source != "ems" || eff.MaxCurrentMA != ma || !strings.HasPrefix(eff.RequestID, "central/") || time.Until(eff.Expires) < time.Minute {
		t.Errorf("effective %+v", eff)
	}
	if es.limit == nil || es.limit.TTL != 2*time.Minute {
		t.Errorf("edge limit %+v", es.limit)
	}
	if eff, err = cmd.SetLimit(ctx, site, command.Limit{}); err != nil || eff.Source != "fuse" || !eff.Expires.IsZero() {
		t.Errorf("withdraw: %+v, %v", eff, err)
	}
	if err := cmd.ResetSafety(ctx, site, "ops", "all clear"); !errors.Is(err, command.ErrRefused) || !strings.Contains(err.Error(), "alarm still present") {
		t.Errorf("reset while the alarm is present: %v, want ErrRefused naming the alarm", err)
	}
	es.mu.Lock()
	es.alarm = false
	es.mu.Unlock()
	if err := cmd.ResetSafety(ctx, site, "ops", "all clear"); err != nil {
		t.Errorf("reset: %v", err)
	}
	if es.resets == nil || es.resets[0] != "ops via central: all clear" {
		t.Errorf("resets %v", es.resets)
	}
	if s := cmd.Stats(); s.Sent != 4 || s.Answered != 4 || s.Forged != 0 {
		t.Errorf("stats %+v", s)
	}
}
