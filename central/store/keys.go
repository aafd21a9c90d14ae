package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/parkgrid/parkgrid/internal/sqldb"
)

// Key lifecycle. A gateway has a key history: enrolling a new key appends
// it and closes the previous one (ValidTo), so batches signed before the
// rotation keep verifying; a key is never deleted. A key can be revoked
// (it verifies nothing any more, not even old batches) and so can a whole
// gateway (refused from then on; enrolling it again reinstates it). A key
// belongs to one gateway for ever: enrolling it for another, or enrolling
// a revoked key, is refused (ErrKeyInUse, ErrRevoked). Meter keys keep a
// history the same way, and one key belongs to one meter. Every change is
// written to the audit log in the same transaction.

// Errors of the key lifecycle, for errors.Is.
var (
	// ErrKeyInUse: the key belongs (or belonged) to another gateway or
	// meter, or to an earlier key of this one.
	ErrKeyInUse = errors.New("key already enrolled elsewhere")
	// ErrRevoked: the key was revoked and can never be enrolled again.
	ErrRevoked = errors.New("key revoked")
)

// Gateway is an enrolled edge gateway.
type Gateway struct {
	ID        string
	Site      string
	PublicKey ed25519.PublicKey // the current key
	Enrolled  time.Time         // set by the store: first enrolment
	// Set by the store when read:
	Keys      []GatewayKey // every key ever enrolled, oldest first
	RevokedAt time.Time    // zero: active; else refused from then on
	// By is who makes a change, for the audit log ("" means "config").
	By string
}

// GatewayKey is one key of a gateway's history.
type GatewayKey struct {
	PublicKey ed25519.PublicKey
	ValidFrom time.Time // enrolled
	ValidTo   time.Time // zero: the current key; else when the next key replaced it
	RevokedAt time.Time // zero: not revoked
}

// Revoked reports whether the gateway is revoked.
func (g Gateway) Revoked() bool { return !g.RevokedAt.IsZero() }

// VerifyingKeys returns the keys that may verify a batch of the gateway,
// current key first: every unrevoked key, none for a revoked gateway. A
// batch verified by a retired key must also have been sent before the key
// was retired (RetiredBefore).
func (g Gateway) VerifyingKeys() []GatewayKey {
	if g.Revoked() {
		return nil
	}
	var out []GatewayKey
	for i := len(g.Keys) - 1; i >= 0; i-- {
		if g.Keys[i].RevokedAt.IsZero() {
			out = append(out, g.Keys[i])
		}
	}
	return out
}

// MeterKey is the public key an Eichrecht meter signs its OCMF snapshots
// with, as published (usually hex DER SubjectPublicKeyInfo).
type MeterKey struct {
	Site      string
	Device    string
	PublicKey string
	Updated   time.Time // set by the store: when this key was enrolled
	Retired   time.Time // set by the store: zero for the current key, else when it was replaced
	By        string    // who makes a change, for the audit log ("" means "config")
}

// Audit actions (append-only).
const (
	ActionEnrol       = "enrol"        // a new gateway
	ActionRotate      = "rotate"       // a gateway's new key
	ActionRevoke      = "revoke"       // a gateway revoked (removed from the config)
	ActionReinstate   = "reinstate"    // a revoked gateway enrolled again
	ActionRevokeKey   = "revoke-key"   // one key revoked
	ActionMeterEnrol  = "meter-enrol"  // a meter's first key
	ActionMeterRotate = "meter-rotate" // a meter's new key
	ActionMigrated    = "migrated"     // enrolled before the audit log existed
)

// AuditEntry is one change of enrolment.
type AuditEntry struct {
	ID      int64
	At      time.Time
	Actor   string
	Action  string
	Gateway string
	Site    string
	Device  string // meter, for meter actions
	Key     string // SHA-256 fingerprint of the key, hex
	Detail  string
}

// AuditFilter selects audit entries; empty fields match everything.
type AuditFilter struct {
	Gateway string
	Site    string
	Limit   int
}

// Fingerprint is the hex SHA-256 of a gateway key.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:])
}

// MeterFingerprint is the hex SHA-256 of a meter key's bytes, however it
// is written (hex DER with or without separators, base64, PEM), so one key
// written two ways is still one key.
func MeterFingerprint(pub string) string {
	h := sha256.Sum256(meterKeyBytes(pub))
	return hex.EncodeToString(h[:])
}

