package reading

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func gatewayKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

func keysOf(gw string, k ed25519.PrivateKey) KeyLookup {
	return func(g string) (ed25519.PublicKey, error) {
		if g != gw {
			return nil, errors.New("unknown gateway")
		}
		return k.Public().(ed25519.PublicKey), nil
	}
}

func TestReplyRoundTrip(t *testing.T) {
	key := gatewayKey(1)
	at := time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC)
	want := Reply{ID: "c-1", Site: "mitte", Gateway: "gw-1", At: at, OK: true, Result: map[string]string{"state": "waiting"}}
	msg, err := SealReply(want, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenReply(msg, keysOf("gw-1", key))
	if err != nil {
		t.Fatal(err)
	}
	want.Version, want.Type = ReplyVersion, TypeReply
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReplyRefused(t *testing.T) {
	key, other := gatewayKey(1), gatewayKey(2)
	good := Reply{ID: "c-1", Site: "mitte", Gateway: "gw-1", OK: true}
	forged, _ := SealReply(good, other)
	noErr, _ := SealReply(Reply{ID: "c-1", Gateway: "gw-1"}, key)
	var env Envelope
	msg, _ := SealReply(good, key)
	_ = json.Unmarshal(msg, &env)
	extra, _ := SealBody("gw-1", []byte(strings.Replace(string(env.Body), `"ok":true`, `"ok":true,"OK":false`, 1)), key)
	otherGW, _ := SealBody("gw-2", env.Body, key)
	for name, tc := range map[string]struct {
		msg  []byte
		want error
	}{
		"forged":          {forged, ErrSignature},
		"failed no error": {noErr, ErrMalformed},
		"case twin key":   {extra, ErrMalformed},
		"not json":        {[]byte("x"), ErrMalformed},
	} {
		if _, err := OpenReply(tc.msg, keysOf("gw-1", key)); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", name, err, tc.want)
		}
	}
	both := func(g string) (ed25519.PublicKey, error) { return key.Public().(ed25519.PublicKey), nil }
	if _, err := OpenReply(otherGW, both); !errors.Is(err, ErrMalformed) {
		t.Errorf("body of gw-1 in an envelope of gw-2: got %v, want ErrMalformed", err)
	}
}

func TestParseAuthorisation(t *testing.T) {
	exp := time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)
	a := Authorisation{Point: "cp-1", Session: "s-1", Class: ClassPremium, CapWh: 5000, HoldExpires: exp}
	got, err := ParseAuthorisation(a.Args())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for name, args := range map[string]map[string]string{
		"no point":    {ArgSession: "s", ArgClass: "eco", ArgCapWh: "1"},
		"bad class":   {ArgPoint: "p", ArgSession: "s", ArgClass: "gold", ArgCapWh: "1"},
		"negative":    {ArgPoint: "p", ArgSession: "s", ArgClass: "eco", ArgCapWh: "-1"},
		"no cap":      {ArgPoint: "p", ArgSession: "s", ArgClass: "eco"},
		"bad expires": {ArgPoint: "p", ArgSession: "s", ArgClass: "eco", ArgCapWh: "1", ArgHoldExpires: "tomorrow"},
	} {
		if _, err := ParseAuthorisation(args); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzOpenReply(f *testing.F) {
	key := gatewayKey(1)
	good, _ := SealReply(Reply{ID: "c", Site: "s", Gateway: "gw-1", OK: false, Error: "no"}, key)
	f.Add(good)
	f.Add([]byte(`{"gateway":"gw-1","body":"e30=","sig":""}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := OpenReply(msg, keysOf("gw-1", key))
		if err != nil {
			return
		}
		var env Envelope
		if json.Unmarshal(msg, &env) != nil || !ed25519.Verify(key.Public().(ed25519.PublicKey), env.Body, env.Sig) {
			t.Fatal("OpenReply accepted a reply that does not verify")
		}
		if r.ID == "" || r.Gateway != "gw-1" || (!r.OK && r.Error == "") {
			t.Fatalf("OpenReply accepted %+v", r)
		}
	})
}

// TestGoldenReplyV1: testdata/reply-v1.json is a v1 reply sealed with the
// golden gateway key; it must open to the same reply in every later
// version. (go test -run TestGoldenReplyV1 -update rewrites it.)
func TestGoldenReplyV1(t *testing.T) {
	key := ed25519.NewKeyFromSeed(goldenSeed())
	want := Reply{Version: ReplyVersion, Type: TypeReply, ID: "9f86d081884c7d659a2feaa0c55ad015", Site: "hamburg-p1", Gateway: "gw-hh-p1-01",
		At: time.Date(2026, 12, 6, 15, 0, 0, 0, time.UTC), OK: true, Result: map[string]string{"state": "authorised", "car": "true"}}
	msg, err := SealReply(want, key)
	if err != nil {
		t.Fatal(err)
	}
	raw := golden(t, "reply-v1.json", msg)
	got, err := OpenReply(raw, keysOf("gw-hh-p1-01", key))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("golden reply (-want +got):\n%s", diff)
	}
}
