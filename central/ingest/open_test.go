package ingest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/edge/reading"
)

// TestOpenRefusesSmuggledKeys: a signed body with one meaning only; "seq"
// and "SEQ" in one body never reach the store.
func TestOpenRefusesSmuggledKeys(t *testing.T) {
	seed := sha256.Sum256([]byte("open"))
	key := ed25519.NewKeyFromSeed(seed[:])
	keys := func(string) (ed25519.PublicKey, error) { return key.Public().(ed25519.PublicKey), nil }
	for _, body := range []string{
		`{"v":1,"site":"s","gateway":"g","seq":600001,"SEQ":600002,"sent":"2026-11-25T10:00:00Z"}`,
		`{"v":1,"site":"s","gateway":"g","seq":600001,"seq":600002}`,
		`{"v":1,"v":2,"site":"s","gateway":"g","seq":1}`,
		`{"v":1,"site":"s","gateway":"g","seq":1,"unknown":[1,2,{"x":null}]}`,
		`{"v":1,"site":"s","gateway":"g","seq":1} {}`,
	} {
		msg, err := reading.SealBody("g", []byte(body), key)
		if err != nil {
			t.Fatal(err)
		}
		if b, _, _, err := open(msg, keys); err == nil {
			t.Errorf("open accepted %s as %+v", body, b)
		}
	}
}

// TestOpenMatchesReadingOpen: open gives reading.Open's batch, body and
// errors, and the envelope's signature.
func TestOpenMatchesReadingOpen(t *testing.T) {
	seed := sha256.Sum256([]byte("open"))
	key := ed25519.NewKeyFromSeed(seed[:])
	keys := func(id string) (ed25519.PublicKey, error) {
		if id != "g" {
			return nil, errors.New("unknown")
		}
		return key.Public().(ed25519.PublicKey), nil
	}
	good, err := reading.Seal(reading.Batch{Site: "s", Gateway: "g", Seq: 3, Sent: time.Unix(1e9, 0).UTC(),
		Readings: []reading.Reading{{Device: "m", Quantity: reading.QPowerW, Value: 1}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := reading.Seal(reading.Batch{Site: "s", Gateway: "h", Seq: 3}, key)
	noSeq, _ := reading.SealBody("g", []byte(`{"v":1,"site":"s","gateway":"g"}`), key)
	future, _ := reading.SealBody("g", []byte(`{"v":9,"site":"s","gateway":"g","seq":1}`), key)
	wrongGw, _ := reading.SealBody("g", []byte(`{"v":1,"site":"s","gateway":"x","seq":1}`), key)
	forged := append([]byte(nil), good...)
	forged[len(forged)-5] ^= 1
	for _, msg := range [][]byte{good, other, noSeq, future, wrongGw, forged, []byte(`{}`), []byte(`x`),
		[]byte(`{"gateway":"g","body":"e30=","sig":"AAAA"}`)} {
		wb, wbody, wantErr := reading.Open(msg, keys)
		b, body, sig, err := open(msg, keys)
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%s: err %v, reading.Open says %v", msg, err, wantErr)
			continue
		}
		if !reflect.DeepEqual(b, wb) || string(body) != string(wbody) {
			t.Errorf("%s: batch %+v, reading.Open says %+v", msg, b, wb)
		}
		if err == nil && !ed25519.Verify(key.Public().(ed25519.PublicKey), body, sig) {
			t.Errorf("%s: sig does not verify the body", msg)
		}
	}
}
