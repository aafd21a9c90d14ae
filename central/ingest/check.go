package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/ocmf"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// Reason codes (append-only; see doc.go).
const (
	ReasonOversized       = "oversized"
	ReasonMalformed       = "malformed"
	ReasonVersion         = "version"
	ReasonTopic           = "topic"
	ReasonUnknownGateway  = "unknown_gateway"
	ReasonSignature       = "signature"
	ReasonSiteMismatch    = "site_mismatch"
	ReasonUnknownMeterKey = "unknown_meter_key"
	ReasonOCMFInvalid     = "ocmf_invalid"
	ReasonReplayConflict  = "replay_conflict"
	// Issue 13: trust (keys.go, binding.go).
	ReasonRevoked          = "revoked"
	ReasonSessionMismatch  = "session_mismatch"
	ReasonEvidenceConflict = "evidence_conflict"
	ReasonEvidenceOrder    = "evidence_order"
)

// Reasons lists every reason code.
var Reasons = []string{
	ReasonOversized, ReasonMalformed, ReasonVersion, ReasonTopic, ReasonUnknownGateway, ReasonSignature,
	ReasonSiteMismatch, ReasonUnknownMeterKey, ReasonOCMFInvalid, ReasonReplayConflict,
	ReasonRevoked, ReasonSessionMismatch, ReasonEvidenceConflict, ReasonEvidenceOrder,
}

// verdict is the result of checking one message: an item to store, or a
// rejection.
type verdict struct {
	item   store.Item
	site   string
	reject *store.Rejection
}

// rejected builds a rejecting verdict. gateway and seq are what the message
// claims, for the log.
func rejected(topic, gateway string, seq uint64, reason string, err error, msg []byte) verdict {
	r := store.NewRejection(topic, gateway, seq, reason, err.Error(), msg)
	return verdict{reject: &r}
}

// siteOf returns <site> of parkgrid/v1/<site>/up/batch.
func siteOf(topic string) (string, bool) {
	rest, ok := strings.CutPrefix(topic, "parkgrid/v1/")
	if !ok {
		return "", false
	}
	site, ok := strings.CutSuffix(rest, "/up/batch")
	if !ok || site == "" || strings.ContainsAny(site, "/+#") {
		return "", false
	}
	return site, true
}

// claimedGateway reads the envelope's gateway field without trusting it, for
// the rejection log.
func claimedGateway(msg []byte) string {
	var env struct {
		Gateway string `json:"gateway"`
	}
	if json.Unmarshal(msg, &env) != nil {
		return ""
	}
	if len(env.Gateway) > 128 {
		return env.Gateway[:128]
	}
	return env.Gateway
}

// errTransient marks a failure that is not the message's fault (database
// down); the message is checked again later, not rejected.
type errTransient struct{ err error }

func (e errTransient) Error() string { return e.err.Error() }
func (e errTransient) Unwrap() error { return e.err }

