// Package export writes exports of central's stored data for others. This
// file is the auditor export: for one gateway and a time range, the exact
// signed batch bodies, their Ed25519 signatures, the gateway's key history
// and audit log, the OCMF snapshots inside the batches with the meters'
// signatures and keys, and a README and verify.sh that re-check every
// signature with openssl alone, so an auditor needs to trust neither
// parkgrid nor its database.
//
// # Layout
//
//	README.md            what is here and how to check it by hand
//	verify.sh            every check of README.md, with openssl, grep and sh only
//	SHA256SUMS           SHA-256 of every other file (sha256sum -c SHA256SUMS)
//	gateway/keys.csv     the gateway's key history: file, fingerprint, valid from/to, revoked
//	gateway/key-N.pem    each key, SubjectPublicKeyInfo PEM
//	gateway/audit.csv    the enrolment audit log of the gateway
//	batches/index.csv    seq, sent, received, body SHA-256, the key that verifies it
//	batches/S.body       the exact bytes the gateway signed (S: the seq in 12
//	                     digits, after the outbox epoch and '-' when there is one)
//	batches/S.sig        its Ed25519 signature, 64 raw bytes
//	meters/keys.csv      each meter's key history
//	meters/M-N.pem       the keys, SubjectPublicKeyInfo PEM
//	snapshots/index.csv  seq, reading, meter, session, pagination, key, findings
//	snapshots/S-I.ocmf          the record as stored (I: the reading's index)
//	snapshots/S-I.payload       the exact bytes the meter signed
//	snapshots/S-I.sig.der       the meter's ECDSA signature, DER
//	snapshots/S-I.ocmf.json     the record as it appears, JSON-escaped, in the batch body
//	findings.txt         pagination gaps and anything that did not verify
package export

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
)

// Store is what the auditor export reads; store.Store has it.
type Store interface {
	Gateway(ctx context.Context, id string) (store.Gateway, error)
	Batches(ctx context.Context, f store.BatchFilter) ([]store.StoredBatch, error)
	Snapshots(ctx context.Context, f store.SnapshotFilter) ([]store.Snapshot, error)
	MeterKeys(ctx context.Context, site, device string) ([]store.MeterKey, error)
	Audit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

var _ Store = store.Store(nil)

// AuditorOptions say what to export and where.
type AuditorOptions struct {
	Gateway  string
	From, To time.Time // the batches' signed Sent time in [From, To); zero: unbounded
	Dir      string    // created; must not exist or be empty
	Now      func() time.Time
}

// Summary is what Auditor wrote.
type Summary struct {
	Batches, Snapshots int
	Findings           []string // also in findings.txt
}

// Auditor writes the auditor export.
func Auditor(ctx context.Context, st Store, o AuditorOptions) (Summary, error) {
	if o.Gateway == "" || o.Dir == "" {
		return Summary{}, errors.New("auditor export: gateway and directory are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := emptyDir(o.Dir); err != nil {
		return Summary{}, err
	}
	g, err := st.Gateway(ctx, o.Gateway)
	if err != nil {
		return Summary{}, fmt.Errorf("auditor export: %w", err)
	}
	batches, err := st.Batches(ctx, store.BatchFilter{Gateway: o.Gateway, From: o.From, To: o.To})
	if err != nil {
		return Summary{}, fmt.Errorf("auditor export: %w", err)
	}
	snaps, err := st.Snapshots(ctx, store.SnapshotFilter{Gateway: o.Gateway})
	if err != nil {
		return Summary{}, fmt.Errorf("auditor export: %w", err)
	}
	audit, err := st.Audit(ctx, store.AuditFilter{Gateway: o.Gateway})
	if err != nil {
		return Summary{}, fmt.Errorf("auditor export: %w", err)
	}
	w := &writer{dir: o.Dir}
	x := &auditor{w: w, g: g, st: st, sum: &Summary{}}
	x.gatewayKeys()
	x.auditLog(audit)
	bodies := x.batches(batches)
	if err := x.snapshots(ctx, snaps, bodies); err != nil {
		return Summary{}, err
	}
	w.file("findings.txt", []byte(strings.Join(append([]string{"# findings (empty: none)"}, x.sum.Findings...), "\n")+"\n"))
	w.file("README.md", []byte(readme(g, o, *x.sum, o.Now())))
	w.file("verify.sh", []byte(x.script()))
	w.sums()
	if w.err != nil {
		return Summary{}, fmt.Errorf("auditor export: %w", w.err)
	}
	return *x.sum, nil
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("auditor export: %w", err)
	case len(entries) > 0:
		return fmt.Errorf("auditor export: %s is not empty", dir)
	}
	return os.MkdirAll(dir, 0o755)
}

// writer writes files below dir and remembers them for SHA256SUMS; the
// first error sticks.
type writer struct {
	dir   string
	files []string
	err   error
}

func (w *writer) file(rel string, b []byte) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.err = err
		return
	}
	mode := os.FileMode(0o644)
	if strings.HasSuffix(rel, ".sh") {
		mode = 0o755
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		w.err = err
		return
	}
	w.files = append(w.files, rel)
}

