package ocmf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// verifyText parses a record and a key the way central does and verifies.
func verifyText(record, key string) error {
	rec, err := Parse(record)
	if err != nil {
		return err
	}
	pub, err := ParsePublicKey(key, rec.Signature.SA)
	if err != nil {
		return err
	}
	return Verify(rec, pub)
}

func TestKnownAnswers(t *testing.T) {
	recs := loadKAT(t)
	passed := 0
	for i, k := range recs {
		t.Run(fmt.Sprintf("%02d_%s_%s", i, k.Curve, k.Expect), func(t *testing.T) {
			err := verifyText(k.OCMF, k.KeyHex)
			switch {
			case k.Expect == "valid" && err != nil:
				t.Errorf("kat[%d] %s: got %v, want valid\nnote: %s", i, k.Source, err, k.Note)
			case k.Expect == "invalid" && err == nil:
				t.Errorf("kat[%d] %s: verified, want invalid\nnote: %s", i, k.Source, k.Note)
			default:
				passed++
			}
			if k.Published != "" && k.Published != k.KeyHex {
				// The key as the source published it (spaced hex, base64)
				// must give the same verdict.
				if err2 := verifyText(k.OCMF, k.Published); (err == nil) != (err2 == nil) {
					t.Errorf("kat[%d]: hex key gives %v, published key %q gives %v", i, err, k.Published, err2)
				}
			}
		})
	}
	t.Logf("kat.json: %d/%d verdicts as expected", passed, len(recs))
}

// TestKnownAnswerReasons pins why some invalid records fail: the reason
// matters to the operator reading the error.
func TestKnownAnswerReasons(t *testing.T) {
	recs := loadKAT(t)
	for _, tc := range []struct {
		i    int
		want error
	}{
		{1, ErrBadSignature},   // tampered date
		{13, ErrCurveMismatch}, // secp256k1 record, P-256 key
		{15, ErrBadSignature},  // tampered RV
		{19, ErrBadSignature},  // hand-formatted payload
		{25, ErrMalformed},     // log4j string before the key
		{26, ErrMalformed},     // log4j string in SD
		{52, ErrBadSignature},  // another signer's key
		{55, ErrBadSignature},  // one space added
	} {
		err := verifyText(recs[tc.i].OCMF, recs[tc.i].KeyHex)
		if !errors.Is(err, tc.want) {
			t.Errorf("kat[%d]: got %v, want %v", tc.i, err, tc.want)
		}
	}
}

func TestConformance(t *testing.T) {
	cases := loadConformance(t)
	passed := 0
	for _, c := range cases {
		t.Run(c.ID, func(t *testing.T) {
			ok := true
			rec, err := Parse(c.Record)
			if (err == nil) != c.Expect.Parses {
				t.Errorf("%s (%s): Parse error %v, want parses=%v", c.ID, c.Description, err, c.Expect.Parses)
				ok = false
			}
			if err == nil && c.Expect.Readings != nil && len(rec.Fields.RD) != *c.Expect.Readings {
				t.Errorf("%s: %d readings, want %d (DecodeErr %v)", c.ID, len(rec.Fields.RD), *c.Expect.Readings, rec.DecodeErr)
				ok = false
			}
			if c.Expect.Verifies != nil {
				verr := verifyText(c.Record, c.Key)
				if (verr == nil) != *c.Expect.Verifies {
					t.Errorf("%s (%s): Verify error %v, want verifies=%v", c.ID, c.Description, verr, *c.Expect.Verifies)
					ok = false
				}
			}
			if ok {
				passed++
			}
		})
	}
	t.Logf("conformance.json: %d/%d cases as expected", passed, len(cases))
}

// TestEveryByteIsSigned flips each payload byte of every valid record in
// turn; no changed payload may verify.
func TestEveryByteIsSigned(t *testing.T) {
	recs := loadKAT(t)
	for i, k := range recs {
		if k.Expect != "valid" {
			continue
		}
		rec, err := Parse(k.OCMF)
		if err != nil {
			t.Fatalf("kat[%d]: %v", i, err)
		}
		pub, err := ParsePublicKey(k.KeyHex, rec.Signature.SA)
		if err != nil {
			t.Fatalf("kat[%d]: %v", i, err)
		}
		// Every byte on the fast curves; on the generic big-integer curves
		// (about 1 ms a check, far more under -race), and on all curves
		// with -short, 40 spread positions including the first and the last.
		payload := rec.Payload
		step := 1
		if (pub.std == nil && pub.k1 == nil) || testing.Short() {
			step = max(1, len(payload)/40)
		}
		for j := 0; j < len(payload); j = nextPosition(j, step, len(payload)) {
			tampered := rec
			tampered.Payload = append([]byte(nil), payload...)
			tampered.Payload[j] ^= 0x01
			if err := Verify(tampered, pub); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("kat[%d]: payload byte %d changed %q→%q: got %v, want ErrBadSignature",
					i, j, payload[j], tampered.Payload[j], err)
			}
		}
	}
}

// nextPosition steps through [0, n) by step and always ends on n-1.
func nextPosition(j, step, n int) int {
	if j == n-1 {
		return n
	}
	return min(j+step, n-1)
}

