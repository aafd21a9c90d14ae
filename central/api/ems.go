package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parkgrid/parkgrid/central/catalog"
	"github.com/parkgrid/parkgrid/central/command"
	"github.com/parkgrid/parkgrid/central/store"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// This file is the operators' EMS API through central: a site's load from
// the readings central stored, a site limit with expiry forwarded to the
// edge (set-limit on down/cmd) and the reset of the edge's safety latch
// (safety-reset). Every route looks the site up under the token's operator
// first: another operator's site answers 404.

// SiteCommands sends site commands to a site's edge (central/command's
// Commander implements it).
type SiteCommands interface {
	SetLimit(ctx context.Context, site string, l command.Limit) (command.Effective, error)
	ResetSafety(ctx context.Context, site, who, why string) error
}

// Readings reads stored readings (central/store's Store).
type Readings interface {
	Readings(ctx context.Context, f store.ReadingFilter) ([]store.StoredReading, error)
}

// LoadWindow is how far back the site load looks for each meter's latest
// reading; a meter with nothing newer is left out.
const LoadWindow = 15 * time.Second

// Bounds of a limit request (the edge clamps the TTL to its own maximum,
// ems.max_ttl, and answers the expiry it took).
const (
	maxLimitTTLS    = int64(reading.MaxLimitTTL / time.Second)
	maxLimitCurrent = float64(reading.MaxLimitCurrentMA / 1000) // A per phase
	maxWhyBytes     = 512
	maxWhoBytes     = 64
)

// MeterLoad is one meter's latest reading within LoadWindow.
type MeterLoad struct {
	Device    string    `json:"device"`
	Point     string    `json:"point,omitempty"` // the charge point it meters; "" for the grid meter and sub-meters
	At        time.Time `json:"at"`              // time of its newest reading
	CurrentMA [3]int64  `json:"currentMA"`       // per phase L1, L2, L3
	PowerW    int64     `json:"powerW"`
	Stale     bool      `json:"stale"` // the edge marked its latest sample stale: the values are older
}

// Load is a sum of current per phase and power.
type Load struct {
	CurrentMA [3]int64 `json:"currentMA"`
	PowerW    int64    `json:"powerW"`
}

// SiteLoad answers GET /operator/sites/{id}/load.
type SiteLoad struct {
	Site string    `json:"site"`
	At   time.Time `json:"at"`
	// EV sums the charge points' meters that are not stale.
	EV     Load        `json:"ev"`
	Points []MeterLoad `json:"points"`
	// Meters are the meters without a charge point: the grid meter (and
	// sub-meters, where the site has them).
	Meters []MeterLoad `json:"meters"`
}

// LimitRequest is the body of PUT /operator/sites/{id}/limit: as the
// edge's local EMS API takes it (maxCurrentA in A per phase, rounded to
// mA; maxPowerW in W; at least one), with ttlS required.
type LimitRequest struct {
	MaxCurrentA []float64 `json:"maxCurrentA,omitempty"`
	MaxPowerW   *int64    `json:"maxPowerW,omitempty"`
	Scope       string    `json:"scope,omitempty"` // "connection" (default) or "ev"
	TTLS        int64     `json:"ttlS"`
}

// EffectiveLimit is the limit in force at the site after a request, as
// the edge answered it.
type EffectiveLimit struct {
	Source       string     `json:"source"`
	MaxCurrentMA [3]int64   `json:"maxCurrentMA"`
	MaxPowerW    *int64     `json:"maxPowerW,omitempty"`
	ExpiresAt    *time.Time `json:"expiresAt,omitempty"` // the EMS limit's end; absent: none in force
	RequestID    string     `json:"requestId,omitempty"`
}

// LimitAnswer answers PUT and DELETE /operator/sites/{id}/limit.
type LimitAnswer struct {
	Site      string         `json:"site"`
	Effective EffectiveLimit `json:"effective"`
}

// ResetRequest is the body of POST /operator/sites/{id}/alarms/reset. The
// audit log's who is the token's name; a who here is kept beside it.
type ResetRequest struct {
	Who string `json:"who,omitempty"`
	Why string `json:"why"`
}

// ownSite looks the path's site up under the token's operator; false
// (answered) when it is not the operator's.
func (a *API) ownSite(c *gin.Context) (catalog.Site, bool) {
	s, err := a.c.Catalog.Site(c.Request.Context(), operatorOf(c), c.Param("id"))
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		fail(c, http.StatusNotFound, "not_found", "no such site")
		return catalog.Site{}, false
	case err != nil:
		a.internal(c, "site", err)
		return catalog.Site{}, false
	}
	return s, true
}