func (w *writer) csv(rel string, rows [][]string) {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	_ = cw.WriteAll(rows) // a bytes.Buffer does not fail
	w.file(rel, b.Bytes())
}

// sums writes SHA256SUMS over every file written so far.
func (w *writer) sums() {
	if w.err != nil {
		return
	}
	sort.Strings(w.files)
	var b strings.Builder
	for _, rel := range w.files {
		data, err := os.ReadFile(filepath.Join(w.dir, filepath.FromSlash(rel)))
		if err != nil {
			w.err = err
			return
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), rel)
	}
	w.file("SHA256SUMS", []byte(b.String()))
}

type auditor struct {
	w   *writer
	g   store.Gateway
	st  Store
	sum *Summary

	keyFiles   []string // per g.Keys
	batchCheck []string // verify.sh lines
	snapCheck  []string
}

func pemOf(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}) }

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func (x *auditor) gatewayKeys() {
	keys := x.g.Keys
	if len(keys) == 0 {
		keys = []store.GatewayKey{{PublicKey: x.g.PublicKey, ValidFrom: x.g.Enrolled}}
		x.g.Keys = keys
	}
	rows := [][]string{{"file", "sha256_fingerprint", "valid_from", "valid_to", "revoked_at"}}
	for i, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(k.PublicKey))
		if err != nil {
			x.w.err = err
			return
		}
		name := fmt.Sprintf("gateway/key-%d.pem", i+1)
		x.w.file(name, pemOf(der))
		x.keyFiles = append(x.keyFiles, name)
		rows = append(rows, []string{name, store.Fingerprint(k.PublicKey), ts(k.ValidFrom), ts(k.ValidTo), ts(k.RevokedAt)})
	}
	x.w.csv("gateway/keys.csv", rows)
}

func (x *auditor) auditLog(es []store.AuditEntry) {
	rows := [][]string{{"at", "actor", "action", "gateway", "site", "device", "key_fingerprint", "detail"}}
	for _, e := range es {
		rows = append(rows, []string{ts(e.At), e.Actor, e.Action, e.Gateway, e.Site, e.Device, e.Key, e.Detail})
	}
	x.w.csv("gateway/audit.csv", rows)
}

// batchName names a batch's files: its seq (12 digits), after its outbox
// epoch when it has one.
func batchName(epoch string, seq uint64) string {
	if epoch == "" {
		return fmt.Sprintf("%012d", seq)
	}
	return fmt.Sprintf("%s-%012d", safeName(epoch), seq)
}

// batchKey names a batch of the gateway.
type batchKey struct {
	epoch string
	seq   uint64
}

