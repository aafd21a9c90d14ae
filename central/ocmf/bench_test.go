package ocmf

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// Benchmarks on real records from kat.json. Run with
//
//	go test -run '^$' -bench . -benchmem -count 5 ./central/ocmf
//
// BenchmarkVerify* measure what central does per record: Parse (section
// scan, lenient field decode) plus Verify, with the meter key parsed once.
// BenchmarkRawECDSAP256 is the floor: crypto/ecdsa.VerifyASN1 on a
// precomputed digest and DER signature.

func benchVerifyKAT(b *testing.B, index int) {
	k := loadKAT(b)[index]
	rec, err := Parse(k.OCMF)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := ParsePublicKey(k.KeyHex, rec.Signature.SA)
	if err != nil {
		b.Fatal(err)
	}
	if err := Verify(rec, pub); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rec, err := Parse(k.OCMF)
		if err != nil {
			b.Fatal(err)
		}
		if err := Verify(rec, pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

func BenchmarkVerifyP256(b *testing.B)            { benchVerifyKAT(b, 0) }  // KEBA KCP30
func BenchmarkVerifyP384(b *testing.B)            { benchVerifyKAT(b, 10) } // NZR, SHA-256 on P-384
func BenchmarkVerifySecp256k1(b *testing.B)       { benchVerifyKAT(b, 22) } // ABL / Phoenix Contact
func BenchmarkVerifyBrainpoolP256r1(b *testing.B) { benchVerifyKAT(b, 8) }  // NZR EcoCount
func BenchmarkVerifyBrainpoolP384r1(b *testing.B) { benchVerifyKAT(b, 36) } // ocmf-js vector
func BenchmarkVerifySecp192r1(b *testing.B)       { benchVerifyKAT(b, 2) }  // eBZ LD3
func BenchmarkVerifySecp192k1(b *testing.B)       { benchVerifyKAT(b, 16) } // generated

func BenchmarkRawECDSAP256(b *testing.B) {
	k := loadKAT(b)[0]
	rec, err := Parse(k.OCMF)
	if err != nil {
		b.Fatal(err)
	}
	pub, err := ParsePublicKey(k.KeyHex, "")
	if err != nil {
		b.Fatal(err)
	}
	sig, err := hex.DecodeString(rec.Signature.SD)
	if err != nil {
		b.Fatal(err)
	}
	key := pub.std
	digest := sha256.Sum256(rec.Payload)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		b.Fatal("raw verify failed")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !ecdsa.VerifyASN1(key, digest[:], sig) {
			b.Fatal("raw verify failed")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}

func BenchmarkParse(b *testing.B) {
	k := loadKAT(b)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(k.OCMF); err != nil {
			b.Fatal(err)
		}
	}
}
