// Package emsapitest holds hand-written fakes of the interfaces emsapi
// consumes, for emsapi's tests and for wiring tests in cmd/parkgrid.
package emsapitest

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/edge/emsapi"
)

// Source is an emsapi.Source whose state a test sets. The zero value
// reports an empty site.
type Source struct {
	mu     sync.Mutex // protects the fields below
	site   emsapi.SiteState
	points []emsapi.PointState
	alarms []emsapi.Alarm
}

// SetSite replaces the site state.
func (s *Source) SetSite(site emsapi.SiteState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	site.Limits = slices.Clone(site.Limits)
	s.site = site
}

// SetPoints replaces the charge points.
func (s *Source) SetPoints(ps ...emsapi.PointState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.points = slices.Clone(ps)
}

// SetAlarms replaces the alarms.
func (s *Source) SetAlarms(as ...emsapi.Alarm) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alarms = slices.Clone(as)
}

// Site implements emsapi.Source.
func (s *Source) Site() emsapi.SiteState {
	s.mu.Lock()
	defer s.mu.Unlock()
	site := s.site
	site.Limits = slices.Clone(site.Limits)
	return site
}

// Points implements emsapi.Source.
func (s *Source) Points() []emsapi.PointState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.points)
}

// Alarms implements emsapi.Source.
func (s *Source) Alarms() []emsapi.Alarm {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.alarms)
}

// LimitCall is one recorded SetLimit call.
type LimitCall struct {
	Req emsapi.LimitRequest
	Now time.Time
}

// ResetCall is one recorded ResetAlarm call.
type ResetCall struct {
	Who, Why string
	Now      time.Time
}

// Controller is an emsapi.Controller that records every call. By default
// SetLimit accepts the request and echoes it as the effective limit
// (source "ems", expiring at now+TTL), and ResetAlarm succeeds; set
// SetLimitFn or ResetAlarmFn to decide otherwise (calls are recorded only
// when the Fn returns no error, as a real controller changes nothing then).
// OnLimit, if set, sees every accepted limit (e.g. to feed a Source).
type Controller struct {
	SetLimitFn   func(ctx context.Context, req emsapi.LimitRequest, now time.Time) (emsapi.Limit, error)
	ResetAlarmFn func(ctx context.Context, who, why string, now time.Time) error
	OnLimit      func(emsapi.Limit)

	mu     sync.Mutex // protects the fields below
	limits []LimitCall
	resets []ResetCall
}

// Echo is the limit a controller without other limits puts in force.
func Echo(req emsapi.LimitRequest, now time.Time) emsapi.Limit {
	exp := now.Add(req.TTL)
	return emsapi.Limit{Source: "ems", MaxPowerW: req.MaxPowerW, MaxCurrentMA: req.MaxCurrentMA, ExpiresAt: &exp, RequestID: req.RequestID}
}

// SetLimit implements emsapi.Controller.
func (c *Controller) SetLimit(ctx context.Context, req emsapi.LimitRequest, now time.Time) (emsapi.Limit, error) {
	eff := Echo(req, now)
	if c.SetLimitFn != nil {
		var err error
		if eff, err = c.SetLimitFn(ctx, req, now); err != nil {
			return emsapi.Limit{}, err
		}
	}
	c.mu.Lock()
	c.limits = append(c.limits, LimitCall{Req: req, Now: now})
	c.mu.Unlock()
	if c.OnLimit != nil {
		c.OnLimit(eff)
	}
	return eff, nil
}

// ResetAlarm implements emsapi.Controller.
func (c *Controller) ResetAlarm(ctx context.Context, who, why string, now time.Time) error {
	if c.ResetAlarmFn != nil {
		if err := c.ResetAlarmFn(ctx, who, why, now); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resets = append(c.resets, ResetCall{Who: who, Why: why, Now: now})
	return nil
}

// Limits returns the accepted SetLimit calls so far.
func (c *Controller) Limits() []LimitCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.limits)
}

// Resets returns the accepted ResetAlarm calls so far.
func (c *Controller) Resets() []ResetCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.resets)
}

// Config is an emsapi.ConfigView returning V.
type Config struct{ V any }

// RedactedConfig implements emsapi.ConfigView.
func (c Config) RedactedConfig() any { return c.V }

var (
	_ emsapi.Source     = (*Source)(nil)
	_ emsapi.Controller = (*Controller)(nil)
	_ emsapi.ConfigView = Config{}
)
