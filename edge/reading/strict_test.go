package reading

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeRefusesSmuggledKeys: a signed body is one batch with one
// meaning. encoding/json alone takes the last of two equal keys and
// matches keys case-insensitively, so "seq" and "SEQ" in one signed body
// would store seq 600002 while an auditor reading the first key sees
// 600001. Duplicate keys, keys that differ only in case (Unicode folding
// included), unknown fields and trailing data are refused before anything
// is stored.
func TestDecodeRefusesSmuggledKeys(t *testing.T) {
	const head = `{"v":1,"site":"s1","gateway":"gw","sent":"2026-11-25T10:00:00Z",`
	for _, tc := range []struct{ name, body string }{
		{"seq and SEQ", head + `"seq":600001,"SEQ":600002}`},
		{"seq twice", head + `"seq":600001,"seq":600002}`},
		{"Seq", head + `"Seq":600001}`},
		{"escaped key equal to seq twice", head + `"seq":600001,"s\u0065q":600002}`},
		{"kelvin sign folds to k", `{"v":1,"site":"s1","gateway":"gw","seq":1,"events":[{"t":"2026-11-25T10:00:00Z","\u212aind":"x"}]}`},
		{"unknown field", head + `"seq":1,"future_field":true}`},
		{"unknown reading field", head + `"seq":1,"readings":[{"t":"2026-11-25T10:00:00Z","device":"m","q":"power_w","val":1,"unit":"W"}]}`},
		{"reading value twice", head + `"seq":1,"readings":[{"t":"2026-11-25T10:00:00Z","device":"m","q":"power_w","val":1,"val":2}]}`},
		{"attrs key twice", head + `"seq":1,"events":[{"t":"2026-11-25T10:00:00Z","kind":"x","attrs":{"a":"1","a":"2"}}]}`},
		{"attrs keys differing in case", head + `"seq":1,"events":[{"t":"2026-11-25T10:00:00Z","kind":"x","attrs":{"session":"1","Session":"2"}}]}`},
		{"trailing object", head + `"seq":1} {"v":1}`},
		{"trailing garbage", head + `"seq":1}x`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Decode([]byte(tc.body))
			if err == nil {
				t.Fatalf("Decode accepted %s as %+v", tc.body, b)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode = %v, want ErrMalformed", err)
			}
		})
	}
	// Equal keys in different objects are fine.
	ok := head + `"seq":1,"readings":[{"t":"2026-11-25T10:00:00Z","device":"m","q":"power_w","val":1},{"t":"2026-11-25T10:00:00Z","device":"m","q":"power_w","val":2}]}`
	if _, err := Decode([]byte(ok)); err != nil {
		t.Fatalf("Decode(%s) = %v", ok, err)
	}
	if !strings.Contains(ok, `"val":1`) {
		t.Fatal("test body changed")
	}
}
