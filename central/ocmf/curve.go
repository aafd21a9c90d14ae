package ocmf

import (
	"crypto/elliptic"
	"math/big"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Curve is an elliptic curve of OCMF table 22.
type Curve int

// The curves OCMF records are signed on.
const (
	CurveUnknown Curve = iota
	CurveSecp256r1
	CurveSecp384r1
	CurveSecp256k1
	CurveBrainpoolP256r1
	CurveBrainpoolP384r1
	CurveSecp192r1
	CurveSecp192k1
)

// String returns the SEC 2 / RFC 5639 name.
func (c Curve) String() string {
	switch c {
	case CurveSecp256r1:
		return "secp256r1"
	case CurveSecp384r1:
		return "secp384r1"
	case CurveSecp256k1:
		return "secp256k1"
	case CurveBrainpoolP256r1:
		return "brainpoolP256r1"
	case CurveBrainpoolP384r1:
		return "brainpoolP384r1"
	case CurveSecp192r1:
		return "secp192r1"
	case CurveSecp192k1:
		return "secp192k1"
	}
	return "unknown curve"
}

// algorithmCurve maps an SA value to its curve. Absent SA means
// ECDSA-secp256r1-SHA256. Brainpool is accepted in the spelling of OCMF
// table 22 (brainpool256r1) and of RFC 5639 (brainpoolP256r1), which real
// NZR gateways write. Every algorithm hashes with SHA-256.
func algorithmCurve(sa string) (Curve, bool) {
	switch sa {
	case "", "ECDSA-secp256r1-SHA256":
		return CurveSecp256r1, true
	case "ECDSA-secp384r1-SHA256":
		return CurveSecp384r1, true
	case "ECDSA-secp256k1-SHA256":
		return CurveSecp256k1, true
	case "ECDSA-brainpool256r1-SHA256", "ECDSA-brainpoolP256r1-SHA256":
		return CurveBrainpoolP256r1, true
	case "ECDSA-brainpool384r1-SHA256", "ECDSA-brainpoolP384r1-SHA256":
		return CurveBrainpoolP384r1, true
	case "ECDSA-secp192r1-SHA256":
		return CurveSecp192r1, true
	case "ECDSA-secp192k1-SHA256":
		return CurveSecp192k1, true
	}
	return CurveUnknown, false
}

// curveByOID maps a namedCurve OID (dotted) from a SubjectPublicKeyInfo.
func curveByOID(oid string) Curve {
	switch oid {
	case "1.2.840.10045.3.1.7":
		return CurveSecp256r1
	case "1.3.132.0.34":
		return CurveSecp384r1
	case "1.3.132.0.10":
		return CurveSecp256k1
	case "1.3.36.3.3.2.8.1.1.7":
		return CurveBrainpoolP256r1
	case "1.3.36.3.3.2.8.1.1.11":
		return CurveBrainpoolP384r1
	case "1.2.840.10045.3.1.1":
		return CurveSecp192r1
	case "1.3.132.0.31":
		return CurveSecp192k1
	}
	return CurveUnknown
}

// params returns the curve's constants. P-256 and P-384 verify through
// crypto/ecdsa and secp256k1 through decred; their constants here serve point
// decompression and the cross-checks in the tests.
func (c Curve) params() *shortCurve {
	switch c {
	case CurveSecp256r1:
		return secp256r1Params()
	case CurveSecp384r1:
		return secp384r1Params()
	case CurveSecp256k1:
		return secp256k1Params()
	case CurveBrainpoolP256r1:
		return brainpoolP256r1Params()
	case CurveBrainpoolP384r1:
		return brainpoolP384r1Params()
	case CurveSecp192r1:
		return secp192r1Params()
	case CurveSecp192k1:
		return secp192k1Params()
	}
	return nil
}

// The constant tables are built once and never mutated. Sources: SEC 2 v2
// (secp*), RFC 5639 section 3 (brainpool*); P-256/P-384 and secp256k1 are
// copied from crypto/elliptic and decred so no digit is transcribed twice.
var (
	secp256r1Params = sync.OnceValue(func() *shortCurve {
		return fromStdParams("secp256r1", elliptic.P256().Params())
	})
	secp384r1Params = sync.OnceValue(func() *shortCurve {
		return fromStdParams("secp384r1", elliptic.P384().Params())
	})
	secp256k1Params = sync.OnceValue(func() *shortCurve {
		k := secp256k1.Params()
		return newShortCurve("secp256k1",
			new(big.Int).Set(k.P), big.NewInt(0), big.NewInt(7),
			new(big.Int).Set(k.Gx), new(big.Int).Set(k.Gy), new(big.Int).Set(k.N))
	})
	brainpoolP256r1Params = sync.OnceValue(func() *shortCurve {
		return mustHexCurve("brainpoolP256r1",
			"A9FB57DBA1EEA9BC3E660A909D838D726E3BF623D52620282013481D1F6E5377",
			"7D5A0975FC2C3057EEF67530417AFFE7FB8055C126DC5C6CE94A4B44F330B5D9",
			"26DC5C6CE94A4B44F330B5D9BBD77CBF958416295CF7E1CE6BCCDC18FF8C07B6",
			"8BD2AEB9CB7E57CB2C4B482FFC81B7AFB9DE27E1E3BD23C23A4453BD9ACE3262",
			"547EF835C3DAC4FD97F8461A14611DC9C27745132DED8E545C1D54C72F046997",
			"A9FB57DBA1EEA9BC3E660A909D838D718C397AA3B561A6F7901E0E82974856A7")
	})
	brainpoolP384r1Params = sync.OnceValue(func() *shortCurve {
		return mustHexCurve("brainpoolP384r1",
			"8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B412B1DA197FB71123ACD3A729901D1A71874700133107EC53",
			"7BC382C63D8C150C3C72080ACE05AFA0C2BEA28E4FB22787139165EFBA91F90F8AA5814A503AD4EB04A8C7DD22CE2826",
			"04A8C7DD22CE28268B39B55416F0447C2FB77DE107DCD2A62E880EA53EEB62D57CB4390295DBC9943AB78696FA504C11",
			"1D1C64F068CF45FFA2A63A81B7C13F6B8847A3E77EF14FE3DB7FCAFE0CBD10E8E826E03436D646AAEF87B2E247D4AF1E",
			"8ABE1D7520F9C2A45CB1EB8E95CFD55262B70B29FEEC5864E19C054FF99129280E4646217791811142820341263C5315",
			"8CB91E82A3386D280F5D6F7E50E641DF152F7109ED5456B31F166E6CAC0425A7CF3AB6AF6B7FC3103B883202E9046565")
	})
	secp192r1Params = sync.OnceValue(func() *shortCurve {
		return mustHexCurve("secp192r1",
			"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFF",
			"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFFC",
			"64210519E59C80E70FA7E9AB72243049FEB8DEECC146B9B1",
			"188DA80EB03090F67CBF20EB43A18800F4FF0AFD82FF1012",
			"07192B95FFC8DA78631011ED6B24CDD573F977A11E794811",
			"FFFFFFFFFFFFFFFFFFFFFFFF99DEF836146BC9B1B4D22831")
	})
	secp192k1Params = sync.OnceValue(func() *shortCurve {
		return mustHexCurve("secp192k1",
			"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFEE37",
			"000000000000000000000000000000000000000000000000",
			"000000000000000000000000000000000000000000000003",
			"DB4FF10EC057E9AE26B07D0280B7F4341DA5D1B1EAE06C7D",
			"9B2F2F6D9C5628A7844163D015BE86344082AA88D95E2F9D",
			"FFFFFFFFFFFFFFFFFFFFFFFE26F2FC170F69466A74DEFD8D")
	})
)

func fromStdParams(name string, p *elliptic.CurveParams) *shortCurve {
	a := new(big.Int).Sub(p.P, big.NewInt(3)) // crypto/elliptic curves have a = -3
	return newShortCurve(name, new(big.Int).Set(p.P), a, new(big.Int).Set(p.B),
		new(big.Int).Set(p.Gx), new(big.Int).Set(p.Gy), new(big.Int).Set(p.N))
}

func mustHexCurve(name, p, a, b, gx, gy, n string) *shortCurve {
	h := func(s string) *big.Int {
		v, ok := new(big.Int).SetString(s, 16)
		if !ok {
			panic("ocmf: bad curve constant for " + name) // programmer error in the table above
		}
		return v
	}
	return newShortCurve(name, h(p), h(a), h(b), h(gx), h(gy), h(n))
}
