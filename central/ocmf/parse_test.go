package ocmf

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSections(t *testing.T) {
	const sig = `{"SA":"ECDSA-secp256r1-SHA256","SD":"00"}`
	for _, tc := range []struct {
		name, record, payload, keySection string
	}{
		{"plain", `OCMF|{"FV":"1.0"}|` + sig, `{"FV":"1.0"}`, ""},
		{"pipe in a string", `OCMF|{"TT":"Nacht|Tarif"}|` + sig, `{"TT":"Nacht|Tarif"}`, ""},
		{"brace and quote in a string", `OCMF|{"TT":"a}\"{b"}|` + sig, `{"TT":"a}\"{b"}`, ""},
		{"escaped backslash before quote", `OCMF|{"TT":"a\\"}|` + sig, `{"TT":"a\\"}`, ""},
		{"nested objects", `OCMF|{"LC":{"LN":"x"},"RD":[{"RV":1}]}|` + sig, `{"LC":{"LN":"x"},"RD":[{"RV":1}]}`, ""},
		{"pretty printed", "OCMF|{\n  \"FV\" : \"1.0\"\n}|" + sig, "{\n  \"FV\" : \"1.0\"\n}", ""},
		{"fourth section", `OCMF|{}|` + sig + `| 3059AB `, `{}`, "3059AB"},
		{"trailing newline and NULs", "OCMF|{}|" + sig + "\r\n\x00\x00", `{}`, ""},
	} {
		rec, err := Parse(tc.record)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(rec.Payload) != tc.payload || rec.KeySection != tc.keySection || string(rec.SignatureSection) != sig {
			t.Errorf("%s: got payload %q key %q sig %q", tc.name, rec.Payload, rec.KeySection, rec.SignatureSection)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, record := range map[string]string{
		"empty":                 "",
		"lower-case header":     `ocmf|{}|{}`,
		"no delimiter":          "OCMF",
		"no payload":            "OCMF|",
		"array payload":         `OCMF|[]|{"SD":"00"}`,
		"unterminated payload":  `OCMF|{"FV":"1.0"`,
		"unterminated string":   `OCMF|{"FV":"1.0}|{}`,
		"no signature section":  `OCMF|{}`,
		"bytes after payload":   `OCMF|{} |{}`,
		"signature not object":  `OCMF|{}|"SD"`,
		"bytes after signature": `OCMF|{}|{} x`,
		"five sections":         `OCMF|{}|{}|key|extra`,
		"signature not JSON":    `OCMF|{}|{SD:00}`,
		"SD is an object":       `OCMF|{}|{"SD":{}}`,
		"longer than the bound": `OCMF|{"TT":"` + strings.Repeat("x", MaxRecordBytes) + `"}|{}`,
	} {
		if _, err := Parse(record); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseBytesCopies(t *testing.T) {
	b := []byte(`OCMF|{"FV":"1.0"}|{"SD":"00"}`)
	rec, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b[6] = 'X'
	if string(rec.Payload) != `{"FV":"1.0"}` {
		t.Errorf("Record.Payload aliases the input: %q", rec.Payload)
	}
}

func TestParseFields(t *testing.T) {
	record := `OCMF|{"FV" : 1.0,"GI":"KEBA_KCP30","GS":"17619300","GV":"2.8.5","PG":"T32","MV":"AC\qME","MS":"1\u0030X","IS":false,` +
		"\"IL\":\"NONE\",\"IF\":[\"RFID_NONE\",\"OCPP_NONE\"],\"IT\":\"NONE\",\"ID\":\"\x01\",\"CT\":\"EVSEID\",\"CI\":\"DE*ABC\",\"TT\":\"Nacht|Tarif\"," +
		`"RD":[{"TM":"2019-08-13T10:03:15,000+0000 I","TX":"B","EF":"","ST":"G","RV":0100.000,"RV":0.2596,"RI":"1-b:1.8.0","RU":"\u006bWh"},` +
		`{"RV":"       9.038","RI":"1-b:2.8.0","RU":"Wh","RT":"DC","CL":0.5},` +
		`{"TM":"2019-08-13T10:03:36.5+01:00","TX":"E","RV":1.606848e7,"RU":"Wh","ST":"G"}]}|{"SD":"00"}`
	rec, err := Parse(record)
	if err != nil {
		t.Fatal(err)
	}
	if rec.DecodeErr != nil {
		t.Fatalf("DecodeErr: %v", rec.DecodeErr)
	}
	f := rec.Fields
	no := false
	want := Fields{
		FV: "1.0", GI: "KEBA_KCP30", GS: "17619300", GV: "2.8.5", PG: "T32", MV: "ACqME", MS: "10X",
		IS: &no, IL: "NONE", IF: []string{"RFID_NONE", "OCPP_NONE"}, IT: "NONE", ID: "\x01",
		CT: "EVSEID", CI: "DE*ABC", TT: "Nacht|Tarif",
	}
	got := f
	got.RD = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if len(f.RD) != 3 {
		t.Fatalf("%d readings, want 3", len(f.RD))
	}
	type summary struct {
		TX, RI, RU, RT, Raw, Text, Dec string
		Sync                           byte
		Unix                           int64
		MilliWh                        int64
	}
	var sums []summary
	for _, r := range f.RD {
		mWh, _ := r.EnergyMilliWh()
		s := summary{r.TX, r.RI, r.RU, r.RT, r.RV.Raw, r.RV.Text, r.RV.Decimal.String(), r.TM.Sync, 0, mWh}
		if !r.TM.Time.IsZero() {
			s.Unix = r.TM.Time.UnixMilli()
		}
		sums = append(sums, s)
	}
	wantSums := []summary{
		{"B", "1-b:1.8.0", "kWh", "", "0.2596", "0.2596", "0.2596", 'I', 1565690595000, 259600},
		{"", "1-b:2.8.0", "Wh", "DC", `"       9.038"`, "       9.038", "9.038", 0, 0, 9038},
		{"E", "", "Wh", "", "1.606848e7", "1.606848e7", "16068480", 0, 1565687016500, 16068480000},
	}
	if diff := cmp.Diff(wantSums, sums); diff != "" {
		t.Errorf("readings (-want +got):\n%s", diff)
	}
	if cl := f.RD[1].CL.Decimal.String(); cl != "0.5" {
		t.Errorf("CL = %s, want 0.5", cl)
	}
}

func TestParseKeepsRecordWhenFieldsFail(t *testing.T) {
	for name, payload := range map[string]string{
		"not JSON at all": `{"FV":1.2.3 garbage}`,
		"IS as string":    `{"IS":"true","RD":[{"RV":1}]}`,
		"RV unreadable":   `{"RD":[{"RV":"n/a","RU":"kWh"}]}`,
		"RD not an array": `{"RD":{}}`,
	} {
		rec, err := Parse("OCMF|" + payload + `|{"SD":"00"}`)
		if err != nil {
			t.Errorf("%s: Parse: %v", name, err)
			continue
		}
		if rec.DecodeErr == nil {
			t.Errorf("%s: DecodeErr is nil", name)
		}
		if string(rec.Payload) != payload {
			t.Errorf("%s: payload %q, want %q", name, rec.Payload, payload)
		}
	}
}

func TestDecodeSignature(t *testing.T) {
	rec, err := Parse(`OCMF|{}|{"SA" : "ECDSA-secp256k1-SHA256","SE":"base64","SM":"application/x-der","SD" : "MEQ="}`)
	if err != nil {
		t.Fatal(err)
	}
	want := Signature{SA: "ECDSA-secp256k1-SHA256", SE: "base64", SM: "application/x-der", SD: "MEQ="}
	if diff := cmp.Diff(want, rec.Signature); diff != "" {
		t.Errorf("signature (-want +got):\n%s", diff)
	}
}
