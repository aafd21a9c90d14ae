package main

import (
	"context"
	"errors"
)

// sessionMeterKey finds the meter key of a stored session. Sessions are
// stored by central once the sessions feature lands.
func sessionMeterKey(context.Context, string, string) (string, error) {
	return "", errors.New("--session: sessions are not stored by this build yet; pass --pubkey")
}
