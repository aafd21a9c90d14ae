package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ocmfPayload is the payload section; the field order is the order written.
type ocmfPayload struct {
	FV string        `json:"FV"`
	GI string        `json:"GI"`
	GS string        `json:"GS"`
	GV string        `json:"GV"`
	PG string        `json:"PG"`
	MV string        `json:"MV"`
	MM string        `json:"MM"`
	MS string        `json:"MS"`
	MF string        `json:"MF"`
	IS bool          `json:"IS"`
	IL string        `json:"IL"`
	IF []string      `json:"IF"`
	IT string        `json:"IT"`
	ID string        `json:"ID"`
	CT string        `json:"CT"`
	CI string        `json:"CI"`
	RD []ocmfReading `json:"RD"`
}

type ocmfReading struct {
	TM string      `json:"TM"`
	TX string      `json:"TX"`
	RV json.Number `json:"RV"`
	RI string      `json:"RI"`
	RU string      `json:"RU"`
	ST string      `json:"ST"`
}

// ocmfTime formats a reading time the OCMF way, marked as synchronised.
func ocmfTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05,000-0700") + " S"
}

// kWhDecimal writes Wh as kWh with exactly 3 decimals, without floats.
func kWhDecimal(wh int64) json.Number {
	return json.Number(fmt.Sprintf("%d.%03d", wh/1000, wh%1000))
}

// snapshot signs a record of the meter's counter at t; tx is B, C or E.
func (m *ocmfMeter) snapshot(s *Sim, t time.Time, tx string) error {
	ident := string(bytes.TrimRight(m.ident[:], "\x00"))
	if i := strings.IndexByte(ident, 0); i >= 0 {
		ident = ident[:i]
	}
	pl := ocmfPayload{
		FV: "1.0",
		GI: s.cfg.OCMF.GatewayID,
		GS: s.cfg.OCMF.GatewaySerial,
		GV: s.cfg.OCMF.GatewayVersion,
		PG: fmt.Sprintf("T%d", m.pages+1),
		MV: "parkgrid",
		MM: "sim-eichrecht",
		MS: m.serial,
		MF: "1.0.0",
		IS: ident != "",
		IL: "NONE",
		IF: []string{},
		IT: "NONE",
		ID: ident,
		CT: "EVSEID",
		CI: m.p.name,
		RD: []ocmfReading{{
			TM: ocmfTime(t),
			TX: tx,
			RV: kWhDecimal(m.energyWh()),
			RI: "1-b:1.8.0",
			RU: "kWh",
			ST: "G",
		}},
	}
	if pl.IS {
		pl.IL, pl.IT = "TRUSTED", "CENTRAL"
	}
	payload, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, m.key, sum[:])
	if err != nil {
		return err
	}
	rec := make([]byte, 0, len(payload)+200)
	rec = append(rec, "OCMF|"...)
	rec = append(rec, payload...)
	rec = append(rec, `|{"SA":"ECDSA-secp256r1-SHA256","SD":"`...)
	rec = append(rec, strings.ToUpper(hex.EncodeToString(sig))...)
	rec = append(rec, `"}`...)
	if len(rec) > 2*snapshotRegs {
		return fmt.Errorf("snapshot of %d bytes does not fit %d registers", len(rec), snapshotRegs)
	}
	m.record = rec
	m.pages++
	return nil
}

// meterKey returns a meter's key: from keyDir when a file is there,
// otherwise derived from the seed (and written to keyDir when set).
func meterKey(keyDir string, seed int64, name string) (*ecdsa.PrivateKey, error) {
	var path string
	if keyDir != "" {
		path = filepath.Join(keyDir, keyFileName(name))
		data, err := os.ReadFile(path)
		if err == nil {
			return parseKeyPEM(path, data)
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("meter %s key: %w", name, err)
		}
	}
	key, err := seededKey(seed, name)
	if err != nil {
		return nil, fmt.Errorf("meter %s key: %w", name, err)
	}
	if path != "" {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("meter %s key: %w", name, err)
		}
		if err := os.MkdirAll(keyDir, 0o700); err != nil {
			return nil, fmt.Errorf("meter %s key: %w", name, err)
		}
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, fmt.Errorf("meter %s key: %w", name, err)
		}
	}
	return key, nil
}

func keyFileName(name string) string {
	return strings.NewReplacer("/", "_", "\\", "_").Replace(name) + ".pem"
}

func parseKeyPEM(path string, data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("key %s: no PEM block", path)
	}
	var k any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("key %s: not a P-256 ECDSA key", path)
	}
	return ek, nil
}

// seededKey derives a P-256 key from the seed and the meter's name: the
// scalar is SHA-256 over both, rehashed in the (rare) case it is out of
// range.
func seededKey(seed int64, name string) (*ecdsa.PrivateKey, error) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(seed))
	d := sha256.Sum256(append(append([]byte("parkgrid sim meter key\x00"), b[:]...), name...))
	for range 100 {
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
		if err == nil {
			return k, nil
		}
		d = sha256.Sum256(d[:])
	}
	return nil, errors.New("no valid scalar derived")
}
