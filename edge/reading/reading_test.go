package reading

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// goldenSeed is the Ed25519 seed of the key that signed
// testdata/v1-envelope.json (public key goldenPublicHex). Test use only.
func goldenSeed() []byte { return bytes.Repeat([]byte{0x5a}, ed25519.SeedSize) }

const goldenPublicHex = "0d7550754e0800a5d237eef5826035766b9b3e5a15868a940ab289958788e3b0"

// goldenBatch is what testdata/v1.json holds.
func goldenBatch() Batch {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return Batch{
		Version: 1,
		Site:    "hamburg-p1",
		Gateway: "gw-hh-p1-01",
		Seq:     42,
		Sent:    t0.Add(1500 * time.Millisecond),
		Readings: []Reading{
			{Time: t0, Device: "grid", Quantity: QPowerW, Value: 48210},
			{Time: t0, Device: "grid", Quantity: QCurrentL1MA, Value: 71250},
			{Time: t0, Device: "cp-017-meter", Point: "cp-017", Quantity: QEnergyWh, Value: 1234567},
			{Time: t0, Device: "temp-hall-b", Quantity: QTempDC, Stale: true},
			{Time: t0.Add(time.Second), Device: "cp-017", Point: "cp-017", Quantity: QStateLetter, Value: 'C'},
			{
				Time: t0.Add(2 * time.Second), Device: "cp-017-meter", Point: "cp-017", Quantity: QSnapshot,
				OCMF:    `OCMF|{"FV":"1.0","GI":"BAUER BSM-WS36A","RD":[{"TM":"2026-11-25T11:00:02,000+0100 S","TX":"B","RV":1234.567,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}|{"SD":"3045022100ab","SA":"ECDSA-secp256r1-SHA256"}`,
				Session: "s-20261125-0042",
			},
		},
		Events: []Event{
			{Time: t0.Add(3 * time.Second), Kind: "session.start", Point: "cp-017", Attrs: map[string]string{"session": "s-20261125-0042", "tariff": "eco"}},
			{Time: t0.Add(4 * time.Second), Kind: "device.stale", Device: "temp-hall-b", Message: "no reply for 30 s"},
		},
	}
}

func keyring(pubs map[string]ed25519.PublicKey) KeyLookup {
	return func(gw string) (ed25519.PublicKey, error) {
		if k, ok := pubs[gw]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("gateway not enrolled")
	}
}

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestSealOpenRoundTrip(t *testing.T) {
	pub, priv := newKey(t)
	want := goldenBatch()
	want.Version = 0 // Seal fills in CurrentVersion
	msg, err := Seal(want, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, body, err := Open(msg, keyring(map[string]ed25519.PublicKey{want.Gateway: pub}))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	want.Version = CurrentVersion
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch (-want +got):\n%s", diff)
	}
	var env Envelope
	if err := json.Unmarshal(msg, &env); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, env.Body) || !ed25519.Verify(pub, body, env.Sig) {
		t.Error("Open did not return the exact signed body bytes")
	}
}

func TestOpenKeepsExactBodyBytes(t *testing.T) {
	// Central must store and verify the bytes as sent, whatever their
	// formatting and field order: never re-serialise.
	pub, priv := newKey(t)
	body := []byte(`{ "v":2, "site":"s1", "gateway":"gw", "seq":7, "sent":"2026-11-25T10:00:00Z",
	  "epoch":"0123456789abcdef0123456789abcdef",
	  "readings":[{"val":5,"t":"2026-11-25T10:00:00+01:00","device":"m","q":"power_w"}] }`)
	msg, err := SealBody("gw", body, priv)
	if err != nil {
		t.Fatal(err)
	}
	b, got, err := Open(msg, keyring(map[string]ed25519.PublicKey{"gw": pub}))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if !bytes.Equal(got, body) {
		t.Errorf("body changed:\n got %s\nwant %s", got, body)
	}
	if b.Seq != 7 || b.Epoch != "0123456789abcdef0123456789abcdef" || len(b.Readings) != 1 || b.Readings[0].Value != 5 {
		t.Errorf("decoded %+v", b)
	}
}

