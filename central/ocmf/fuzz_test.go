package ocmf

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Seeds: short real records from kat.json (literal copies so the fuzz
// targets run without the shared test data), plus edge shapes.
const (
	// kat.json[31]: Chargy PTB demo record, P-256, base64 key published.
	seedDemoP256    = `OCMF|{"MF":"1.2.3","ID":"METER12345678","MM":"DemoMeter","MV":"DemoVendor","PG":"TRANSACTION-1","RD":[{"TM":"2026-04-16T11:16:49,000+0200 I","RV":1000,"RI":"0100010800FF","ST":"G"}]}|{"SD":"3045022100BE6233BCBBC404EF2DF79286418521FAA3C0AB018C55AB9D1EBB57AED538AEA10220780E9A22BBE270A5B0BB8F6F6F466E47AFDC25A6B57F952CC3B89DD06083985C"}`
	seedDemoP256Key = `3059301306072A8648CE3D020106082A8648CE3D03010703420004D0EB4BAE12EC49005B6B70270C992F5B3CF834F6C723782E63F9D42C4050331321D06077682FBEDE6B5256F8B0A8161567C57BE1A4846569781DDAD933A0C265`

	// kat.json[3]: eBZ LD3, secp192r1, non-canonical fixed-width DER.
	seedEBZ192    = `OCMF|{"FV":"1.0","GI":"eBZ LD3","GS":"1EBZ0300034628","GV":"V207","MS":"1EBZ0300034628","PG":"T120","IS":true,"IL":"TRUSTED","IT":"EMAID","ID":"DKV_Testbox2","CI":"Dies","CT":"EVSEID","RD":[{"TM":"2022-10-27T19:38:50,000+0200 I","TX":"B","RV":2851485,"RI":"1-b:1.8.e","RU":"Wh","ST":"G"},{"TM":"2022-10-27T19:43:38,000+0200 I","TX":"E","RV":2851753,"RI":"1-b:1.8.e","RU":"Wh","ST":"G"}]}|{"SA":"ECDSA-secp192r1-SHA256","SD":"30340218e10a077929f593717affdff69a5df0d2862989a6638f873d0218007d21b1c0255c5b24a3c5a01d600839ebae2bb67bcb1159"}`
	seedEBZ192Key = `3049301306072a8648ce3d020106082a8648ce3d030101033200041e155ef46fbcc56005769c08d792127c006c242ccccd96bf7051b6fbc278497036659e7bae57f542776a17c7f8b28600`

	// kat.json[8]: NZR EcoCount, brainpoolP256r1, SD before SA.
	seedNZRBrainpool    = `OCMF|{"FV":"1.0","GI":"NZR GATEWAY","GS":"21751020","GV":"1.0.0.0","PG":"T274","MV":"NZR","MM":"EcoCount SL","MS":"12345678","MF":"1.11","IS":false,"IL":"NONE","IF":[],"IT":"NONE","ID":"","CT":"","CI":"","RD":[{"TM":"2021-10-26T11:15:09,000+0000 S","TX":"B","RV":1833,"RI":"1-0:1.8.1","RU":"Wh","RT":"AC","EF":"","ST":"G"}]}|{"SD":"304402202CC410E10CD9141394AE77B3DC17A523C359F65B0117C098703DF1F2AB773A3302204C6CC011FE4920F87CF413F6FB94EDD78DAA26BB5DB4048DA9B3D3AB513CC23C","SA":"ECDSA-brainpoolP256r1-SHA256"}`
	seedNZRBrainpoolKey = `305A301406072A8648CE3D020106092B240303020801010703420004607201339EF7C61EB1270C0BEA675585711CB160835F0F55975A311EA6F14AE98981A9276ABC6C70ADA4F8CE25A5502336C738B9E86FB1ED62150FF1B0FAD5A2`
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		seedDemoP256, seedEBZ192, seedNZRBrainpool,
		`OCMF|{"TT":"Nacht|Tarif","RD":[{"RV":"  0100.000","RU":"kWh"}]}|{"SD":"00"}|3059`,
		"OCMF|{\n \"MV\":\"AC\\qME\",\"ID\":\"\x01\",\"RV\":1,\"RV\":2}|{\"SE\":\"base64\",\"SD\":\"MEQ=\"}",
		`OCMF|[]|{}`,
		`OCMF|{"a":"\u00`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, record string) {
		rec, err := Parse(record)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !strings.Contains(record, string(rec.Payload)) || !bytes.HasPrefix(rec.Payload, []byte("{")) || !bytes.HasSuffix(rec.Payload, []byte("}")) {
			t.Fatalf("payload %q is not an object taken from the record", rec.Payload)
		}
		// Reassembling the sections gives the same record.
		again := "OCMF|" + string(rec.Payload) + "|" + string(rec.SignatureSection)
		rec2, err := Parse(again)
		if err != nil || !bytes.Equal(rec2.Payload, rec.Payload) || rec2.Signature != rec.Signature {
			t.Fatalf("reassembled record %q parses differently: %v", again, err)
		}
		for _, r := range rec.Fields.RD {
			_, _ = r.EnergyMilliWh()
			_, _ = r.EnergyWh()
			_ = r.RV.Decimal.String()
		}
		_ = Check(rec)
	})
}

func FuzzVerify(f *testing.F) {
	f.Add(seedDemoP256, seedDemoP256Key)
	f.Add(seedEBZ192, seedEBZ192Key)
	f.Add(seedNZRBrainpool, seedNZRBrainpoolKey)
	f.Add(`OCMF|{}|{"SA":"ECDSA-secp256k1-SHA256","SD":"3006020101020101"}`, "MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEqHEykfqZhspgok6zCQh/329B38xine8ujzT8p5Nh7lek47cYeZj507aN6E4/QirF1b7Q57ln4VGfK6h0d0GOQA==")
	f.Fuzz(func(t *testing.T, record, key string) {
		rec, err := Parse(record)
		if err != nil {
			return
		}
		pub, err := ParsePublicKey(key, rec.Signature.SA)
		if err != nil {
			return
		}
		if err := Verify(rec, pub); err != nil {
			return
		}
		// A record that verifies must stop verifying when its payload
		// changes in any way.
		tampered := rec
		tampered.Payload = append(bytes.Clone(rec.Payload), ' ')
		if err := Verify(tampered, pub); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("payload with a space appended: got %v, want ErrBadSignature", err)
		}
	})
}

// TestFuzzSeedsVerify keeps the literal seeds honest: they are the real
// records and verify with their keys.
func TestFuzzSeedsVerify(t *testing.T) {
	for _, s := range [][2]string{
		{seedDemoP256, seedDemoP256Key},
		{seedEBZ192, seedEBZ192Key},
		{seedNZRBrainpool, seedNZRBrainpoolKey},
	} {
		if err := verifyText(s[0], s[1]); err != nil {
			t.Errorf("seed %.40q…: %v", s[0], err)
		}
	}
}
