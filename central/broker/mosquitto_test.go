package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// mosquittoBin finds Mosquitto 2: locally the test skips without it, in
// CI it fails.
func mosquittoBin(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/mosquitto"); err == nil {
		return "/usr/sbin/mosquitto"
	}
	return svctest.Command(t, "mosquitto", "apt-get install mosquitto (the test runs its own on a free port)")
}

// startMosquitto runs a Mosquitto of its own on a free loopback port with
// the given password and ACL files, and returns its URL.
func startMosquitto(t *testing.T, passwords, acl string) string {
	t.Helper()
	bin := mosquittoBin(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// user: run as whoever runs the test (as root, Mosquitto would switch
	// to user mosquitto, who cannot read the test's files).
	conf := fmt.Sprintf("user %s\nlistener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\nacl_file %s\npersistence false\nlog_dest stderr\nlog_type all\n",
		me.Username, port, filepath.Join(dir, "passwd"), filepath.Join(dir, "acl"))
	for name, body := range map[string]string{"mosquitto.conf": conf, "passwd": passwords, "acl": acl} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "-c", filepath.Join(dir, "mosquitto.conf"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	ready := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			logBuf.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "running") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-done
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", logBuf.String())
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("mosquitto exited before it was ready")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mosquitto not ready within 30 s")
	}
	return fmt.Sprintf("tcp://127.0.0.1:%d", port)
}

