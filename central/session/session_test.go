package session

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var allStates = []State{StateCreated, StateAuthorized, StateCharging, StateStopping, StateCompleted, StateInvoiced, StateFailed, StateCancelled}

func TestMoveFollowsTheStateMachine(t *testing.T) {
	legal := map[[2]State]bool{
		{StateCreated, StateAuthorized}: true, {StateCreated, StateFailed}: true, {StateCreated, StateCancelled}: true,
		{StateAuthorized, StateCharging}: true, {StateAuthorized, StateFailed}: true, {StateAuthorized, StateCancelled}: true,
		{StateCharging, StateStopping}: true, {StateCharging, StateFailed}: true,
		{StateStopping, StateCompleted}: true, {StateStopping, StateFailed}: true,
		{StateCompleted, StateInvoiced}: true,
	}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for _, from := range allStates {
		for _, to := range allStates {
			s := Session{ID: "s-1", State: from, Version: 3}
			next, tr, err := Move(s, to, "test", now)
			if !legal[[2]State{from, to}] {
				if !errors.Is(err, ErrIllegalTransition) || !strings.Contains(err.Error(), string(from)+" → "+string(to)) {
					t.Errorf("%s → %s: err = %v, want ErrIllegalTransition naming both states", from, to, err)
				}
				if next.Version != 3 || next.State != from {
					t.Errorf("%s → %s refused but session changed: %+v", from, to, next)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s → %s: %v", from, to, err)
				continue
			}
			want := Transition{Session: "s-1", Version: 4, From: from, To: to, Cause: "test", At: now}
			if tr != want || next.State != to || next.Version != 4 || !next.UpdatedAt.Equal(now) {
				t.Errorf("%s → %s: transition %+v, session %s v%d", from, to, tr, next.State, next.Version)
			}
		}
	}
	for _, s := range []State{StateInvoiced, StateFailed, StateCancelled} {
		if !s.Final() {
			t.Errorf("%s is not final", s)
		}
	}
}

func TestMigrationsLoad(t *testing.T) {
	for _, d := range []string{"postgres", "sqlite"} {
		ms, err := Migrations(d)
		if err != nil || len(ms) == 0 || ms[0].Version != 1 {
			t.Errorf("%s: %d migrations, %v", d, len(ms), err)
		}
	}
	if _, err := Migrations("oracle"); err == nil {
		t.Error("unknown dialect accepted")
	}
}
