// Package busmetrics exposes the counters of Modbus buses to Prometheus.
// It is a package of its own so that drivers/modbus does not depend on the
// Prometheus client. Nothing registers itself: the caller registers the
// collector with its own prometheus.Registerer.
//
// Metrics, each labelled bus="<bus name>":
//
//	parkgrid_modbus_requests_total           requests executed
//	parkgrid_modbus_errors_total             requests that failed
//	parkgrid_modbus_timeouts_total           requests without a reply in time
//	parkgrid_modbus_exceptions_total         Modbus exception replies
//	parkgrid_modbus_preempted_total          requests interrupted for a priority unit
//	parkgrid_modbus_quarantined_total        requests refused: their unit kept timing out
//	parkgrid_modbus_reconnects_total         dials after a lost connection
//	parkgrid_modbus_dial_errors_total        failed dials
//	parkgrid_modbus_request_duration_seconds latency of replied requests (histogram)
package busmetrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/drivers/modbus"
)

// Source is a bus whose counters can be read (*modbus.Bus).
type Source interface {
	Name() string
	Stats() modbus.Stats
}

type collector struct {
	buses                                                   []Source
	requests, errors, timeouts, exceptions, reconn, dialErr *prometheus.Desc
	preempted, quarantined, latency                         *prometheus.Desc
}

// NewCollector returns a collector reading the buses' Stats at each scrape.
func NewCollector(buses ...Source) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("parkgrid_modbus_"+name, help, []string{"bus"}, nil)
	}
	return &collector{
		buses:       buses,
		requests:    d("requests_total", "Modbus requests executed."),
		errors:      d("errors_total", "Modbus requests that failed."),
		timeouts:    d("timeouts_total", "Modbus requests without a reply in time."),
		exceptions:  d("exceptions_total", "Modbus exception replies."),
		reconn:      d("reconnects_total", "Successful dials after a lost connection."),
		dialErr:     d("dial_errors_total", "Failed dials."),
		preempted:   d("preempted_total", "Modbus requests interrupted so that a priority unit's request could go first."),
		quarantined: d("quarantined_total", "Modbus requests refused at once: their unit timed out again and again."),
		latency:     d("request_duration_seconds", "Latency of Modbus requests that got a reply."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.errors, c.timeouts, c.exceptions, c.reconn, c.dialErr, c.preempted, c.quarantined, c.latency} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.buses {
		s, name := b.Stats(), b.Name()
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{
			{c.requests, s.Requests}, {c.errors, s.Errors}, {c.timeouts, s.Timeouts},
			{c.exceptions, s.Exceptions}, {c.reconn, s.Reconnects}, {c.dialErr, s.DialErrors},
			{c.preempted, s.Preempted}, {c.quarantined, s.Quarantined},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), name)
		}
		buckets := make(map[float64]uint64, len(s.Latency.Bounds))
		var cum uint64
		for i, bound := range s.Latency.Bounds {
			cum += s.Latency.Counts[i]
			buckets[bound.Seconds()] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, s.Latency.Count, s.Latency.Sum.Seconds(), buckets, name)
	}
}