// TestMosquittoACL runs the ACL of MosquittoACL on a real Mosquitto: the
// same matrix as on the embedded broker.
func TestMosquittoACL(t *testing.T) {
	keys := map[string]ed25519.PrivateKey{}
	for _, id := range []string{"gw-a", "gw-b"} {
		_, k, _ := ed25519.GenerateKey(nil)
		keys[id] = k
	}
	pw := func(gw string) string { return reading.MQTTPassword(keys[gw], gw) }
	centralPass, emsPass := "central-secret-0123456789", "ems-secret-1"
	ems := User{Name: "ems-a", Rules: Rules{Publish: []string{"parkgrid/v1/site-a/ems/limit/set"}, Subscribe: []string{"parkgrid/v1/site-a/ems/#"}}}
	var acl bytes.Buffer
	if err := MosquittoACL(&acl, "parkgrid-central", "central", []GatewaySite{{"gw-a", "site-a"}, {"gw-b", "site-b"}}, []User{ems}); err != nil {
		t.Fatal(err)
	}
	var passwd strings.Builder
	for user, p := range map[string]string{"parkgrid-central": centralPass, "gw-a": pw("gw-a"), "gw-b": pw("gw-b"), "ems-a": emsPass} {
		line, err := MosquittoPasswordLine(user, mustHash(t, p))
		if err != nil {
			t.Fatal(err)
		}
		passwd.WriteString(line)
	}
	url := startMosquitto(t, passwd.String(), acl.String())

	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"anonymous", "", "", false},
		{"central", "parkgrid-central", centralPass, true},
		{"gateway", "gw-a", pw("gw-a"), true},
		{"gateway with another's password", "gw-a", pw("gw-b"), false},
		{"ems", "ems-a", emsPass, true},
		{"unknown", "mallory", "x", false},
	} {
		c, err := tryConnect(url, "login-"+strings.ReplaceAll(tc.name, " ", "-"), tc.user, tc.pass, nil)
		if (err == nil) != tc.ok {
			t.Errorf("%s: connect error %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err == nil {
			c.Disconnect(50)
		}
	}

	central := connect(t, url, "central", "parkgrid-central", centralPass)
	gwA := connect(t, url, "gw-a", "gw-a", pw("gw-a"))
	gwA2 := connect(t, url, "gw-a-ems", "gw-a", pw("gw-a"))
	gwB := connect(t, url, "gw-b", "gw-b", pw("gw-b"))
	emsC := connect(t, url, "ems", "ems-a", emsPass)

	// Mosquitto 2.0 grants every subscription and applies the read rules to
	// each delivery. Spies subscribe wide; traffic they may not read is
	// sent, then a sentinel they may read, on an order the broker keeps:
	// they must get the sentinel and nothing else.
	gwSpy := connect(t, url, "gw-a-spy", "gw-a", pw("gw-a"))
	var gwSpied []<-chan message
	for _, f := range []string{"#", "parkgrid/v1/+/down/#", "parkgrid/v1/site-b/down/ack", "$share/central/parkgrid/v1/+/up/batch", "$SYS/#"} {
		gwSpied = append(gwSpied, subscribeOK(t, gwSpy, f))
	}
	centralSpy := connect(t, url, "central-spy", "parkgrid-central", centralPass)
	centralSpied := subscribeOK(t, centralSpy, "#")
	emsSpied := subscribeOK(t, emsC, "parkgrid/v1/site-b/ems/#")

	publishOK(t, gwB, "parkgrid/v1/site-b/up/batch", 1, "site-b batch")
	publishOK(t, central, "parkgrid/v1/site-b/down/ack", 1, "site-b ack")
	publishOK(t, gwB, "parkgrid/v1/site-b/ems/state", 1, "site-b ems state")
	publishOK(t, gwA, "parkgrid/v1/site-a/ems/state", 1, "site-a ems state")
	publishOK(t, central, "parkgrid/v1/site-a/down/ack", 1, "sentinel") // gw-a may read it
	publishOK(t, gwA, "parkgrid/v1/site-a/up/batch", 1, "sentinel")     // central may read it
	for i, ch := range gwSpied {
		if i >= 2 {
			break // those filters match no sentinel
		}
		if m := next(t, ch); m.payload != "sentinel" || m.topic != "parkgrid/v1/site-a/down/ack" {
			t.Errorf("gw-a's wide subscription %d got %+v before its sentinel", i, m)
		}
	}
	for m := next(t, centralSpied); m.payload != "sentinel"; m = next(t, centralSpied) {
		if strings.Contains(m.topic, "/ems/") || strings.Contains(m.topic, "/down/") {
			t.Errorf("central's '#' got %+v (central reads only up/# and status)", m)
		}
	}
	for name, ch := range map[string]<-chan message{"gw-a site-b ack": gwSpied[2], "gw-a share": gwSpied[3], "gw-a $SYS": gwSpied[4], "ems site-b": emsSpied} {
		select {
		case m := <-ch:
			t.Errorf("%s: got %+v", name, m)
		default:
		}
	}

	batches := subscribeOK(t, central, "$share/central/parkgrid/v1/+/up/#")
	downA := subscribeOK(t, gwA2, "parkgrid/v1/site-a/down/#")
	limitsA := subscribeOK(t, gwA2, "parkgrid/v1/site-a/ems/limit/set")
	spy := subscribeOK(t, gwB, "parkgrid/v1/site-b/down/#")
	for _, tc := range []struct {
		who       string
		c         paho.Client
		forbidden string
		allowed   string
		observer  <-chan message
	}{
		{"gw-a", gwA, "parkgrid/v1/site-b/up/batch", "parkgrid/v1/site-a/up/batch", batches},
		{"gw-b", gwB, "parkgrid/v1/site-a/up/batch", "parkgrid/v1/site-b/up/batch", batches},
		{"gw-b", gwB, "parkgrid/v1/site-a/down/ack", "parkgrid/v1/site-b/up/reply", batches},
		{"gw-a", gwA, "parkgrid/v1/site-a/down/cmd", "parkgrid/v1/site-a/up/reply", batches},
		{"gw-a", gwA, "parkgrid/v1/site-a/ems/limit/set", "parkgrid/v1/site-a/up/batch", batches},
		{"ems", emsC, "parkgrid/v1/site-b/ems/limit/set", "parkgrid/v1/site-a/ems/limit/set", limitsA},
		{"central", central, "parkgrid/v1/site-a/up/batch", "parkgrid/v1/site-a/down/ack", downA},
	} {
		// QoS 1 throughout: Mosquitto acknowledges a refused publish and
		// drops it.
		publishOK(t, tc.c, tc.forbidden, 1, "forbidden")
		publishOK(t, tc.c, tc.allowed, 1, "allowed")
		if m := next(t, tc.observer); m.topic != tc.allowed || m.payload != "allowed" {
			t.Errorf("%s: after publishing on %s then %s, the observer got %+v", tc.who, tc.forbidden, tc.allowed, m)
		}
	}
	for name, ch := range map[string]<-chan message{"batches": batches, "site-a down": downA, "site-a limits": limitsA, "gw-b": spy} {
		select {
		case m := <-ch:
			t.Errorf("%s: unexpected %+v", name, m)
		default:
		}
	}
}