// TestOneByteInRecordText changes one byte inside the payload of the record
// text (not the parsed struct), then parses and verifies.
func TestOneByteInRecordText(t *testing.T) {
	recs := loadKAT(t)
	for i, k := range recs {
		if k.Expect != "valid" {
			continue
		}
		mid := len("OCMF|") + strings.Index(k.OCMF[len("OCMF|"):], `"`) + 1 // inside the first key
		b := []byte(k.OCMF)
		b[mid] ^= 0x20
		if err := verifyText(string(b), k.KeyHex); err == nil {
			t.Errorf("kat[%d]: record with byte %d changed still verifies", i, mid)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki := marshalSPKIHex(t, &key.PublicKey)
	for _, payload := range []string{
		`{"FV":"1.0","GI":"parkgrid-sim","PG":"T1","RD":[{"TM":"2026-11-24T10:00:00,000+0100 S","TX":"B","RV":0.2596,"RI":"1-b:1.8.0","RU":"kWh","ST":"G"}]}`,
		"{\n  \"TT\" : \"Nacht|Tarif\",\n  \"RD\":[]\n}",
		`{}`,
	} {
		record, err := SignP256([]byte(payload), key)
		if err != nil {
			t.Fatalf("SignP256(%q): %v", payload, err)
		}
		rec, err := Parse(record)
		if err != nil {
			t.Fatalf("Parse(%q): %v", record, err)
		}
		if string(rec.Payload) != payload {
			t.Fatalf("payload round trip: got %q, want %q", rec.Payload, payload)
		}
		pub, err := ParsePublicKey(spki, rec.Signature.SA)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(rec, pub); err != nil {
			t.Errorf("Verify(SignP256(%q)): %v", payload, err)
		}
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		otherPub, err := ParsePublicKey(marshalSPKIHex(t, &other.PublicKey), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(rec, otherPub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("Verify with another key: got %v, want ErrBadSignature", err)
		}
	}
	if _, err := SignP256([]byte(`{"a":1} trailing`), key); !errors.Is(err, ErrMalformed) {
		t.Errorf("SignP256 with trailing bytes: got %v, want ErrMalformed", err)
	}
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := SignP256([]byte(`{}`), k384); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("SignP256 with a P-384 key: got %v, want ErrUnsupportedAlgorithm", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	record, err := SignP256([]byte(`{"FV":"1.0"}`), key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(marshalSPKIHex(t, &key.PublicKey), "")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Parse(record)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*Record)) Record {
		r := rec
		f(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		rec  Record
		pub  PublicKey
		want error
	}{
		{"unknown SA", with(func(r *Record) { r.Signature.SA = "RSA-2048-SHA256" }), pub, ErrUnsupportedAlgorithm},
		{"SA on another curve", with(func(r *Record) { r.Signature.SA = "ECDSA-brainpool256r1-SHA256" }), pub, ErrCurveMismatch},
		{"no SD", with(func(r *Record) { r.Signature.SD = "" }), pub, ErrSignatureMissing},
		{"SD not hex", with(func(r *Record) { r.Signature.SD = "zz" }), pub, ErrMalformed},
		{"SD too short", with(func(r *Record) { r.Signature.SD = "3000" }), pub, ErrMalformed},
		{"unknown SE", with(func(r *Record) { r.Signature.SE = "base32" }), pub, ErrMalformed},
		{"zero key", rec, PublicKey{}, ErrBadPublicKey},
		{"payload changed", with(func(r *Record) { r.Payload = []byte(`{"FV":"1.1"}`) }), pub, ErrBadSignature},
	} {
		if err := Verify(tc.rec, tc.pub); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	err = Verify(with(func(r *Record) { r.Payload = []byte(`{}`) }), pub)
	if got, want := fmt.Sprint(err), "invalid: signature does not match payload"; !strings.Contains(got, want) {
		t.Errorf("error text %q does not contain %q", got, want)
	}
}

// TestSignatureEncodings: SD as hex, base64, lenient DER, raw r||s and
// high-s all verify; s is never normalised.
func TestSignatureEncodings(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, err := ParsePublicKey(marshalSPKIHex(t, &key.PublicKey), "")
	if err != nil {
		t.Fatal(err)
	}
	record, _ := SignP256([]byte(`{"RD":[]}`), key)
	rec, _ := Parse(record)
	der := mustHex(t, rec.Signature.SD)
	rb, sb, ok := parseLenientDER(der)
	if !ok {
		t.Fatal("own DER does not parse")
	}
	r := pad(rb, 32)
	s := pad(sb, 32)
	n := elliptic.P256().Params().N
	highS := bigFrom(s)
	highS.Sub(n, highS) // the malleable twin (n - s) verifies too
	for name, sig := range map[string]Signature{
		"hex upper":        {SD: rec.Signature.SD},
		"hex lower":        {SD: strings.ToLower(rec.Signature.SD)},
		"base64":           {SE: "base64", SD: b64(der)},
		"raw r||s":         {SD: hexOf(append(append([]byte{}, r...), s...))},
		"fixed-width DER":  {SD: hexOf(derSeq(derInt(r), derInt(s)))},
		"long-form length": {SD: hexOf(append([]byte{0x30, 0x81, byte(len(derInt(trim(rb))) + len(derInt(trim(sb))))}, append(derInt(trim(rb)), derInt(trim(sb))...)...))},
		"twin s":           {SD: hexOf(derSeq(derInt(r), derInt(highS.FillBytes(make([]byte, 32)))))},
	} {
		rr := rec
		rr.Signature = sig
		if err := Verify(rr, pub); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
