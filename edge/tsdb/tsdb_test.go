package tsdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/edge/tsdb"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func point(meas string, i int) tsdb.Point {
	return tsdb.Point{
		Measurement: meas,
		Tags:        map[string]string{"site": "garage-north", "point": fmt.Sprintf("cp-%02d", i%10), "empty": ""},
		Fields:      map[string]any{"current_l1_ma": int64(16000 + i), "power_w": int64(11000), "stale": false, "state": "C"},
		Time:        t0.Add(time.Duration(i) * time.Millisecond),
	}
}

// run starts w.Run and returns a func that stops it and waits.
func run(t *testing.T, w *tsdb.Writer) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() time.Duration {
		var took time.Duration
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			took = time.Since(start)
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitStats polls Stats until ok holds. The Writer gives no signal to wait
// on, so this polls with a deadline.
func waitStats(t *testing.T, w *tsdb.Writer, ok func(tsdb.Stats) bool) tsdb.Stats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := w.Stats()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v never got there", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func influxQuery(t *testing.T, base, db, q string) []byte {
	t.Helper()
	v := url.Values{"q": {q}}
	if db != "" {
		v.Set("db", db)
	}
	resp, err := http.Post(base+"/query?"+v.Encode(), "", nil)
	if err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("query %s: %s %s", q, resp.Status, b)
	}
	return b
}