func meterKeyBytes(pub string) []byte {
	t := strings.TrimSpace(pub)
	if b, _ := pem.Decode([]byte(t)); b != nil {
		return b.Bytes
	}
	if b, err := hex.DecodeString(strings.NewReplacer(" ", "", ":", "", "\n", "").Replace(t)); err == nil {
		return b
	}
	if b, err := base64.StdEncoding.DecodeString(t); err == nil {
		return b
	}
	return []byte(t)
}

// Keys is the key lifecycle beyond enrolment: part of Store.
type Keys interface {
	// RevokeGateway refuses the gateway from now on (batches, broker
	// login) until it is enrolled again. Unknown: ErrNotFound.
	RevokeGateway(ctx context.Context, id, by, why string) error
	// RevokeGatewayKey revokes one earlier key of the gateway for ever.
	RevokeGatewayKey(ctx context.Context, id string, key ed25519.PublicKey, by, why string) error
	// GatewayIDs lists every enrolled gateway, revoked ones included.
	GatewayIDs(ctx context.Context) ([]string, error)
	// MeterKeys returns a meter's key history, oldest first (empty when
	// it has none).
	MeterKeys(ctx context.Context, site, device string) ([]MeterKey, error)
	// Audit returns the enrolment audit log, oldest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Tx is what the shared key-lifecycle and evidence code needs of a
// database transaction; store/sqlite and store/postgres adapt theirs.
// Queries are written with ? placeholders; implementations rebind them.
// Time arguments are time.Time (NullTime for NULL); time columns are
// scanned into *ScanTime.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Rows is a query's result.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// NullTime is a time argument that is NULL when zero.
type NullTime time.Time

// ScanTime scans a time column of either dialect: microseconds since the
// epoch (SQLite), a timestamp (PostgreSQL) or NULL (the zero time).
type ScanTime struct{ T time.Time }

// Scan implements sql.Scanner.
func (s *ScanTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		s.T = time.Time{}
	case int64:
		s.T = time.UnixMicro(v).UTC()
	case time.Time:
		s.T = v.UTC()
	default:
		return fmt.Errorf("scan time from %T", src)
	}
	return nil
}

var _ driver.Valuer = NullTime{}

// Value implements driver.Valuer for database/sql; the sqlite adapter
// turns times into microseconds before they get here.
func (n NullTime) Value() (driver.Value, error) {
	if time.Time(n).IsZero() {
		return nil, nil
	}
	return time.Time(n), nil
}

// Rebind turns ? placeholders into $1, $2 … (PostgreSQL).
func Rebind(query string) string { return sqldb.Bind(sqldb.Postgres, query) }

