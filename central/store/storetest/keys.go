package storetest

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
)

// keyTests are the conformance tests of the key lifecycle, the evidence
// index and the archive (store/keys.go, store/evidence.go).
var keyTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"KeyRotationKeepsHistory", testKeyRotation},
	{"KeysAreUnique", testKeysUnique},
	{"RevokeGateway", testRevokeGateway},
	{"RevokeKey", testRevokeKey},
	{"GatewayCannotMove", testGatewayCannotMove},
	{"MeterKeyHistory", testMeterKeyHistory},
	{"AuditLog", testAuditLog},
	{"EvidenceIndex", testEvidence},
	{"EvidenceRollsBack", testEvidenceRollback},
	{"BatchesByTime", testBatchesByTime},
	{"PruneRejections", testPruneRejections},
}

func enrol(t *testing.T, s store.Store, g store.Gateway) {
	t.Helper()
	if err := s.EnrollGateway(ctx(t), g); err != nil {
		t.Fatalf("EnrollGateway(%s, %x…): %v", g.ID, g.PublicKey[:2], err)
	}
}

func gateway(t *testing.T, s store.Store, id string) store.Gateway {
	t.Helper()
	g, err := s.Gateway(ctx(t), id)
	if err != nil {
		t.Fatalf("Gateway(%s): %v", id, err)
	}
	return g
}

func testKeyRotation(t *testing.T, s store.Store) {
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)}) // no-op
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(2)})
	g := gateway(t, s, "gw-1")
	if !bytes.Equal(g.PublicKey, key(2)) || len(g.Keys) != 2 {
		t.Fatalf("after rotation: current %x, %d keys; want key 2 and two keys", g.PublicKey[:1], len(g.Keys))
	}
	old, cur := g.Keys[0], g.Keys[1]
	if !bytes.Equal(old.PublicKey, key(1)) || old.ValidTo.IsZero() || !old.RevokedAt.IsZero() {
		t.Errorf("old key %+v: want key 1, retired, not revoked", old)
	}
	if !bytes.Equal(cur.PublicKey, key(2)) || !cur.ValidTo.IsZero() || cur.ValidFrom.Before(old.ValidFrom) {
		t.Errorf("current key %+v: want key 2, open", cur)
	}
	// Old batches keep verifying: the old key is among the verifying keys,
	// for batches sent before the rotation.
	vk := g.VerifyingKeys()
	if len(vk) != 2 || !bytes.Equal(vk[0].PublicKey, key(2)) || !store.KeyValidAt(vk[1], old.ValidTo.Add(-time.Second)) ||
		store.KeyValidAt(vk[1], old.ValidTo.Add(time.Second)) {
		t.Errorf("verifying keys %+v", vk)
	}
}

func testKeysUnique(t *testing.T, s store.Store) {
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-2", Site: "site-b", PublicKey: key(1)}); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("second gateway with gw-1's key: %v, want ErrKeyInUse", err)
	}
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(2)})
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-2", Site: "site-b", PublicKey: key(1)}); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("gateway with gw-1's retired key: %v, want ErrKeyInUse", err)
	}
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)}); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("going back to a retired key: %v, want ErrKeyInUse", err)
	}
	if _, err := s.Gateway(ctx(t), "gw-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused gateway was stored: %v", err)
	}
}

func testRevokeGateway(t *testing.T, s store.Store) {
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	if err := s.RevokeGateway(ctx(t), "gw-1", "", "removed from the config"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeGateway(ctx(t), "gw-1", "", "again"); err != nil {
		t.Errorf("revoking twice: %v", err)
	}
	g := gateway(t, s, "gw-1")
	if !g.Revoked() || len(g.VerifyingKeys()) != 0 {
		t.Errorf("revoked gateway %+v: verifying keys %v", g, g.VerifyingKeys())
	}
	if err := s.RevokeGateway(ctx(t), "gw-9", "", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown: %v, want ErrNotFound", err)
	}
	// Enrolling it again reinstates it.
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	if g := gateway(t, s, "gw-1"); g.Revoked() || len(g.VerifyingKeys()) != 1 {
		t.Errorf("reinstated gateway %+v", g)
	}
}

func testRevokeKey(t *testing.T, s store.Store) {
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	if err := s.RevokeGatewayKey(ctx(t), "gw-1", key(1), "", ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("revoking the current key: %v, want ErrInvalid", err)
	}
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(2)})
	if err := s.RevokeGatewayKey(ctx(t), "gw-1", key(1), "ops", "laptop stolen"); err != nil {
		t.Fatal(err)
	}
	// A key never enrolled can be revoked ahead, and then never enrolled.
	if err := s.RevokeGatewayKey(ctx(t), "gw-1", key(9), "ops", "leaked before use"); err != nil {
		t.Fatal(err)
	}
	g := gateway(t, s, "gw-1")
	if vk := g.VerifyingKeys(); len(vk) != 1 || !bytes.Equal(vk[0].PublicKey, key(2)) {
		t.Errorf("verifying keys after revocation: %+v", vk)
	}
	for _, k := range []byte{1, 9} {
		if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(k)}); !errors.Is(err, store.ErrRevoked) {
			t.Errorf("enrolling revoked key %d: %v, want ErrRevoked", k, err)
		}
	}
	enrol(t, s, store.Gateway{ID: "gw-2", Site: "site-b", PublicKey: key(3)})
	if err := s.RevokeGatewayKey(ctx(t), "gw-1", key(3), "", ""); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("revoking gw-2's key as gw-1's: %v, want ErrKeyInUse", err)
	}
}