func (a *API) siteLoad(c *gin.Context) {
	s, ok := a.ownSite(c)
	if !ok {
		return
	}
	if a.c.Readings == nil {
		fail(c, http.StatusServiceUnavailable, "unavailable", "this central serves no readings")
		return
	}
	now := a.now()
	load, err := siteLoad(c.Request.Context(), a.c.Readings, s.ID, now)
	if err != nil {
		a.internal(c, "site load", err)
		return
	}
	c.JSON(http.StatusOK, load)
}

// siteLoad builds the site's load at now from each meter's latest
// readings within LoadWindow.
func siteLoad(ctx context.Context, rd Readings, site string, now time.Time) (SiteLoad, error) {
	type latest struct {
		MeterLoad
		t [4]time.Time // per quantity below
	}
	quantities := []string{reading.QCurrentL1MA, reading.QCurrentL2MA, reading.QCurrentL3MA, reading.QPowerW}
	meters := map[string]*latest{}
	for qi, q := range quantities {
		rs, err := rd.Readings(ctx, store.ReadingFilter{Site: site, Quantity: q, From: now.Add(-LoadWindow)})
		if err != nil {
			return SiteLoad{}, fmt.Errorf("site %s load: %w", site, err)
		}
		for _, r := range rs {
			m := meters[r.Device]
			if m == nil {
				m = &latest{MeterLoad: MeterLoad{Device: r.Device, Point: r.Point}}
				meters[r.Device] = m
			}
			if r.Time.Before(m.t[qi]) {
				continue
			}
			m.t[qi] = r.Time
			if r.Time.After(m.At) {
				m.At = r.Time
			}
			if qi == 3 {
				m.Stale = r.Stale
			}
			if r.Stale {
				continue
			}
			if qi < 3 {
				m.CurrentMA[qi] = r.Value
			} else {
				m.PowerW = r.Value
			}
		}
	}
	out := SiteLoad{Site: site, At: now.UTC(), Points: []MeterLoad{}, Meters: []MeterLoad{}}
	for _, m := range meters {
		if m.Point == "" {
			out.Meters = append(out.Meters, m.MeterLoad)
			continue
		}
		out.Points = append(out.Points, m.MeterLoad)
		if !m.Stale {
			for ph := range 3 {
				out.EV.CurrentMA[ph] += m.CurrentMA[ph]
			}
			out.EV.PowerW += m.PowerW
		}
	}
	byDevice := func(x, y MeterLoad) int {
		if x.Device < y.Device {
			return -1
		}
		if x.Device > y.Device {
			return 1
		}
		return 0
	}
	slices.SortFunc(out.Points, byDevice)
	slices.SortFunc(out.Meters, byDevice)
	return out, nil
}

func (a *API) putLimit(c *gin.Context) {
	s, ok := a.ownSite(c)
	if !ok {
		return
	}
	var b LimitRequest
	if !bind(c, &b) {
		return
	}
	l, err := b.limit()
	if err != nil {
		fail(c, http.StatusBadRequest, "bad_request", "limit: "+err.Error())
		return
	}
	a.sendLimit(c, s.ID, l)
}

func (a *API) withdrawLimit(c *gin.Context) {
	s, ok := a.ownSite(c)
	if !ok {
		return
	}
	a.sendLimit(c, s.ID, command.Limit{})
}

// sendLimit forwards l to the site's edge and answers what is in force.
func (a *API) sendLimit(c *gin.Context, site string, l command.Limit) {
	cmds := a.siteCommands()
	if cmds == nil {
		fail(c, http.StatusServiceUnavailable, "unavailable", "this central sends no site commands")
		return
	}
	eff, err := cmds.SetLimit(c.Request.Context(), site, l)
	if err != nil {
		a.commandFailed(c, "site limit", site, err)
		return
	}
	a.log.Info("site limit forwarded", "site", site, "operator", operatorOf(c), "token", c.GetString(tokenNameKey),
		"withdraw", l.TTL == 0, "source", eff.Source, "max_ma", eff.MaxCurrentMA, "expires", eff.Expires)
	out := LimitAnswer{Site: site, Effective: EffectiveLimit{Source: eff.Source, MaxCurrentMA: eff.MaxCurrentMA, MaxPowerW: eff.MaxPowerW, RequestID: eff.RequestID}}
	if !eff.Expires.IsZero() {
		t := eff.Expires.UTC()
		out.Effective.ExpiresAt = &t
	}
	c.JSON(http.StatusOK, out)
}