// queryRows runs q and calls each for every row.
func queryRows(ctx context.Context, tx Tx, each func(Rows) error, q string, args ...any) error {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func actor(by string) string {
	if by == "" {
		return "config"
	}
	return by
}

func audit(ctx context.Context, tx Tx, now time.Time, e AuditEntry) error {
	_, err := tx.Exec(ctx, `INSERT INTO enrolment_audit (at, actor, action, gateway, site, device, key_fingerprint, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, now, actor(e.Actor), e.Action, e.Gateway, e.Site, e.Device, e.Key, e.Detail)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", e.Action, e.Gateway, err)
	}
	return nil
}

// LoadGateway reads a gateway with its key history.
func LoadGateway(ctx context.Context, tx Tx, id string) (Gateway, error) {
	var (
		g     Gateway
		found bool
	)
	err := queryRows(ctx, tx, func(r Rows) error {
		var key []byte
		var enrolled, revoked ScanTime
		if err := r.Scan(&g.ID, &g.Site, &key, &enrolled, &revoked); err != nil {
			return err
		}
		g.PublicKey, g.Enrolled, g.RevokedAt, found = key, enrolled.T, revoked.T, true
		return nil
	}, `SELECT id, site, public_key, enrolled_at, revoked_at FROM gateways WHERE id = ?`, id)
	if err != nil {
		return Gateway{}, fmt.Errorf("gateway %q: %w", id, err)
	}
	if !found {
		return Gateway{}, fmt.Errorf("gateway %q: %w", id, ErrNotFound)
	}
	err = queryRows(ctx, tx, func(r Rows) error {
		var k GatewayKey
		var key []byte
		var from, to, revoked ScanTime
		if err := r.Scan(&key, &from, &to, &revoked); err != nil {
			return err
		}
		k.PublicKey, k.ValidFrom, k.ValidTo, k.RevokedAt = key, from.T, to.T, revoked.T
		g.Keys = append(g.Keys, k)
		return nil
	}, `SELECT public_key, valid_from, valid_to, revoked_at FROM gateway_keys WHERE gateway = ? ORDER BY id`, id)
	if err != nil {
		return Gateway{}, fmt.Errorf("gateway %q keys: %w", id, err)
	}
	return g, nil
}

// keyOwner returns the gateway holding key and its row, if any.
func keyOwner(ctx context.Context, tx Tx, key ed25519.PublicKey) (gateway string, k GatewayKey, found bool, err error) {
	err = queryRows(ctx, tx, func(r Rows) error {
		var from, to, revoked ScanTime
		if err := r.Scan(&gateway, &from, &to, &revoked); err != nil {
			return err
		}
		k, found = GatewayKey{PublicKey: key, ValidFrom: from.T, ValidTo: to.T, RevokedAt: revoked.T}, true
		return nil
	}, `SELECT gateway, valid_from, valid_to, revoked_at FROM gateway_keys WHERE public_key = ?`, []byte(key))
	return gateway, k, found, err
}

// EnrollGatewayTx enrols g (new gateway, rotation to a new key, or
// reinstatement of a revoked gateway) and audits it. Enrolling the current
// key of an active gateway changes nothing.
func EnrollGatewayTx(ctx context.Context, tx Tx, now time.Time, g Gateway) error {
	if err := CheckGateway(g); err != nil {
		return err
	}
	fp := Fingerprint(g.PublicKey)
	cur, err := LoadGateway(ctx, tx, g.ID)
	known := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if known && cur.Site != g.Site {
		return fmt.Errorf("%w: gateway %q is enrolled at site %q, not %q; a gateway cannot move (enrol a new gateway id)", ErrInvalid, g.ID, cur.Site, g.Site)
	}
	owner, k, owned, err := keyOwner(ctx, tx, g.PublicKey)
	if err != nil {
		return err
	}
	switch {
	case owned && !k.RevokedAt.IsZero():
		return fmt.Errorf("%w: key %s… of gateway %q was revoked at %s and cannot be enrolled again", ErrRevoked, fp[:16], owner, k.RevokedAt.Format(time.RFC3339))
	case owned && owner != g.ID:
		return fmt.Errorf("%w: key %s… belongs to gateway %q; every gateway needs its own key", ErrKeyInUse, fp[:16], owner)
	case owned && known && !bytes.Equal(cur.PublicKey, g.PublicKey):
		return fmt.Errorf("%w: key %s… was gateway %q's until %s; make a new key instead of going back to an old one", ErrKeyInUse, fp[:16], g.ID, k.ValidTo.Format(time.RFC3339))
	}
	if !known {
		if _, err := tx.Exec(ctx, `INSERT INTO gateways (id, site, public_key, enrolled_at) VALUES (?, ?, ?, ?)`,
			g.ID, g.Site, []byte(g.PublicKey), now); err != nil {
			return fmt.Errorf("enrol gateway %q: %w", g.ID, err)
		}
		if err := insertGatewayKey(ctx, tx, g.ID, g.PublicKey, now); err != nil {
			return err
		}
		return audit(ctx, tx, now, AuditEntry{Actor: g.By, Action: ActionEnrol, Gateway: g.ID, Site: g.Site, Key: fp})
	}
	if cur.Revoked() {
		if _, err := tx.Exec(ctx, `UPDATE gateways SET revoked_at = NULL WHERE id = ?`, g.ID); err != nil {
			return fmt.Errorf("reinstate gateway %q: %w", g.ID, err)
		}
		if err := audit(ctx, tx, now, AuditEntry{Actor: g.By, Action: ActionReinstate, Gateway: g.ID, Site: g.Site, Key: fp,
			Detail: "revoked at " + cur.RevokedAt.Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	if bytes.Equal(cur.PublicKey, g.PublicKey) {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE gateway_keys SET valid_to = ? WHERE gateway = ? AND valid_to IS NULL`, now, g.ID); err != nil {
		return fmt.Errorf("retire key of gateway %q: %w", g.ID, err)
	}
	if err := insertGatewayKey(ctx, tx, g.ID, g.PublicKey, now); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE gateways SET public_key = ? WHERE id = ?`, []byte(g.PublicKey), g.ID); err != nil {
		return fmt.Errorf("rotate key of gateway %q: %w", g.ID, err)
	}
	return audit(ctx, tx, now, AuditEntry{Actor: g.By, Action: ActionRotate, Gateway: g.ID, Site: g.Site, Key: fp,
		Detail: "replaces " + Fingerprint(cur.PublicKey)})
}

func insertGatewayKey(ctx context.Context, tx Tx, id string, key ed25519.PublicKey, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO gateway_keys (gateway, public_key, valid_from) VALUES (?, ?, ?)`, id, []byte(key), now); err != nil {
		return fmt.Errorf("key of gateway %q: %w", id, err)
	}
	return nil
}

