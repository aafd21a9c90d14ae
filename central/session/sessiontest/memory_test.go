package sessiontest_test

import (
	"testing"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
)

func TestMemoryConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return sessiontest.NewMemory() })
}