func TestWriteToInfluxDB(t *testing.T) {
	base := svctest.InfluxURL(t)
	influxQuery(t, base, "", "CREATE DATABASE parkgrid_test")
	meas := fmt.Sprintf("test_%d", time.Now().UnixNano())
	t.Cleanup(func() { influxQuery(t, base, "parkgrid_test", `DROP MEASUREMENT "`+meas+`"`) })

	w, err := tsdb.New(tsdb.Config{URL: base, Bucket: "parkgrid_test/autogen", BatchSize: 500, FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run(t, w)
	const n = 1234
	for i := range n {
		if err := w.Write(point(meas, i)); err != nil {
			t.Fatal(err)
		}
	}
	s := waitStats(t, w, func(s tsdb.Stats) bool { return s.Written == n })
	if s.Dropped != 0 || s.Rejected != 0 || s.WriteErrors != 0 {
		t.Errorf("stats %+v", s)
	}

	var res struct {
		Results []struct {
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	b := influxQuery(t, base, "parkgrid_test", `SELECT count(power_w) FROM "`+meas+`"`)
	if err := json.Unmarshal(b, &res); err != nil || len(res.Results) != 1 || len(res.Results[0].Series) != 1 {
		t.Fatalf("count result %s (%v)", b, err)
	}
	if got := res.Results[0].Series[0].Values[0][1]; got != float64(n) {
		t.Errorf("count = %v, want %d", got, n)
	}
	b = influxQuery(t, base, "parkgrid_test", `SELECT current_l1_ma, state FROM "`+meas+`" WHERE point = 'cp-07' AND site = 'garage-north' ORDER BY time LIMIT 1`)
	if !strings.Contains(string(b), `"2026-11-24T10:00:00.007Z",16007,"C"`) {
		t.Errorf("first cp-07 row: %s", b)
	}
}

// hungServer accepts TCP connections and never answers, as a wedged
// InfluxDB would; closing it releases everything.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

func TestWriteNeverBlocksWhenInfluxDBHangs(t *testing.T) {
	hung := hungServer(t)
	before := runtime.NumGoroutine()
	func() {
		w, err := tsdb.New(tsdb.Config{URL: hung, Bucket: "db/rp", BufferPoints: 1000, BatchSize: 100, FlushInterval: 10 * time.Millisecond, WriteTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		const n = 20_000
		var slowest time.Duration
		for i := range n {
			start := time.Now()
			if err := w.Write(point("hang", i)); err != nil {
				t.Fatal(err)
			}
			slowest = max(slowest, time.Since(start))
		}
		if slowest > time.Second { // a blocked write would wait for the hour-long timeout; GC and -race pauses stay far below
			t.Errorf("slowest of %d writes took %s with InfluxDB hung", n, slowest)
		}
		s := w.Stats()
		if s.Buffered != 1000 {
			t.Errorf("buffered %d, want the bound 1000", s.Buffered)
		}
		// Every point is buffered, in flight (one batch) or counted as dropped.
		if lost := n - s.Buffered - int(s.Dropped); lost < 0 || lost > 100 {
			t.Errorf("stats %+v: %d points neither buffered nor dropped", s, lost)
		}
		if took := stop(); took > 3*time.Second {
			t.Errorf("Run took %s to stop while a write hung", took)
		}
	}()
	waitGoroutines(t, before)
}

func TestWriteWithInfluxDBDownDoesNotBlock(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused from now on
	before := runtime.NumGoroutine()
	func() {
		w, err := tsdb.New(tsdb.Config{URL: "http://" + addr, Bucket: "db/rp", BufferPoints: 500, BatchSize: 50, FlushInterval: time.Millisecond, RetryInterval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, w)
		var slowest time.Duration
		for i := range 20_000 {
			start := time.Now()
			w.Write(point("down", i))
			slowest = max(slowest, time.Since(start))
		}
		if slowest > time.Second {
			t.Errorf("slowest write took %s with InfluxDB down", slowest)
		}
		waitStats(t, w, func(s tsdb.Stats) bool { return s.WriteErrors >= 2 })
		stop()
		if s := w.Stats(); s.Written != 0 || int(s.Dropped)+s.Buffered != 20_000 {
			t.Errorf("stats %+v: want nothing written, every point buffered or dropped", s)
		}
	}()
	waitGoroutines(t, before)
}

// fakeInflux answers /api/v2/write with the statuses queued in codes (then
// 204) and records the bodies it accepted.
type fakeInflux struct {
	mu     sync.Mutex
	codes  []int
	bodies []string
}

func (f *fakeInflux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	code := http.StatusNoContent
	if len(f.codes) > 0 {
		code, f.codes = f.codes[0], f.codes[1:]
	}
	if code == http.StatusNoContent {
		f.bodies = append(f.bodies, string(b))
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"code":"x","message":"fake %d"}`, code)
		return
	}
	w.WriteHeader(code)
}

func (f *fakeInflux) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, b := range f.bodies {
		for _, l := range strings.Split(b, "\n") {
			if l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

func TestRetryKeepsOrderAndRejectDrops(t *testing.T) {
	fake := &fakeInflux{codes: []int{503, 500, 400}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	w, err := tsdb.New(tsdb.Config{URL: srv.URL, Bucket: "db/rp", BatchSize: 10, FlushInterval: time.Millisecond, RetryInterval: time.Millisecond, MaxRetryInterval: 5 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		w.Write(point("m", i))
	}
	run(t, w)
	// 503 and 500 are retried; the 400 drops the batch it answered (the
	// first ten points, after two retries).
	s := waitStats(t, w, func(s tsdb.Stats) bool { return s.Written == 20 })
	if want := (tsdb.Stats{Written: 20, Rejected: 10, WriteErrors: 3}); !cmp.Equal(want, s) {
		t.Errorf("stats (-want +got):\n%s", cmp.Diff(want, s))
	}
	lines := fake.lines()
	if len(lines) != 20 {
		t.Fatalf("%d lines written, want 20", len(lines))
	}
	for i, l := range lines {
		if want := fmt.Sprintf("current_l1_ma=%di", 16010+i); !strings.Contains(l, want) {
			t.Errorf("line %d = %q, want it to contain %s (order kept)", i, l, want)
		}
	}
	if !strings.HasPrefix(lines[0], "m,point=cp-00,site=garage-north ") || !strings.HasSuffix(lines[0], " 1795514400010") {
		t.Errorf("line 0 = %q: want sorted tags, no empty tag, ms timestamp", lines[0])
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue() + mf.GetMetric()[0].GetGauge().GetValue()
	}
	want := map[string]float64{
		"parkgrid_edge_tsdb_points_written_total": 20, "parkgrid_edge_tsdb_points_dropped_total": 0,
		"parkgrid_edge_tsdb_points_rejected_total": 10, "parkgrid_edge_tsdb_write_errors_total": 3,
		"parkgrid_edge_tsdb_points_buffered": 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestWriteRejectsBadPoints(t *testing.T) {
	w, err := tsdb.New(tsdb.Config{URL: "http://127.0.0.1:1", Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]tsdb.Point{
		"no measurement": {Fields: map[string]any{"a": 1}, Time: t0},
		"no fields":      {Measurement: "m", Time: t0},
		"no time":        {Measurement: "m", Fields: map[string]any{"a": 1}},
		"NaN":            {Measurement: "m", Fields: map[string]any{"a": math.NaN()}, Time: t0},
		"Inf":            {Measurement: "m", Fields: map[string]any{"a": math.Inf(1)}, Time: t0},
		"bad type":       {Measurement: "m", Fields: map[string]any{"a": []int{1}}, Time: t0},
	} {
		if err := w.Write(p); !errors.Is(err, tsdb.ErrInvalidPoint) {
			t.Errorf("%s: Write = %v, want ErrInvalidPoint", name, err)
		}
	}
	if s := w.Stats(); s.Buffered != 0 {
		t.Errorf("bad points buffered: %+v", s)
	}
}

func TestNewChecksConfig(t *testing.T) {
	for name, c := range map[string]tsdb.Config{
		"no url":           {Bucket: "b"},
		"no bucket":        {URL: "http://x"},
		"batch above size": {URL: "http://x", Bucket: "b", BufferPoints: 10, BatchSize: 20},
	} {
		if _, err := tsdb.New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
}

// waitGoroutines fails unless the goroutine count drops back to n. Exiting
// goroutines give no signal to wait on, so this polls.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
