package central

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parkgrid/parkgrid/central/broker"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/central/store/sqlite"
)

func pubHex(t *testing.T) (string, ed25519.PublicKey) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(pub), pub
}

// TestEnrolFollowsTheConfig: central applies its gateway list at start: a
// gateway no longer listed is revoked (and cannot log in to the embedded
// broker), a new key is a rotation, revoked_keys are revoked, listing a
// gateway again reinstates it; all in the audit log.
func TestEnrolFollowsTheConfig(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "central.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	k1, _ := pubHex(t)
	k2, _ := pubHex(t)
	k3, pub3 := pubHex(t)
	gw := func(id, site, key string, revoked ...string) centralconfig.Gateway {
		return centralconfig.Gateway{ID: id, Site: site, PubKey: key, RevokedKeys: revoked}
	}
	apply := func(gs ...centralconfig.Gateway) {
		t.Helper()
		if err := enrol(t.Context(), st, &centralconfig.Config{Gateways: gs}, log); err != nil {
			t.Fatal(err)
		}
	}
	logins := gatewayLogins{st}

	apply(gw("gw-1", "site-a", k1), gw("gw-2", "site-b", k2))
	if l, err := logins.GatewayLogin(t.Context(), "gw-2"); err != nil || l.Site != "site-b" || len(l.Keys) != 1 {
		t.Fatalf("gw-2 login %+v, %v", l, err)
	}

	apply(gw("gw-1", "site-a", k1)) // gw-2 removed
	g2, err := st.Gateway(t.Context(), "gw-2")
	if err != nil || !g2.Revoked() {
		t.Errorf("gw-2 after its removal: %+v, %v; want revoked", g2, err)
	}
	if _, err := logins.GatewayLogin(t.Context(), "gw-2"); !errors.Is(err, broker.ErrUnknownGateway) {
		t.Errorf("revoked gw-2 may log in: %v", err)
	}
	apply(gw("gw-1", "site-a", k1)) // again: nothing new to audit

	apply(gw("gw-1", "site-a", k3, k1), gw("gw-2", "site-b", k2)) // rotation, revocation of the old key, reinstatement
	g1, _ := st.Gateway(t.Context(), "gw-1")
	if vk := g1.VerifyingKeys(); len(vk) != 1 || !slices.Equal(vk[0].PublicKey, pub3) {
		t.Errorf("gw-1 verifying keys after rotation and revocation: %+v", vk)
	}
	if g2, _ := st.Gateway(t.Context(), "gw-2"); g2.Revoked() {
		t.Error("gw-2 listed again but still revoked")
	}

	// Two gateways cannot share a key; the config check says so first, the
	// store refuses too.
	if err := enrol(t.Context(), st, &centralconfig.Config{Gateways: []centralconfig.Gateway{gw("gw-3", "site-c", k2)}}, log); !errors.Is(err, store.ErrKeyInUse) {
		t.Errorf("gw-3 with gw-2's key: %v, want ErrKeyInUse", err)
	}

	es, err := st.Audit(t.Context(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Gateway+" "+e.Action)
	}
	want := []string{"gw-1 enrol", "gw-2 enrol", "gw-2 revoke", "gw-1 rotate", "gw-1 revoke-key", "gw-2 reinstate"}
	if !slices.Equal(actions, want) {
		t.Errorf("audit %v, want %v", actions, want)
	}
}