func TestOpenRejects(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	keys := keyring(map[string]ed25519.PublicKey{"gw": pub, "gw-2": otherPub})
	body := func(s string) []byte { return []byte(s) }
	valid := `{"v":1,"site":"s1","gateway":"gw","seq":1,"sent":"2026-11-25T10:00:00Z"}`
	seal := func(gw string, b []byte, k ed25519.PrivateKey) []byte {
		msg, err := SealBody(gw, b, k)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	tamper := func(msg []byte, f func(*Envelope)) []byte {
		var env Envelope
		if err := json.Unmarshal(msg, &env); err != nil {
			t.Fatal(err)
		}
		f(&env)
		out, _ := json.Marshal(env)
		return out
	}
	errLookup := errors.New("lookup")
	tests := []struct {
		name string
		msg  []byte
		want error // nil: any error
	}{
		{"forged signature", tamper(seal("gw", body(valid), priv), func(e *Envelope) { e.Sig[0] ^= 1 }), ErrSignature},
		{"tampered body", tamper(seal("gw", body(valid), priv), func(e *Envelope) { e.Body[len(e.Body)-2] = ' ' }), ErrSignature},
		{"signed by another gateway's key", seal("gw", body(valid), otherPriv), ErrSignature},
		{"body names another gateway", seal("gw-2", body(valid), otherPriv), ErrMalformed},
		{"unknown gateway", seal("gw-9", body(valid), priv), errLookup},
		{"version 3", seal("gw", body(strings.Replace(valid, `"v":1`, `"v":3`, 1)), priv), ErrVersion},
		{"unknown field", seal("gw", body(strings.Replace(valid, `}`, `,"extra":1}`, 1)), priv), ErrMalformed},
		{"seq and SEQ", seal("gw", body(strings.Replace(valid, `"seq":1`, `"seq":1,"SEQ":2`, 1)), priv), ErrMalformed},
		{"epoch in v1", seal("gw", body(strings.Replace(valid, `"seq":1`, `"seq":1,"epoch":"0123456789abcdef0123456789abcdef"`, 1)), priv), ErrMalformed},
		{"bad epoch", seal("gw", body(strings.Replace(valid, `"v":1,`, `"v":2,"epoch":"E1",`, 1)), priv), ErrMalformed},
		{"version 0", seal("gw", body(strings.Replace(valid, `"v":1`, `"v":0`, 1)), priv), ErrVersion},
		{"version -1", seal("gw", body(strings.Replace(valid, `"v":1`, `"v":-1`, 1)), priv), ErrVersion},
		{"no version", seal("gw", body(strings.Replace(valid, `"v":1,`, ``, 1)), priv), ErrMalformed},
		{"version not a number", seal("gw", body(strings.Replace(valid, `"v":1`, `"v":"1"`, 1)), priv), ErrMalformed},
		{"seq 0", seal("gw", body(strings.Replace(valid, `"seq":1`, `"seq":0`, 1)), priv), ErrMalformed},
		{"no site", seal("gw", body(strings.Replace(valid, `"site":"s1"`, `"site":""`, 1)), priv), ErrMalformed},
		{"reading without device", seal("gw", body(strings.Replace(valid, `}`, `,"readings":[{"q":"power_w"}]}`, 1)), priv), ErrMalformed},
		{"body not JSON", seal("gw", body("OCMF|{}|{}"), priv), ErrMalformed},
		{"trailing garbage in body", seal("gw", body(valid+"x"), priv), ErrMalformed},
		{"bad time", seal("gw", body(strings.Replace(valid, `2026-11-25T10:00:00Z`, `yesterday`, 1)), priv), ErrMalformed},
		{"body too large", seal("gw", bytes.Repeat([]byte(" "), MaxBodyBytes+1), priv), ErrTooLarge},
		{"message too large", bytes.Repeat([]byte("x"), 2*MaxBodyBytes+1), ErrTooLarge},
		{"envelope not JSON", []byte("hello"), ErrMalformed},
		{"envelope is an array", []byte("[]"), ErrMalformed},
		{"empty message", nil, ErrMalformed},
		{"no gateway", tamper(seal("gw", body(valid), priv), func(e *Envelope) { e.Gateway = "" }), ErrMalformed},
		{"no body", tamper(seal("gw", body(valid), priv), func(e *Envelope) { e.Body = nil }), ErrMalformed},
		{"short signature", tamper(seal("gw", body(valid), priv), func(e *Envelope) { e.Sig = e.Sig[:63] }), ErrMalformed},
		{"body not base64", []byte(`{"gateway":"gw","body":"!!!","sig":""}`), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := keys
			if tt.want == errLookup {
				lookup = func(gw string) (ed25519.PublicKey, error) {
					if gw == "gw-9" {
						return nil, errLookup
					}
					return keys(gw)
				}
			}
			b, body, err := Open(tt.msg, lookup)
			if err == nil {
				t.Fatalf("Open accepted it: %+v", b)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want errors.Is %v", err, tt.want)
			}
			if body != nil || !cmp.Equal(b, Batch{}) {
				t.Fatalf("Open returned data with an error: %+v %q", b, body)
			}
		})
	}
	// And the valid one opens.
	if _, _, err := Open(seal("gw", body(valid), priv), keys); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
}

func TestDecodeVersionMessage(t *testing.T) {
	_, err := Decode([]byte(`{"v":3,"site":"s","gateway":"g","seq":1,"new":true}`))
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "v=3") {
		t.Fatalf("err = %v, want ErrVersion naming v=3", err)
	}
}