// batches writes each batch and finds the key that verifies it; it
// returns the bodies by seq for the snapshot checks.
func (x *auditor) batches(bs []store.StoredBatch) map[batchKey][]byte {
	bodies := map[batchKey][]byte{}
	rows := [][]string{{"file", "epoch", "seq", "sent", "received", "body_sha256", "key", "verifies"}}
	for _, b := range bs {
		name := "batches/" + batchName(b.Epoch, b.Seq)
		x.w.file(name+".body", b.Body)
		x.w.file(name+".sig", b.Sig)
		bodies[batchKey{b.Epoch, b.Seq}] = b.Body
		key, state := "", "no"
		for i, k := range x.g.Keys {
			if len(b.Sig) == ed25519.SignatureSize && ed25519.Verify(k.PublicKey, b.Body, b.Sig) {
				key, state = x.keyFiles[i], "yes"
				if !store.KeyValidAt(k, b.Sent) {
					state = "key not valid at the batch's time"
					x.finding("%s verifies with %s, which was retired or revoked before the batch was sent", name, key)
				}
				break
			}
		}
		if key == "" {
			x.finding("%s: no key of the gateway verifies its signature", name)
		} else {
			x.batchCheck = append(x.batchCheck, fmt.Sprintf("check_batch %s %s", name, key))
		}
		rows = append(rows, []string{name + ".body", b.Epoch, strconv.FormatUint(b.Seq, 10), ts(b.Sent), ts(b.Received), hex.EncodeToString(b.BodySHA256[:]), key, state})
		x.sum.Batches++
	}
	x.w.csv("batches/index.csv", rows)
	return bodies
}

func (x *auditor) finding(format string, args ...any) {
	x.sum.Findings = append(x.sum.Findings, fmt.Sprintf(format, args...))
}

// meterKey is one exported meter key.
type meterKey struct {
	file string
	key  store.MeterKey
}

// snapshots writes the snapshots of the exported batches with their
// meters' keys.
func (x *auditor) snapshots(ctx context.Context, snaps []store.Snapshot, bodies map[batchKey][]byte) error {
	keys := map[string][]meterKey{} // device → keys
	keyRows := [][]string{{"file", "site", "device", "sha256_fingerprint", "valid_from", "valid_to"}}
	meterKeys := func(site, device string) ([]meterKey, error) {
		if ks, ok := keys[device]; ok {
			return ks, nil
		}
		hist, err := x.st.MeterKeys(ctx, site, device)
		if err != nil {
			return nil, fmt.Errorf("auditor export: %w", err)
		}
		var ks []meterKey
		for i, k := range hist {
			der := keyDER(k.PublicKey)
			name := fmt.Sprintf("meters/%s-%d.pem", safeName(device), i+1)
			if der == nil {
				x.finding("meter %s key %d is not a SubjectPublicKeyInfo; openssl cannot check its snapshots", device, i+1)
				name = ""
			} else {
				x.w.file(name, pemOf(der))
			}
			ks = append(ks, meterKey{file: name, key: k})
			keyRows = append(keyRows, []string{name, site, device, store.MeterFingerprint(k.PublicKey), ts(k.Updated), ts(k.Retired)})
		}
		keys[device] = ks
		return ks, nil
	}
	rows := [][]string{{"file", "epoch", "seq", "reading", "meter", "session", "pagination", "tx", "key", "verifies", "in_body"}}
	pages := map[string][]int64{}
	for _, s := range snaps {
		body, ok := bodies[batchKey{s.Epoch, s.Seq}]
		if !ok {
			continue // a batch outside the range
		}
		ks, err := meterKeys(s.Site, s.Meter)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("snapshots/%s-%d", batchName(s.Epoch, s.Seq), s.Index)
		x.w.file(name+".ocmf", []byte(s.OCMF))
		rec, err := ocmf.Parse(s.OCMF)
		if err != nil {
			x.finding("snapshot %s: %v", name, err)
			continue
		}
		x.w.file(name+".payload", rec.Payload)
		inBody := "no"
		if lit, err := json.Marshal(s.OCMF); err == nil && bytes.Contains(body, lit) {
			x.w.file(name+".ocmf.json", lit)
			inBody = "yes"
		} else {
			x.finding("snapshot %s: its record was not found verbatim in the batch body", name)
		}
		sig, sigErr := derSignature(rec.Signature)
		if sigErr == nil {
			x.w.file(name+".sig.der", sig)
		} else {
			x.finding("snapshot %s: signature: %v", name, sigErr)
		}
		key, state := "", "no"
		for _, k := range ks {
			pub, err := ocmf.ParsePublicKey(k.key.PublicKey, rec.Signature.SA)
			if err == nil && ocmf.Verify(rec, pub) == nil {
				key, state = k.file, "yes"
				break
			}
		}
		if state != "yes" {
			x.finding("snapshot %s: no key of meter %s verifies it", name, s.Meter)
		} else if key != "" && sigErr == nil {
			x.snapCheck = append(x.snapCheck, fmt.Sprintf("check_snapshot %s %s", name, key))
		}
		pg := rec.Fields.PG
		if n, ok := strings.CutPrefix(pg, "T"); ok {
			if v, err := strconv.ParseInt(n, 10, 64); err == nil {
				pages[s.Meter] = append(pages[s.Meter], v)
			}
		}
		tx := ""
		if len(rec.Fields.RD) > 0 {
			tx = rec.Fields.RD[len(rec.Fields.RD)-1].TX
		}
		rows = append(rows, []string{name + ".ocmf", s.Epoch, strconv.FormatUint(s.Seq, 10), strconv.Itoa(s.Index), s.Meter, s.Session, pg, tx, key, state, inBody})
		if rec.Fields.ID != s.Session && s.Session != "" {
			x.finding("snapshot %s claims session %q but the meter signed identification %q", name, s.Session, rec.Fields.ID)
		}
		x.sum.Snapshots++
	}
	for _, m := range slices.Sorted(maps.Keys(pages)) {
		ps := pages[m]
		slices.Sort(ps)
		for i := 1; i < len(ps); i++ {
			switch {
			case ps[i] == ps[i-1]:
				x.finding("meter %s: page T%d appears more than once", m, ps[i])
			case ps[i] != ps[i-1]+1:
				x.finding("meter %s: pagination gap between T%d and T%d (pages not in this export)", m, ps[i-1], ps[i])
			}
		}
	}
	x.w.csv("snapshots/index.csv", rows)
	x.w.csv("meters/keys.csv", keyRows)
	return nil
}