// limit checks the request and turns it into a command.Limit.
func (b LimitRequest) limit() (command.Limit, error) {
	l := command.Limit{Scope: b.Scope, MaxPowerW: b.MaxPowerW}
	if b.TTLS < 1 || b.TTLS > maxLimitTTLS {
		return l, fmt.Errorf("ttlS %d not in 1..%d (DELETE withdraws the limit)", b.TTLS, maxLimitTTLS)
	}
	l.TTL = time.Duration(b.TTLS) * time.Second
	if b.Scope != "" && b.Scope != command.ScopeConnection && b.Scope != command.ScopeEV {
		return l, fmt.Errorf("scope %q: want %q or %q", b.Scope, command.ScopeConnection, command.ScopeEV)
	}
	if b.MaxPowerW != nil && (*b.MaxPowerW < 0 || *b.MaxPowerW > reading.MaxLimitPowerW) {
		return l, fmt.Errorf("maxPowerW %d not in 0..%d", *b.MaxPowerW, reading.MaxLimitPowerW)
	}
	if b.MaxCurrentA != nil {
		if len(b.MaxCurrentA) != 3 {
			return l, fmt.Errorf("maxCurrentA has %d values, want 3 (L1, L2, L3)", len(b.MaxCurrentA))
		}
		var ma [3]int64
		for i, v := range b.MaxCurrentA {
			if !(v >= 0 && v <= maxLimitCurrent) { // also NaN
				return l, fmt.Errorf("maxCurrentA[%d] %g not in 0..%g", i, v, maxLimitCurrent)
			}
			ma[i] = ampsToMA(v)
		}
		l.MaxCurrentMA = &ma
	}
	if l.MaxCurrentMA == nil && l.MaxPowerW == nil {
		return l, errors.New("give maxCurrentA, maxPowerW or both")
	}
	return l, nil
}

// ampsToMA converts a current in A to whole mA, rounding to the nearest
// (as the edge's EMS API does).
func ampsToMA(a float64) int64 { return int64(math.Round(a * 1000)) }

func (a *API) resetAlarm(c *gin.Context) {
	s, ok := a.ownSite(c)
	if !ok {
		return
	}
	var b ResetRequest
	if !bind(c, &b) {
		return
	}
	who := c.GetString(tokenNameKey)
	if b.Who != "" && b.Who != who {
		who += " (" + b.Who + ")"
	}
	if err := reading.CheckText("why", b.Why, maxWhyBytes); err != nil {
		fail(c, http.StatusBadRequest, "bad_request", "reset: "+err.Error())
		return
	}
	if err := reading.CheckText("who", who, maxWhoBytes); err != nil {
		fail(c, http.StatusBadRequest, "bad_request", "reset: "+err.Error())
		return
	}
	cmds := a.siteCommands()
	if cmds == nil {
		fail(c, http.StatusServiceUnavailable, "unavailable", "this central sends no site commands")
		return
	}
	if err := cmds.ResetSafety(c.Request.Context(), s.ID, who, b.Why); err != nil {
		a.commandFailed(c, "safety reset", s.ID, err)
		return
	}
	a.log.Warn("safety latch reset through central", "site", s.ID, "operator", operatorOf(c), "who", who, "why", b.Why)
	c.JSON(http.StatusOK, gin.H{"ok": true})
}

// siteCommands is Config.SiteCommands, or Edge when it sends them too.
func (a *API) siteCommands() SiteCommands {
	if a.c.SiteCommands != nil {
		return a.c.SiteCommands
	}
	sc, _ := a.c.Edge.(SiteCommands)
	return sc
}

// commandFailed answers a site command's error: 400 refused before
// sending, 409 refused by the edge (its reason is the message), 503 no
// gateway, 504 no answer.
func (a *API) commandFailed(c *gin.Context, what, site string, err error) {
	switch {
	case errors.Is(err, command.ErrInvalid):
		fail(c, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, command.ErrRefused):
		fail(c, http.StatusConflict, "refused", err.Error())
	case errors.Is(err, command.ErrNoGateway):
		fail(c, http.StatusServiceUnavailable, "no_gateway", "no gateway is enrolled for site "+site)
	case errors.Is(err, command.ErrNoReply):
		fail(c, http.StatusGatewayTimeout, "edge_no_reply", "the site's edge did not answer in time (offline?); ask again")
	default:
		a.internal(c, what, err)
	}
}