func TestGoldenV1(t *testing.T) {
	raw, err := os.ReadFile("testdata/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(raw)
	if err != nil {
		t.Fatalf("Decode golden v1: %v", err)
	}
	if diff := cmp.Diff(goldenBatch(), got); diff != "" {
		t.Errorf("golden v1 decoded (-want +got):\n%s", diff)
	}
	// This build still writes v1 byte for byte as the golden file has it:
	// a renamed field or changed encoding shows here first.
	enc, err := json.Marshal(goldenBatch())
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.TrimSuffix(raw, []byte("\n")); !bytes.Equal(enc, want) {
		t.Errorf("encoding changed:\n got %s\nwant %s", enc, want)
	}
}

func TestGoldenEnvelope(t *testing.T) {
	msg, err := os.ReadFile("testdata/v1-envelope.json")
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(goldenSeed())
	pub := key.Public().(ed25519.PublicKey)
	if got := hex.EncodeToString(pub); got != goldenPublicHex {
		t.Fatalf("golden public key %s, want %s", got, goldenPublicHex)
	}
	got, body, err := Open(bytes.TrimSpace(msg), keyring(map[string]ed25519.PublicKey{"gw-hh-p1-01": pub}))
	if err != nil {
		t.Fatalf("Open golden envelope: %v", err)
	}
	if diff := cmp.Diff(goldenBatch(), got); diff != "" {
		t.Errorf("golden envelope (-want +got):\n%s", diff)
	}
	raw, _ := os.ReadFile("testdata/v1.json")
	if !bytes.Equal(body, bytes.TrimSuffix(raw, []byte("\n"))) {
		t.Error("golden envelope body differs from testdata/v1.json")
	}
	// Ed25519 is deterministic: sealing again gives the same message.
	again, err := SealBody("gw-hh-p1-01", body, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, bytes.TrimSpace(msg)) {
		t.Error("SealBody no longer reproduces the golden envelope")
	}
}

func TestTopics(t *testing.T) {
	got := []string{BatchTopic("p1"), AckTopic("p1"), CmdTopic("p1"), ReplyTopic("p1"), StatusTopic("p1")}
	want := []string{"parkgrid/v1/p1/up/batch", "parkgrid/v1/p1/down/ack", "parkgrid/v1/p1/down/cmd", "parkgrid/v1/p1/up/reply", "parkgrid/v1/p1/status"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("topics (-want +got):\n%s", diff)
	}
}

// equateBatches compares batches after a JSON round trip, where empty and
// absent collections are the same.
var equateBatches = cmpopts.EquateEmpty()

func FuzzDecode(f *testing.F) {
	raw, err := os.ReadFile("testdata/v1.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{"v":1,"site":"s","gateway":"g","seq":1,"sent":"2026-11-25T10:00:00Z"}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{"v":2,"site":"s","gateway":"g","epoch":"0123456789abcdef0123456789abcdef","seq":5,"gap":{"from":1,"to":4,"reason":"missing","detail":"x"}}`))
	f.Add([]byte(`{"v":1,"site":"s","gateway":"g","seq":1,"SEQ":2}`))
	f.Add([]byte(`{"v":1,"site":"s","gateway":"g","seq":1,"events":[{"kind":"k","attrs":{"a":"1","A":"2"}}]}`))
	f.Add([]byte(`{"v":1,"site":"s","gateway":"g","seq":1,"events":[{"attrs":{}}],"readings":[]}`))
	f.Add([]byte(`{"v":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := Decode(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Decode error %v is neither ErrMalformed nor ErrVersion", err)
			}
			return
		}
		if b.Version < MinVersion || b.Version > CurrentVersion || b.Site == "" || b.Gateway == "" || b.Seq == 0 {
			t.Fatalf("Decode accepted an invalid batch %+v", b)
		}
		// What central accepted, the edge can write again.
		enc, err := json.Marshal(b)
		if err != nil {
			return // e.g. a time zone offset json.Marshal refuses; not a contract issue
		}
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v\n%s", err, enc)
		}
		if diff := cmp.Diff(b, again, equateBatches); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzOpen(f *testing.F) {
	key := ed25519.NewKeyFromSeed(goldenSeed())
	pub := key.Public().(ed25519.PublicKey)
	keys := keyring(map[string]ed25519.PublicKey{"gw-hh-p1-01": pub, "g": pub})
	env, err := os.ReadFile("testdata/v1-envelope.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	small, _ := SealBody("g", []byte(`{"v":1,"site":"s","gateway":"g","seq":1}`), key)
	f.Add(small)
	wrongGW, _ := SealBody("g", []byte(`{"v":1,"site":"s","gateway":"x","seq":1}`), key)
	f.Add(wrongGW)
	v3, _ := SealBody("g", []byte(`{"v":3,"site":"s","gateway":"g","seq":1}`), key)
	f.Add(v3)
	v2, _ := SealBody("g", []byte(`{"v":2,"site":"s","gateway":"g","epoch":"0123456789abcdef0123456789abcdef","seq":3,"gap":{"from":1,"to":2,"reason":"corrupt"}}`), key)
	f.Add(v2)
	f.Add([]byte(`{"gateway":"g","body":"e30=","sig":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		b, body, err := Open(msg, keys)
		if err != nil {
			if body != nil {
				t.Fatal("body returned with an error")
			}
			return
		}
		var e Envelope
		if json.Unmarshal(msg, &e) != nil || !bytes.Equal(e.Body, body) || !ed25519.Verify(pub, body, e.Sig) {
			t.Fatal("Open accepted a body that does not verify")
		}
		if b.Gateway != e.Gateway {
			t.Fatalf("gateway %q in body, %q in envelope", b.Gateway, e.Gateway)
		}
	})
}
