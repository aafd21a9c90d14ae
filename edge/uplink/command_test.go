package uplink

import (
	"context"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// TestCommandsReachOnCommandAndRepliesArePublished: a message on the
// site's command topic reaches OnCommand in order and what it returns is
// published on the reply topic; a nil answer publishes nothing.
func TestCommandsReachOnCommandAndRepliesArePublished(t *testing.T) {
	b := startBroker(t)
	f := newFixture(t, "cmd-p1")
	got := make(chan string, 10)
	f.run(t, Config{Broker: b.url(), OnCommand: func(_ context.Context, msg []byte) []byte {
		got <- string(msg)
		if string(msg) == "quiet" {
			return nil
		}
		return []byte("re:" + string(msg))
	}})

	replies := make(chan string, 10)
	c := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.url()).SetClientID("central-test"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	if tok := c.Subscribe(reading.ReplyTopic(f.site), 1, func(_ mqtt.Client, m mqtt.Message) { replies <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	deadline := time.Now().Add(10 * time.Second)
	for !f.up.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("uplink not connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range []string{"one", "quiet", "two"} {
		if tok := c.Publish(reading.CmdTopic(f.site), 1, false, m); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	for _, want := range []string{"one", "quiet", "two"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("OnCommand got %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("OnCommand did not get %q", want)
		}
	}
	for _, want := range []string{"re:one", "re:two"} {
		select {
		case m := <-replies:
			if m != want {
				t.Fatalf("reply %q, want %q", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no reply %q", want)
		}
	}
}
