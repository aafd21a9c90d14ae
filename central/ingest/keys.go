package ingest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// errRevoked marks a batch of a revoked gateway (or one whose every key is
// revoked): refused from the revocation on, whatever it carries.
var errRevoked = errors.New("gateway revoked")

// openWithHistory is open with the gateway's key history: the current key
// first; when it does not verify, each earlier unrevoked key, for a batch
// whose signed Sent time is before that key was retired (an edge may still
// hold batches it signed before its key was rotated). lookupErr is the
// key lookup's own error, for telling a store outage from a refusal.
func (in *Ingester) openWithHistory(ctx context.Context, msg []byte) (b reading.Batch, body, sig []byte, gw store.Gateway, lookupErr, err error) {
	var keys []store.GatewayKey
	b, body, sig, err = open(msg, func(id string) (ed25519.PublicKey, error) {
		g, err := in.keys.gateway(ctx, id)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		if g.Revoked() {
			return nil, fmt.Errorf("%w at %s", errRevoked, g.RevokedAt.Format(time.RFC3339))
		}
		gw, keys = g, g.VerifyingKeys()
		if len(g.Keys) == 0 { // a store without key history: the current key alone
			keys = []store.GatewayKey{{PublicKey: g.PublicKey}}
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("%w: every key is revoked", errRevoked)
		}
		return keys[0].PublicKey, nil
	})
	if err == nil || !errors.Is(err, reading.ErrSignature) || len(keys) < 2 {
		return b, body, sig, gw, lookupErr, err
	}
	for _, k := range keys[1:] {
		b2, body2, sig2, err2 := open(msg, func(string) (ed25519.PublicKey, error) { return k.PublicKey, nil })
		if errors.Is(err2, reading.ErrSignature) {
			continue
		}
		if err2 != nil {
			return b2, nil, nil, gw, nil, err2
		}
		if !store.KeyValidAt(k, b2.Sent) {
			return b2, nil, nil, gw, nil, fmt.Errorf("gateway %q: %w: signed with its key %s…, retired at %s, but sent at %s",
				gw.ID, reading.ErrSignature, store.Fingerprint(k.PublicKey)[:16], k.ValidTo.Format(time.RFC3339), b2.Sent.Format(time.RFC3339))
		}
		return b2, body2, sig2, gw, nil, nil
	}
	return b, body, sig, gw, lookupErr, err
}