func testGatewayCannotMove(t *testing.T, s store.Store) {
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	if err := s.EnrollGateway(ctx(t), store.Gateway{ID: "gw-1", Site: "site-b", PublicKey: key(1)}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("moving gw-1 to site-b: %v, want ErrInvalid", err)
	}
	if g := gateway(t, s, "gw-1"); g.Site != "site-a" {
		t.Errorf("site %q after a refused move", g.Site)
	}
}

func testMeterKeyHistory(t *testing.T, s store.Store) {
	der := bytes.Repeat([]byte{0x30, 0x59}, 20)
	set := func(site, dev, k string) error {
		return s.SetMeterKey(ctx(t), store.MeterKey{Site: site, Device: dev, PublicKey: k})
	}
	if err := set("site-a", "m-1", hex.EncodeToString(der)); err != nil {
		t.Fatal(err)
	}
	// The same key written another way (base64) for another meter is the
	// same key.
	if err := set("site-b", "m-9", base64.StdEncoding.EncodeToString(der)); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("m-1's key for m-9: %v, want ErrKeyInUse", err)
	}
	if err := set("site-a", "m-1", hex.EncodeToString(der)); err != nil {
		t.Errorf("same key again: %v", err)
	}
	if err := set("site-a", "m-1", "3059bbbb"); err != nil {
		t.Fatal(err)
	}
	ks, err := s.MeterKeys(ctx(t), "site-a", "m-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].Retired.IsZero() || !ks[1].Retired.IsZero() || ks[1].PublicKey != "3059bbbb" {
		t.Errorf("history %+v: want the first key retired, 3059bbbb current", ks)
	}
	if cur, err := s.MeterKey(ctx(t), "site-a", "m-1"); err != nil || cur.PublicKey != "3059bbbb" {
		t.Errorf("current key %+v, %v", cur, err)
	}
	if err := set("site-a", "m-1", hex.EncodeToString(der)); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("back to the retired key: %v, want ErrKeyInUse", err)
	}
	if ks, err := s.MeterKeys(ctx(t), "site-z", "none"); err != nil || len(ks) != 0 {
		t.Errorf("unknown meter: %v, %v", ks, err)
	}
}

func testAuditLog(t *testing.T, s store.Store) {
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(1)})
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(2), By: "ops:j.meier"})
	if err := s.RevokeGateway(ctx(t), "gw-1", "", "removed from the config"); err != nil {
		t.Fatal(err)
	}
	enrol(t, s, store.Gateway{ID: "gw-1", Site: "site-a", PublicKey: key(2)})
	enrol(t, s, store.Gateway{ID: "gw-2", Site: "site-b", PublicKey: key(3)})
	if err := s.SetMeterKey(ctx(t), store.MeterKey{Site: "site-a", Device: "m-1", PublicKey: "3059aa"}); err != nil {
		t.Fatal(err)
	}
	es, err := s.Audit(ctx(t), store.AuditFilter{Gateway: "gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
		if e.At.IsZero() || e.Gateway != "gw-1" || e.Site != "site-a" || len(e.Key) != 64 {
			t.Errorf("entry %+v", e)
		}
	}
	if want := []string{store.ActionEnrol, store.ActionRotate, store.ActionRevoke, store.ActionReinstate}; !slices.Equal(actions, want) {
		t.Errorf("actions %v, want %v", actions, want)
	}
	if len(es) > 1 && (es[1].Actor != "ops:j.meier" || es[0].Actor != "config" || es[1].Key != store.Fingerprint(key(2))) {
		t.Errorf("rotation entry %+v", es[1])
	}
	all, err := s.Audit(ctx(t), store.AuditFilter{})
	if err != nil || len(all) != 6 || all[5].Action != store.ActionMeterEnrol || all[5].Device != "m-1" {
		t.Errorf("whole log: %d entries, %v", len(all), err)
	}
}

func ev(page int64, session, tx string, mwh int64) store.Evidence {
	v := mwh
	return store.Evidence{Site: "site-a", Meter: "m-1", Page: page, Session: session, TX: tx, ValueMilliWh: &v,
		Time: t0.Add(time.Duration(page) * time.Minute), OCMFSHA256: [32]byte{byte(page)}, Gateway: "gw-1", Seq: uint64(page), Index: 1}
}