// safeName keeps a device id usable as a file name.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// keyDER returns a meter key's SubjectPublicKeyInfo DER, nil when it is
// not one (a bare point).
func keyDER(s string) []byte {
	t := strings.TrimSpace(s)
	var b []byte
	if p, _ := pem.Decode([]byte(t)); p != nil {
		b = p.Bytes
	} else if h, err := hex.DecodeString(strings.NewReplacer(" ", "", ":", "").Replace(t)); err == nil {
		b = h
	} else if d, err := base64.StdEncoding.DecodeString(t); err == nil {
		b = d
	}
	var spki struct {
		Algo asn1.RawValue
		Key  asn1.BitString
	}
	if rest, err := asn1.Unmarshal(b, &spki); err != nil || len(rest) != 0 {
		return nil
	}
	return b
}

// derSignature returns the record's signature as strict DER, which openssl
// requires: DER as written, or a bare r||s re-encoded.
func derSignature(sig ocmf.Signature) ([]byte, error) {
	var raw []byte
	var err error
	switch strings.ToLower(sig.SE) {
	case "", "hex":
		raw, err = hex.DecodeString(strings.TrimSpace(sig.SD))
	case "base64":
		raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(sig.SD))
	default:
		return nil, fmt.Errorf("encoding %q", sig.SE)
	}
	if err != nil {
		return nil, err
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(raw, &rs); err == nil && len(rest) == 0 {
		return asn1.Marshal(rs)
	}
	if len(raw) > 0 && len(raw)%2 == 0 && raw[0] != 0x30 {
		rs.R, rs.S = new(big.Int).SetBytes(raw[:len(raw)/2]), new(big.Int).SetBytes(raw[len(raw)/2:])
		return asn1.Marshal(rs)
	}
	return nil, errors.New("not DER and not r||s")
}
