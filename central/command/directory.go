package command

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/parkgrid/parkgrid/central/store"
)

// GatewayStore is what StoreDirectory reads of central's store.
type GatewayStore interface {
	GatewayIDs(ctx context.Context) ([]string, error)
	Gateway(ctx context.Context, id string) (store.Gateway, error)
}

// StoreDirectory is a Directory over the enrolled gateways: a site's
// gateway is the one active (not revoked) gateway enrolled for it.
type StoreDirectory struct {
	st GatewayStore
}

var _ Directory = StoreDirectory{}

// NewStoreDirectory returns a Directory reading st.
func NewStoreDirectory(st GatewayStore) StoreDirectory { return StoreDirectory{st: st} }

// SiteGateway implements Directory.
func (d StoreDirectory) SiteGateway(ctx context.Context, site string) (string, ed25519.PublicKey, error) {
	ids, err := d.st.GatewayIDs(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("gateway of site %s: %w", site, err)
	}
	var found []store.Gateway
	for _, id := range ids {
		g, err := d.st.Gateway(ctx, id)
		if err != nil {
			return "", nil, fmt.Errorf("gateway of site %s: %w", site, err)
		}
		if g.Site == site && g.RevokedAt.IsZero() && len(g.PublicKey) == ed25519.PublicKeySize {
			found = append(found, g)
		}
	}
	switch len(found) {
	case 0:
		return "", nil, fmt.Errorf("%w %q", ErrNoGateway, site)
	case 1:
		return found[0].ID, found[0].PublicKey, nil
	}
	return "", nil, fmt.Errorf("site %q has %d active gateways (%s, %s …): commands need exactly one", site, len(found), found[0].ID, found[1].ID)
}