// RevokeGatewayTx revokes a gateway: from now on nothing of it is accepted
// and it cannot log in. Revoking a revoked gateway changes nothing.
func RevokeGatewayTx(ctx context.Context, tx Tx, now time.Time, id, by, why string) error {
	g, err := LoadGateway(ctx, tx, id)
	if err != nil {
		return err
	}
	if g.Revoked() {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE gateways SET revoked_at = ? WHERE id = ?`, now, id); err != nil {
		return fmt.Errorf("revoke gateway %q: %w", id, err)
	}
	return audit(ctx, tx, now, AuditEntry{Actor: by, Action: ActionRevoke, Gateway: id, Site: g.Site, Key: Fingerprint(g.PublicKey), Detail: why})
}

// RevokeGatewayKeyTx revokes one key of a gateway for ever. The current
// key cannot be revoked alone (enrol a new key first, or revoke the
// gateway). A key never seen is recorded as revoked, so it can never be
// enrolled.
func RevokeGatewayKeyTx(ctx context.Context, tx Tx, now time.Time, id string, key ed25519.PublicKey, by, why string) error {
	if len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: revoke a %d-byte key", ErrInvalid, len(key))
	}
	g, err := LoadGateway(ctx, tx, id)
	if err != nil {
		return err
	}
	fp := Fingerprint(key)
	if bytes.Equal(g.PublicKey, key) {
		return fmt.Errorf("%w: key %s… is gateway %q's current key; enrol a new key first or revoke the gateway", ErrInvalid, fp[:16], id)
	}
	owner, k, owned, err := keyOwner(ctx, tx, key)
	switch {
	case err != nil:
		return err
	case owned && owner != id:
		return fmt.Errorf("%w: key %s… belongs to gateway %q, not %q", ErrKeyInUse, fp[:16], owner, id)
	case owned && !k.RevokedAt.IsZero():
		return nil
	case owned:
		if _, err := tx.Exec(ctx, `UPDATE gateway_keys SET revoked_at = ? WHERE public_key = ?`, now, []byte(key)); err != nil {
			return fmt.Errorf("revoke key of gateway %q: %w", id, err)
		}
	default:
		if _, err := tx.Exec(ctx, `INSERT INTO gateway_keys (gateway, public_key, valid_from, valid_to, revoked_at) VALUES (?, ?, ?, ?, ?)`,
			id, []byte(key), now, now, now); err != nil {
			return fmt.Errorf("revoke key of gateway %q: %w", id, err)
		}
	}
	return audit(ctx, tx, now, AuditEntry{Actor: by, Action: ActionRevokeKey, Gateway: id, Site: g.Site, Key: fp, Detail: why})
}

// ListGatewayIDs returns every enrolled gateway id, sorted.
func ListGatewayIDs(ctx context.Context, tx Tx) ([]string, error) {
	var ids []string
	err := queryRows(ctx, tx, func(r Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		ids = append(ids, id)
		return nil
	}, `SELECT id FROM gateways ORDER BY id`)
	return ids, err
}

// SetMeterKeyTx enrols a meter's key: the first one, or a new one that
// retires the current one (kept in the history). The same key again
// changes nothing. A key of another meter is refused.
func SetMeterKeyTx(ctx context.Context, tx Tx, now time.Time, k MeterKey) error {
	if err := CheckMeterKey(k); err != nil {
		return err
	}
	if err := backfillMeterFingerprints(ctx, tx); err != nil {
		return err
	}
	fp := MeterFingerprint(k.PublicKey)
	var (
		owner   [2]string
		retired ScanTime
		owned   bool
	)
	if err := queryRows(ctx, tx, func(r Rows) error {
		owned = true
		return r.Scan(&owner[0], &owner[1], &retired)
	}, `SELECT site, device, valid_to FROM meter_key_history WHERE fingerprint = ?`, fp); err != nil {
		return fmt.Errorf("meter key %s/%s: %w", k.Site, k.Device, err)
	}
	switch {
	case owned && owner != [2]string{k.Site, k.Device}:
		return fmt.Errorf("%w: meter key %s… belongs to meter %s/%s", ErrKeyInUse, fp[:16], owner[0], owner[1])
	case owned && retired.T.IsZero():
		return nil // the current key
	case owned:
		return fmt.Errorf("%w: key %s… was meter %s/%s's until %s", ErrKeyInUse, fp[:16], k.Site, k.Device, retired.T.Format(time.RFC3339))
	}
	n, err := tx.Exec(ctx, `UPDATE meter_key_history SET valid_to = ? WHERE site = ? AND device = ? AND valid_to IS NULL`, now, k.Site, k.Device)
	if err != nil {
		return fmt.Errorf("meter key %s/%s: retire: %w", k.Site, k.Device, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meter_key_history (site, device, public_key, fingerprint, valid_from) VALUES (?, ?, ?, ?, ?)`,
		k.Site, k.Device, k.PublicKey, fp, now); err != nil {
		return fmt.Errorf("meter key %s/%s: %w", k.Site, k.Device, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM meter_keys WHERE site = ? AND device = ?`, k.Site, k.Device); err != nil {
		return fmt.Errorf("meter key %s/%s: %w", k.Site, k.Device, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO meter_keys (site, device, public_key, updated_at) VALUES (?, ?, ?, ?)`,
		k.Site, k.Device, k.PublicKey, now); err != nil {
		return fmt.Errorf("meter key %s/%s: %w", k.Site, k.Device, err)
	}
	action := ActionMeterEnrol
	if n > 0 {
		action = ActionMeterRotate
	}
	return audit(ctx, tx, now, AuditEntry{Actor: k.By, Action: action, Site: k.Site, Device: k.Device, Key: fp})
}

// backfillMeterFingerprints fills the fingerprints of history rows that
// the migration copied without one (SQL cannot decode every key format).
func backfillMeterFingerprints(ctx context.Context, tx Tx) error {
	type row struct {
		id  int64
		key string
	}
	var rows []row
	if err := queryRows(ctx, tx, func(r Rows) error {
		var x row
		if err := r.Scan(&x.id, &x.key); err != nil {
			return err
		}
		rows = append(rows, x)
		return nil
	}, `SELECT id, public_key FROM meter_key_history WHERE fingerprint IS NULL`); err != nil {
		return fmt.Errorf("meter key fingerprints: %w", err)
	}
	for _, x := range rows {
		if _, err := tx.Exec(ctx, `UPDATE meter_key_history SET fingerprint = ? WHERE id = ?`, MeterFingerprint(x.key), x.id); err != nil {
			return fmt.Errorf("meter key fingerprint %d: %w", x.id, err)
		}
	}
	return nil
}

// LoadMeterKeys returns a meter's keys, oldest first.
func LoadMeterKeys(ctx context.Context, tx Tx, site, device string) ([]MeterKey, error) {
	var out []MeterKey
	err := queryRows(ctx, tx, func(r Rows) error {
		k := MeterKey{Site: site, Device: device}
		var from, to ScanTime
		if err := r.Scan(&k.PublicKey, &from, &to); err != nil {
			return err
		}
		k.Updated, k.Retired = from.T, to.T
		out = append(out, k)
		return nil
	}, `SELECT public_key, valid_from, valid_to FROM meter_key_history WHERE site = ? AND device = ? ORDER BY id`, site, device)
	if err != nil {
		return nil, fmt.Errorf("meter keys %s/%s: %w", site, device, err)
	}
	return out, nil
}

// LoadAudit reads the audit log, oldest first.
func LoadAudit(ctx context.Context, tx Tx, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, action, gateway, site, device, key_fingerprint, detail FROM enrolment_audit`
	var (
		where []string
		args  []any
	)
	if f.Gateway != "" {
		where, args = append(where, "gateway = ?"), append(args, f.Gateway)
	}
	if f.Site != "" {
		where, args = append(where, "site = ?"), append(args, f.Site)
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	var out []AuditEntry
	err := queryRows(ctx, tx, func(r Rows) error {
		var e AuditEntry
		var at ScanTime
		if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Gateway, &e.Site, &e.Device, &e.Key, &e.Detail); err != nil {
			return err
		}
		e.At = at.T
		out = append(out, e)
		return nil
	}, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return out, nil
}

// KeyValidAt reports whether a gateway key may verify a batch sent at t:
// not revoked, and t before the key was retired (a batch claiming a time
// after the rotation must carry the new key's signature).
func KeyValidAt(k GatewayKey, sent time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ValidTo.IsZero() || sent.Before(k.ValidTo))
}
