package reading

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update", false, "rewrite the v2 golden files")

const goldenEpoch = "5e1f0c2a9b8d7e6f5e1f0c2a9b8d7e6f"

// goldenBatchV2 is what testdata/v2.json holds: the v1 batch, in epoch
// goldenEpoch.
func goldenBatchV2() Batch {
	b := goldenBatch()
	b.Version, b.Epoch = 2, goldenEpoch
	return b
}

// goldenGap is what testdata/v2-gap.json holds.
func goldenGap() Batch {
	return Batch{Version: 2, Site: "hamburg-p1", Gateway: "gw-hh-p1-01", Epoch: goldenEpoch, Seq: 57,
		Sent: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC),
		Gap:  &Gap{From: 43, To: 43, Reason: GapCorrupt, Detail: "segment 00000000000000000001.seg offset 1211: bad CRC"}}
}

// centralSeed is the seed of central's key in the golden ack. Test use only.
func centralSeed() []byte { return bytes.Repeat([]byte{0xc3}, ed25519.SeedSize) }

func golden(t *testing.T, name string, want []byte) []byte {
	t.Helper()
	path := "testdata/" + name
	if *updateGolden {
		if err := os.WriteFile(path, append(want, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(raw, []byte("\n"))
}

func TestGoldenV2(t *testing.T) {
	key := ed25519.NewKeyFromSeed(goldenSeed())
	pub := key.Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		file string
		b    Batch
	}{{"v2.json", goldenBatchV2()}, {"v2-gap.json", goldenGap()}} {
		enc, err := json.Marshal(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		raw := golden(t, tc.file, enc)
		if !bytes.Equal(enc, raw) {
			t.Errorf("%s: encoding changed:\n got %s\nwant %s", tc.file, enc, raw)
		}
		got, err := Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if diff := cmp.Diff(tc.b, got); diff != "" {
			t.Errorf("%s decoded (-want +got):\n%s", tc.file, diff)
		}
		msg, err := SealBody(tc.b.Gateway, raw, key)
		if err != nil {
			t.Fatal(err)
		}
		env := golden(t, strings.Replace(tc.file, ".json", "-envelope.json", 1), msg)
		if _, _, err := Open(env, keyring(map[string]ed25519.PublicKey{tc.b.Gateway: pub})); err != nil {
			t.Errorf("%s envelope: %v", tc.file, err)
		}
	}
	// A signed ack, as central sends it.
	ck := ed25519.NewKeyFromSeed(centralSeed())
	ackMsg, err := SealAck(Ack{Gateway: "gw-hh-p1-01", Epoch: goldenEpoch, Seq: 57}, ck)
	if err != nil {
		t.Fatal(err)
	}
	raw := golden(t, "v2-ack.json", ackMsg)
	a, err := OpenAck(raw, ck.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Ack{Version: 2, Type: TypeAck, Gateway: "gw-hh-p1-01", Epoch: goldenEpoch, Seq: 57}); a != want {
		t.Errorf("golden ack %+v, want %+v", a, want)
	}
}

func TestGapRecords(t *testing.T) {
	const head = `{"v":2,"site":"s","gateway":"g","epoch":"0123456789abcdef0123456789abcdef","seq":9,`
	ok := head + `"gap":{"from":3,"to":5,"reason":"corrupt","detail":"bad CRC"}}`
	b, err := Decode([]byte(ok))
	if err != nil || b.Gap == nil || b.Gap.From != 3 || b.Gap.To != 5 {
		t.Fatalf("Decode(%s) = %+v, %v", ok, b, err)
	}
	for _, bad := range []string{
		head + `"gap":{"from":0,"to":5,"reason":"corrupt"}}`,
		head + `"gap":{"from":6,"to":5,"reason":"corrupt"}}`,
		head + `"gap":{"from":3,"to":9,"reason":"corrupt"}}`,
		head + `"gap":{"from":3,"to":5,"reason":"bored"}}`,
		head + `"gap":{"from":3,"to":5,"reason":"corrupt","extra":1}}`,
		head + `"gap":{"from":3,"to":5,"reason":"corrupt"},"readings":[{"device":"m","q":"power_w"}]}`,
	} {
		if b, err := Decode([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%s) = %+v, %v; want ErrMalformed", bad, b, err)
		}
	}
}

func TestOpenAck(t *testing.T) {
	pub, priv := newKey(t)
	otherPub, otherPriv := newKey(t)
	good, _ := SealAck(Ack{Gateway: "gw", Epoch: goldenEpoch, Seq: 17}, priv)
	a, err := OpenAck(good, pub)
	if err != nil || a.Seq != 17 || a.Epoch != goldenEpoch || a.Gateway != "gw" {
		t.Fatalf("OpenAck = %+v, %v", a, err)
	}
	forged, _ := SealAck(Ack{Gateway: "gw", Epoch: goldenEpoch, Seq: 17}, otherPriv)
	sign := func(body string) []byte {
		m, _ := sealDown([]byte(body), priv)
		return m
	}
	tamper := func(msg []byte) []byte {
		var s Signed
		json.Unmarshal(msg, &s)
		s.Body = bytes.Replace(s.Body, []byte(`"seq":17`), []byte(`"seq":99`), 1)
		out, _ := json.Marshal(s)
		return out
	}
	cmdMsg, _ := SealCommand(Command{ID: "c1", Gateway: "gw", Kind: "stop", Expires: time.Now().Add(time.Hour)}, priv)
	for _, tc := range []struct {
		name string
		msg  []byte
		key  ed25519.PublicKey
		want error
	}{
		{"unsigned v1 ack", []byte(`{"v":1,"gateway":"gw-sim-small","seq":8}`), pub, ErrCentralSignature},
		{"signed by another key", forged, pub, ErrCentralSignature},
		{"no key enrolled", good, nil, ErrCentralSignature},
		{"tampered body", tamper(good), pub, ErrCentralSignature},
		{"extra envelope field", []byte(strings.Replace(string(good), `{"body"`, `{"x":1,"body"`, 1)), pub, ErrCentralSignature},
		{"a command is not an ack", cmdMsg, pub, ErrMalformed},
		{"seq twice", sign(`{"v":2,"type":"ack","gateway":"gw","epoch":"","seq":1,"seq":9}`), pub, ErrMalformed},
		{"SEQ", sign(`{"v":2,"type":"ack","gateway":"gw","epoch":"","seq":1,"SEQ":9}`), pub, ErrMalformed},
		{"version 1", sign(`{"v":1,"type":"ack","gateway":"gw","epoch":"","seq":1}`), pub, ErrVersion},
		{"seq 0", sign(`{"v":2,"type":"ack","gateway":"gw","epoch":"","seq":0}`), pub, ErrMalformed},
		{"no gateway", sign(`{"v":2,"type":"ack","gateway":"","epoch":"","seq":3}`), pub, ErrMalformed},
		{"trailing data", sign(`{"v":2,"type":"ack","gateway":"gw","epoch":"","seq":3} 1`), pub, ErrMalformed},
		{"garbage", []byte("garbage"), pub, ErrCentralSignature},
		{"empty", nil, pub, ErrCentralSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := OpenAck(tc.msg, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenAck = %+v, %v; want %v", a, err, tc.want)
			}
		})
	}
	_ = otherPub
}

func TestOpenCommand(t *testing.T) {
	pub, priv := newKey(t)
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	c := Command{ID: "cmd-1", Gateway: "gw", Kind: "stop", Issued: now, Expires: now.Add(time.Minute), Args: map[string]string{"session": "s-1"}}
	msg, err := SealCommand(c, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCommand(msg, pub, "gw", now)
	if err != nil {
		t.Fatal(err)
	}
	c.Version, c.Type = DownVersion, TypeCommand
	if diff := cmp.Diff(c, got); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if _, err := OpenCommand(msg, pub, "gw-2", now); !errors.Is(err, ErrNotForUs) {
		t.Errorf("other gateway: %v", err)
	}
	if _, err := OpenCommand(msg, pub, "gw", now.Add(time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	ack, _ := SealAck(Ack{Gateway: "gw", Seq: 1}, priv)
	if _, err := OpenCommand(ack, pub, "gw", now); !errors.Is(err, ErrMalformed) {
		t.Errorf("an ack opened as a command: %v", err)
	}
}

func FuzzOpenAck(f *testing.F) {
	key := ed25519.NewKeyFromSeed(centralSeed())
	pub := key.Public().(ed25519.PublicKey)
	good, _ := SealAck(Ack{Gateway: "g", Epoch: goldenEpoch, Seq: 3}, key)
	f.Add(good)
	f.Add([]byte(`{"v":1,"gateway":"g","seq":8}`))
	dup, _ := sealDown([]byte(`{"v":2,"type":"ack","gateway":"g","epoch":"","seq":1,"seq":2}`), key)
	f.Add(dup)
	f.Add([]byte(`{"body":"e30=","sig":""}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, err := OpenAck(msg, pub)
		if err != nil {
			return
		}
		var s Signed
		if json.Unmarshal(msg, &s) != nil || !ed25519.Verify(pub, s.Body, s.Sig) {
			t.Fatal("OpenAck accepted an ack that does not verify")
		}
		if a.Seq == 0 || a.Gateway == "" || a.Type != TypeAck || !ValidEpoch(a.Epoch) {
			t.Fatalf("OpenAck accepted %+v", a)
		}
	})
}

func FuzzOpenCommand(f *testing.F) {
	key := ed25519.NewKeyFromSeed(centralSeed())
	pub := key.Public().(ed25519.PublicKey)
	now := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	good, _ := SealCommand(Command{ID: "c", Gateway: "g", Kind: "stop", Expires: now.Add(time.Hour), Args: map[string]string{"a": "b"}}, key)
	f.Add(good)
	f.Add([]byte(`{"body":"","sig":""}`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		c, err := OpenCommand(msg, pub, "g", now)
		if err != nil {
			return
		}
		if c.Gateway != "g" || !now.Before(c.Expires) || c.ID == "" {
			t.Fatalf("OpenCommand accepted %+v", c)
		}
	})
}

// FuzzCheckStrict: the strict scanner never panics, and whatever it and
// json.Unmarshal accept has no key twice in its top-level object.
func FuzzCheckStrict(f *testing.F) {
	f.Add([]byte(`{"v":1,"site":"s","gateway":"g","seq":1}`))
	f.Add([]byte(`{"v":1,"seq":1,"s\u0065q":2}`))
	f.Add([]byte(`{"events":[{"attrs":{"a":"1","\u0041":"2"}}]}`))
	f.Add([]byte(`[[[[[[[[[[]]]]]]]]]]`))
	f.Add([]byte(`{"readings":[{"t":"x","val":1e5}]} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := checkStrict(data, batchShape); err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(data, &m) != nil {
			return
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		if _, err := dec.Token(); err != nil {
			return
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return
			}
			k, _ := tok.(string)
			if seen[k] {
				t.Fatalf("key %q twice passed the strict check: %s", k, data)
			}
			seen[k] = true
			var skip json.RawMessage
			if dec.Decode(&skip) != nil {
				return
			}
		}
	})
}
