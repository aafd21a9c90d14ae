package memory_test

import (
	"testing"

	"github.com/parkgrid/parkgrid/dashboard/store/memory"
	"github.com/parkgrid/parkgrid/dashboard/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Stores { return memory.New() })
}