// check verifies one message. It returns a transient error only when a key
// lookup failed for another reason than "not found" and ctx ended while
// retrying.
func (in *Ingester) check(ctx context.Context, topic string, msg []byte) (verdict, error) {
	site, ok := siteOf(topic)
	if !ok {
		return rejected(topic, claimedGateway(msg), 0, ReasonTopic,
			fmt.Errorf("topic %q is not parkgrid/v1/<site>/up/batch", topic), msg), nil
	}
	b, body, sig, gw, lookupErr, err := in.openWithHistory(ctx, msg)
	if err != nil {
		var tr errTransient
		if errors.As(lookupErr, &tr) {
			return verdict{}, tr
		}
		reason := ReasonMalformed
		switch {
		case errors.Is(err, reading.ErrTooLarge):
			reason = ReasonOversized
		case errors.Is(err, store.ErrNotFound):
			reason = ReasonUnknownGateway
		case errors.Is(err, errRevoked):
			reason = ReasonRevoked
		case errors.Is(err, reading.ErrSignature):
			reason = ReasonSignature
		case errors.Is(err, reading.ErrVersion):
			reason = ReasonVersion
		}
		return rejected(topic, claimedGateway(msg), 0, reason, err, msg), nil
	}
	if b.Site != site || gw.Site != site {
		return rejected(topic, b.Gateway, b.Seq, ReasonSiteMismatch,
			fmt.Errorf("batch site %q, topic site %q, gateway %q enrolled at %q", b.Site, site, b.Gateway, gw.Site), msg), nil
	}
	it := store.Item{Gateway: b.Gateway, Seq: b.Seq, Batch: b, Body: body, Sig: sig, OCMFVerified: true}
	if err := store.CheckItem(it); err != nil {
		return rejected(topic, b.Gateway, b.Seq, ReasonMalformed, err, msg), nil
	}
	var snaps []snapshotEvidence
	for i, r := range b.Readings {
		if r.OCMF == "" {
			continue
		}
		err := in.verifySnapshot(ctx, site, r)
		if errors.Is(err, store.ErrNotFound) {
			return rejected(topic, b.Gateway, b.Seq, ReasonUnknownMeterKey,
				fmt.Errorf("reading %d: OCMF snapshot of meter %s/%s, which has no enrolled key", i, site, r.Device), msg), nil
		}
		var tr errTransient
		if errors.As(err, &tr) {
			return verdict{}, err
		}
		if err != nil {
			return rejected(topic, b.Gateway, b.Seq, ReasonOCMFInvalid,
				fmt.Errorf("reading %d: OCMF snapshot of meter %s/%s: %w", i, site, r.Device, err), msg), nil
		}
		rec, err := ocmf.Parse(r.OCMF)
		if err != nil { // verified above, so it parses
			return rejected(topic, b.Gateway, b.Seq, ReasonOCMFInvalid, fmt.Errorf("reading %d: %w", i, err), msg), nil
		}
		sx, err := parseEvidence(site, b, i, rec)
		if err != nil {
			return rejectedBinding(topic, b, err, msg), nil
		}
		snaps = append(snaps, sx)
	}
	if err := in.bindRetrying(ctx, site, snaps); err != nil {
		var be *bindError
		if errors.As(err, &be) {
			return rejectedBinding(topic, b, err, msg), nil
		}
		return verdict{}, errTransient{err}
	}
	return verdict{item: it, site: site}, nil
}

// keyCache caches gateway enrolments and meter keys for a short time, so a
// busy ingest does not query them per message, and a revoked or rotated key
// takes effect within ttl. Lookups that fail for another reason than "not
// found" are retried with backoff until ctx ends.
type keyCache struct {
	st  Store
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex // protects the maps below
	gateways map[string]cached[store.Gateway]
	meters   map[[2]string]cached[store.MeterKey]
}

type cached[T any] struct {
	v       T
	err     error // nil or store.ErrNotFound
	expires time.Time
}

// maxCached bounds each map; a flood of forged gateway ids only clears it.
const maxCached = 10000

func newKeyCache(st Store, ttl time.Duration, now func() time.Time) *keyCache {
	return &keyCache{st: st, ttl: ttl, now: now,
		gateways: make(map[string]cached[store.Gateway]), meters: make(map[[2]string]cached[store.MeterKey])}
}

func (c *keyCache) gateway(ctx context.Context, id string) (store.Gateway, error) {
	return lookup(ctx, c, c.gateways, id, func(ctx context.Context) (store.Gateway, error) { return c.st.Gateway(ctx, id) })
}

func (c *keyCache) meter(ctx context.Context, site, device string) (store.MeterKey, error) {
	return lookup(ctx, c, c.meters, [2]string{site, device}, func(ctx context.Context) (store.MeterKey, error) {
		return c.st.MeterKey(ctx, site, device)
	})
}

func lookup[K comparable, T any](ctx context.Context, c *keyCache, m map[K]cached[T], k K, get func(context.Context) (T, error)) (T, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := m[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.v, e.err
	}
	v, err := retry(ctx, get)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		var zero T
		return zero, errTransient{err}
	}
	c.mu.Lock()
	if len(m) >= maxCached {
		clear(m)
	}
	m[k] = cached[T]{v: v, err: err, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, err
}

// retry calls get until it succeeds, reports ErrNotFound, or ctx ends.
func retry[T any](ctx context.Context, get func(context.Context) (T, error)) (T, error) {
	wait := 50 * time.Millisecond
	for {
		v, err := get(ctx)
		if err == nil || errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			return v, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		wait = min(2*wait, 5*time.Second)
	}
}