func testEvidence(t *testing.T, s store.Store) {
	err := s.WithEvidence(ctx(t), "site-a", []string{"m-1"}, func(tx store.EvidenceTx) error {
		for _, e := range []store.Evidence{ev(1, "s1", "B", 1000), ev(2, "s1", "E", 2000), ev(5, "s2", "B", 3000)} {
			if err := tx.Insert(ctx(t), e); err != nil {
				return err
			}
		}
		noValue := ev(7, "", "C", 0)
		noValue.ValueMilliWh, noValue.Time = nil, time.Time{}
		return tx.Insert(ctx(t), noValue)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = s.WithEvidence(ctx(t), "site-a", []string{"m-1", "m-1"}, func(tx store.EvidenceTx) error {
		e, ok, err := tx.Page(ctx(t), "site-a", "m-1", 2)
		if err != nil || !ok || e.Session != "s1" || e.TX != "E" || *e.ValueMilliWh != 2000 || !e.Time.Equal(ev(2, "", "", 0).Time) ||
			e.OCMFSHA256 != [32]byte{2} || e.Gateway != "gw-1" || e.Seq != 2 || e.Index != 1 {
			t.Errorf("Page 2 = %+v, %v, %v", e, ok, err)
		}
		if _, ok, err := tx.Page(ctx(t), "site-a", "m-2", 2); ok || err != nil {
			t.Errorf("page of another meter: %v %v", ok, err)
		}
		prev, next, err := tx.Neighbours(ctx(t), "site-a", "m-1", 3)
		if err != nil || prev == nil || prev.Page != 2 || next == nil || next.Page != 5 {
			t.Errorf("Neighbours(3) = %+v, %+v, %v", prev, next, err)
		}
		prev, next, err = tx.Neighbours(ctx(t), "site-a", "m-1", 9)
		if err != nil || prev == nil || prev.Page != 7 || prev.ValueMilliWh != nil || !prev.Time.IsZero() || next != nil {
			t.Errorf("Neighbours(9) = %+v, %+v, %v", prev, next, err)
		}
		ss, err := tx.Session(ctx(t), "site-a", "m-1", "s1")
		if err != nil || len(ss) != 2 || ss[0].Page != 1 || ss[1].Page != 2 {
			t.Errorf("Session(s1) = %+v, %v", ss, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// One page of a meter holds one snapshot.
	err = s.WithEvidence(ctx(t), "site-a", []string{"m-1"}, func(tx store.EvidenceTx) error {
		return tx.Insert(ctx(t), ev(2, "s9", "B", 1))
	})
	if err == nil {
		t.Error("a second row for page 2 was inserted")
	}
}

func testEvidenceRollback(t *testing.T, s store.Store) {
	boom := errors.New("binding refused")
	err := s.WithEvidence(ctx(t), "site-a", []string{"m-1"}, func(tx store.EvidenceTx) error {
		if err := tx.Insert(ctx(t), ev(1, "s1", "B", 1000)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("WithEvidence = %v, want fn's error", err)
	}
	_ = s.WithEvidence(ctx(t), "site-a", []string{"m-1"}, func(tx store.EvidenceTx) error {
		if _, ok, err := tx.Page(ctx(t), "site-a", "m-1", 1); ok || err != nil {
			t.Errorf("rolled-back page is there: %v %v", ok, err)
		}
		return nil
	})
}

func testBatchesByTime(t *testing.T, s store.Store) {
	var items []store.Item
	for seq := uint64(1); seq <= 5; seq++ {
		items = append(items, item("gw-1", "site-a", seq, 2))
	}
	items = append(items, item("gw-2", "site-a", 1, 2))
	save(t, s, items...)
	got, err := s.Batches(ctx(t), store.BatchFilter{Gateway: "gw-1", From: t0.Add(2 * time.Second), To: t0.Add(4 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 || !bytes.Equal(got[0].Body, items[1].Body) || string(got[0].Sig) != "sig-gw-1" {
		t.Errorf("Batches = %d batches (%+v)", len(got), got)
	}
	all, err := s.Batches(ctx(t), store.BatchFilter{Gateway: "gw-1"})
	if err != nil || len(all) != 5 {
		t.Errorf("all batches: %d, %v", len(all), err)
	}
}

func testPruneRejections(t *testing.T, s store.Store) {
	var rs []store.Rejection
	for i := range 10 {
		r := store.NewRejection("t", "gw-1", uint64(i+1), "signature", "", bytes.Repeat([]byte{'x'}, 100))
		r.Received = t0.Add(time.Duration(i) * time.Hour)
		rs = append(rs, r)
	}
	if err := s.RecordRejections(ctx(t), rs); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneRejections(ctx(t), t0.Add(3*time.Hour), 0)
	if err != nil || n != 3 {
		t.Errorf("prune by age: %d, %v; want 3", n, err)
	}
	n, err = s.PruneRejections(ctx(t), time.Time{}, 450)
	if err != nil || n != 3 {
		t.Errorf("prune by size: %d, %v; want 3 (7 rows of 100 bytes, keep 450)", n, err)
	}
	left, err := s.Rejections(ctx(t), store.RejectionFilter{})
	if err != nil || len(left) != 4 || left[0].Seq != 7 {
		t.Errorf("left: %d rows, first seq %v, %v", len(left), left, err)
	}
}
