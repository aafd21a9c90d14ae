package export

import (
	"fmt"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
)

// script is verify.sh: every signature check of the export, with openssl,
// grep and a POSIX shell, one line per check, exit status 1 on any failure.
func (x *auditor) script() string {
	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Re-checks this auditor export with openssl, grep and a POSIX shell only.
# One line per check; the exit status is 0 when every check passed.
set -u
cd "$(dirname "$0")" || exit 2
fail=0
pass() { echo "OK   $*"; }
failed() { echo "FAIL $*"; fail=1; }

# check_batch BATCH KEY: the gateway's Ed25519 signature over the exact body.
check_batch() {
	if openssl pkeyutl -verify -pubin -inkey "$2" -rawin -in "$1.body" -sigfile "$1.sig" >/dev/null 2>&1; then
		pass "$1.body signed by $2"
	else
		failed "$1.body signed by $2"
	fi
}

# check_snapshot SNAPSHOT KEY: the meter's ECDSA signature over the exact
# payload, the payload is the record's, and the record is in the signed body.
check_snapshot() {
	if openssl dgst -sha256 -verify "$2" -signature "$1.sig.der" "$1.payload" >/dev/null 2>&1; then
		pass "$1.payload signed by $2"
	else
		failed "$1.payload signed by $2"
	fi
	tmp=$(mktemp) || exit 2
	{ printf 'OCMF|'; cat "$1.payload"; } > "$tmp"
	size=$(wc -c < "$tmp")
	if head -c "$size" "$1.ocmf" | cmp -s - "$tmp"; then
		pass "$1.payload is the payload of $1.ocmf"
	else
		failed "$1.payload is the payload of $1.ocmf"
	fi
	rm -f "$tmp"
	b=$(basename "$1")
	body="batches/${b%-*}.body"
	if [ -f "$1.ocmf.json" ] && grep -qF -f "$1.ocmf.json" "$body"; then
		pass "$1.ocmf is inside $body"
	else
		failed "$1.ocmf is inside $body"
	fi
}

# Every file is the one exported.
while read -r sum name; do
	got=$(openssl dgst -sha256 -r "$name" | cut -d' ' -f1)
	if [ "$got" = "$sum" ]; then pass "sha256 $name"; else failed "sha256 $name"; fi
done < SHA256SUMS

`)
	for _, l := range x.batchCheck {
		b.WriteString(l + "\n")
	}
	for _, l := range x.snapCheck {
		b.WriteString(l + "\n")
	}
	b.WriteString(`
if [ "$fail" -ne 0 ]; then
	echo "SOME CHECKS FAILED"
	exit 1
fi
echo "ALL CHECKS PASSED"
`)
	return b.String()
}

// readme is README.md.
func readme(g store.Gateway, o AuditorOptions, s Summary, now time.Time) string {
	rng := "everything stored"
	if !o.From.IsZero() || !o.To.IsZero() {
		rng = fmt.Sprintf("batches sent from %s to %s (end excluded)", ts(o.From), ts(o.To))
	}
	findings := "none"
	if len(s.Findings) > 0 {
		findings = fmt.Sprintf("%d, listed in findings.txt", len(s.Findings))
	}
	return fmt.Sprintf(`# Auditor export: gateway %s, site %s

Made %s by parkgrid central. Range: %s. %d batches, %d OCMF snapshots.
Findings: %s.

Everything here can be checked with openssl alone; you need to trust
neither parkgrid nor its database. Run

    sh verify.sh

which prints one line per check and "ALL CHECKS PASSED" at the end (exit
status 0). It does exactly what the rest of this file explains.

## What is signed, and by whom

- The **gateway** (the edge computer of the car park) signs every batch it
  sends with its Ed25519 key. batches/S.body are the exact bytes it signed
  (JSON), batches/S.sig the 64-byte signature.
- Each **Eichrecht meter** signs its snapshots (OCMF records, begin and end
  of a charging session) with its own ECDSA key inside the meter. The
  gateway passes them on unchanged inside its batches. snapshots/S-I.payload
  are the exact bytes the meter signed, snapshots/S-I.sig.der its signature.

## The keys, and when they were valid

gateway/keys.csv is the gateway's key history: each key (gateway/key-N.pem),
its SHA-256 fingerprint, when it was enrolled (valid_from), when the next
key replaced it (valid_to, empty for the current key) and whether it was
revoked. A batch verified by a replaced key must have been sent (its "sent"
field) before that key's valid_to; batches/index.csv names the key of every
batch. gateway/audit.csv is the log of every enrolment change. meters/keys.csv
is the same for the meters' keys. Compare the fingerprints with what the
operator and the meter's manufacturer publish (the meter's key is on its
label and in the BNetzA charging-point register).

## Checking one batch by hand

    openssl pkeyutl -verify -pubin -inkey gateway/key-1.pem -rawin \
        -in batches/000000000001.body -sigfile batches/000000000001.sig

prints "Signature Verified Successfully" (OpenSSL 3; -rawin needs 1.1.1 or
later). Change one byte of the body and it fails.

## Checking one snapshot by hand

    openssl dgst -sha256 -verify meters/meter-1-1.pem \
        -signature snapshots/000000000001-1.sig.der snapshots/000000000001-1.payload

prints "Verified OK". The payload is the part of the record between "OCMF|"
and the next "|{" (snapshots/S-I.ocmf is the whole record); the signature
is the record's SD field, converted from hex to binary DER. The record
appears in the gateway-signed body as a JSON string (snapshots/S-I.ocmf.json),
so the gateway vouched for it too:

    grep -cF -f snapshots/000000000001-1.ocmf.json batches/000000000001.body

prints 1. snapshots/index.csv lists, per snapshot, the meter, the charging
session the gateway put it in and the pagination (T1, T2, …: the meter's
own gap-free transaction counter). The meter's signed identification (ID in
the payload) must equal the session; findings.txt lists any that does not,
pages that appear twice and gaps in the pagination (pages outside this
export, or records the meter made that never reached central).

## Files

SHA256SUMS has the SHA-256 of every other file (openssl dgst -sha256 -r FILE).
`, g.ID, g.Site, now.UTC().Format(time.RFC3339), rng, s.Batches, s.Snapshots, findings)
}
