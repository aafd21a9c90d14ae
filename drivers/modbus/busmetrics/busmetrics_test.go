package busmetrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/drivers/modbus"
)

type fakeBus struct {
	name string
	s    modbus.Stats
}

func (f fakeBus) Name() string        { return f.name }
func (f fakeBus) Stats() modbus.Stats { return f.s }

func TestCollector(t *testing.T) {
	b := fakeBus{"rs485-1", modbus.Stats{
		Requests: 10, Errors: 3, Timeouts: 2, Exceptions: 1, Reconnects: 1, DialErrors: 4,
		Latency: modbus.Histogram{
			Bounds: []time.Duration{time.Millisecond, 10 * time.Millisecond},
			Counts: []uint64{5, 2, 1},
			Count:  8,
			Sum:    40 * time.Millisecond,
		},
	}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(b))
	mfs, err := reg.Gather() // the pedantic registry checks descriptions and types
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if l := m.GetLabel(); len(l) != 1 || l[0].GetName() != "bus" || l[0].GetValue() != "rs485-1" {
				t.Errorf("%s: labels %v", mf.GetName(), l)
			}
			if h := m.GetHistogram(); h != nil {
				var bs []string
				for _, bk := range h.GetBucket() {
					bs = append(bs, fmt.Sprintf("%g:%d", bk.GetUpperBound(), bk.GetCumulativeCount()))
				}
				got[mf.GetName()] = fmt.Sprintf("count=%d sum=%g buckets=%v", h.GetSampleCount(), h.GetSampleSum(), bs)
				continue
			}
			got[mf.GetName()] = fmt.Sprint(m.GetCounter().GetValue())
		}
	}
	want := map[string]string{
		"parkgrid_modbus_requests_total":           "10",
		"parkgrid_modbus_errors_total":             "3",
		"parkgrid_modbus_timeouts_total":           "2",
		"parkgrid_modbus_exceptions_total":         "1",
		"parkgrid_modbus_preempted_total":          "0",
		"parkgrid_modbus_quarantined_total":        "0",
		"parkgrid_modbus_reconnects_total":         "1",
		"parkgrid_modbus_dial_errors_total":        "4",
		"parkgrid_modbus_request_duration_seconds": "count=8 sum=0.04 buckets=[0.001:5 0.01:7]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

var _ Source = (*modbus.Bus)(nil)
