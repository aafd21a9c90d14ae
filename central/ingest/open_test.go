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

// TestDecodeBodyMatchesDecode: the single-parse decoder accepts exactly what
// reading.Decode accepts, with the same batch, and refuses with its error.
func TestDecodeBodyMatchesDecode(t *testing.T) {
	bodies := []string{
		`{"v":1,"site":"s","gateway":"g","seq":1,"sent":"2026-11-25T10:00:00Z"}`,
		`{"v":1,"site":"s","gateway":"g","seq":7,"sent":"2026-11-25T10:00:00Z","readings":[{"t":"2026-11-25T10:00:00.123Z","device":"m","point":"cp","q":"power_w","val":-5,"stale":true},{"t":"2026-11-25T10:00:01Z","device":"m","q":"ocmf","ocmf":"OCMF|{}|{}","session":"x"}],"events":[{"t":"2026-11-25T10:00:00Z","kind":"alarm","attrs":{"a":"b"}}]}`,
		`{"V":1,"SITE":"s","Gateway":"g","seq":1}`,
		`{"v":1,"v":2,"site":"s","gateway":"g","seq":1}`,
		`{"v":2,"v":1,"site":"s","gateway":"g","seq":1}`,
		`{"site":"s","gateway":"g","seq":1}`,
		`{"v":null,"site":"s","gateway":"g","seq":1}`,
		`{"v":0,"site":"s","gateway":"g","seq":1}`,
		`{"v":2,"site":"s","gateway":"g","seq":1}`,
		`{"v":2,"site":5,"gateway":"g","seq":1}`,
		`{"v":"1","site":"s","gateway":"g","seq":1}`,
		`{"v":1.5,"site":"s","gateway":"g","seq":1}`,
		`{"v":1,"site":"","gateway":"g","seq":1}`,
		`{"v":1,"site":"s","gateway":"","seq":1}`,
		`{"v":1,"site":"s","gateway":"g","seq":0}`,
		`{"v":1,"site":"s","gateway":"g","seq":-1}`,
		`{"v":1,"site":"s","gateway":"g","seq":1,"readings":[{"q":"power_w"}]}`,
		`{"v":1,"site":"s","gateway":"g","seq":1,"readings":[{"device":"m"}]}`,
		`{"v":1,"site":"s","gateway":"g","seq":1,"readings":[{"device":"m","q":"x","val":"1"}]}`,
		`{"v":1,"site":"s","gateway":"g","seq":1,"sent":"yesterday"}`,
		`{"v":1,"site":"s","gateway":"g","seq":1} {}`,
		`{"v":1,"site":"s","gateway":"g","seq":1`,
		`[1]`,
		`null`,
		``,
		`{"v":1,"site":"s","gateway":"g","seq":1,"unknown":[1,2,{"x":null}]}`,
	}
	for _, body := range bodies {
		want, wantErr := reading.Decode([]byte(body))
		got, err := decodeBody([]byte(body))
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Errorf("%s: err %v, reading.Decode says %v", body, err, wantErr)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: batch %+v, reading.Decode says %+v", body, got, want)
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
