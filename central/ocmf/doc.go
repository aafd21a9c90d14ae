// Package ocmf parses and verifies signed meter records in the Open Charge
// Metering Format (OCMF, S.A.F.E. e.V.), the evidence German calibration law
// (Eichrecht, PTB-A 50.7) requires behind every kWh parkgrid bills.
//
// # Format
//
// A record has three sections separated by '|', and sometimes a fourth:
//
//	OCMF|{payload JSON}|{"SA":"ECDSA-secp256r1-SHA256","SD":"3045…"}[|<public key>]
//
// The payload is a JSON object written by the meter: FV format version,
// GI/GS/GV gateway, PG pagination, MV/MM/MS/MF meter, IS/IL/IF/IT/ID
// identification, CT/CI charge point, TT tariff text and RD, the readings
// (TM time and sync state, TX transaction event, RV value, RI OBIS code, RU
// unit, ST meter state, EF error flags). The signature section holds SA
// (algorithm), SE (encoding of SD: hex by default, or base64), SM (MIME
// type) and SD (the signature). The fourth section, a public key, was
// withdrawn from the specification; it is kept in Record.KeySection but
// never trusted.
//
// # Verification rules
//
// The signature covers the payload bytes exactly as they appear after
// "OCMF|", found by a brace- and string-aware scan (payload strings may
// contain '|'). They are never re-serialised: real meters write spaces
// around ':', space-padded string values, exponents and pretty-printed
// JSON, and a single changed byte must fail.
//
//   - SA selects curve and hash; absent SA means ECDSA-secp256r1-SHA256.
//     Supported: secp256r1, secp384r1, secp256k1, brainpoolP256r1 and
//     brainpoolP384r1 (spelled brainpool256r1 as in the OCMF table or
//     brainpoolP256r1 as in RFC 5639), secp192r1, secp192k1. The hash is
//     SHA-256 for all of them, also for 384-bit curves; on 192-bit curves
//     the digest is cut to its leftmost 192 bits (SEC 1, 4.1.3). Any other
//     SA is refused (ErrUnsupportedAlgorithm), never tried as another.
//   - The public key's curve must be SA's curve (ErrCurveMismatch). Keys
//     come as hex or base64 SubjectPublicKeyInfo or as a bare point whose
//     curve SA implies; see ParsePublicKey.
//   - SD is DER, read leniently as the S.A.F.E. reference does (integers as
//     unsigned magnitudes, with or without a 0x00 pad, non-minimal
//     lengths), or a bare r||s of twice the scalar length. High-s
//     signatures are valid: ECDSA has no low-s rule and about half of real
//     meters produce them.
//
// P-256 and P-384 are verified by crypto/ecdsa, secp256k1 by
// github.com/decred/dcrd/dcrec/secp256k1/v4, brainpool and the 192-bit
// curves by a small generic short-Weierstrass verifier in this package
// (crypto/elliptic.CurveParams assumes a = -3 and must not be used for them).
//
// # Fields
//
// Parse decodes payload fields leniently: raw control characters, undefined
// escapes such as \q, numbers like 0100.000, duplicate keys (the last wins)
// and pretty printing are accepted. When even that fails, or a field has an
// unexpected type, Record.DecodeErr says so and the record still verifies.
// Reading values keep their exact text and an exact Decimal; energy is
// converted to integer mWh exactly (Reading.EnergyMilliWh) or to whole Wh,
// rounded half away from zero (Reading.EnergyWh). No float is involved.
//
// Check reports transparency-software style findings (one begin, one end,
// begin ≤ end, meter state G, synchronised time, no error flags); they do
// not affect validity.
package ocmf
