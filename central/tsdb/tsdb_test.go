package tsdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parkgrid/parkgrid/central/tsdb"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func batch(seq uint64, n int) reading.Batch {
	b := reading.Batch{Version: 1, Site: "site-a", Gateway: "gw-1", Seq: seq}
	for i := range n {
		r := reading.Reading{Time: t0.Add(time.Duration(int(seq)*n+i) * time.Millisecond), Device: "meter-0",
			Point: "cp-1", Quantity: reading.QPowerW, Value: int64(i)}
		if i == 1 {
			r.Stale, r.Value = true, 0
		}
		b.Readings = append(b.Readings, r)
	}
	return b
}

// influxQuery runs an InfluxQL statement through the 1.x /query endpoint.
func influxQuery(t *testing.T, base, db, q string) [][]any {
	t.Helper()
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	resp, err := http.PostForm(base+"/query", form)
	if err != nil {
		t.Fatalf("influx query %q: %v", q, err)
	}
	defer resp.Body.Close()
	var out struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Values [][]any `json:"values"`
			} `json:"series"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("influx query %q: status %d, %v", q, resp.StatusCode, err)
	}
	if len(out.Results) == 0 || out.Results[0].Error != "" {
		t.Fatalf("influx query %q: %+v", q, out.Results)
	}
	if len(out.Results[0].Series) == 0 {
		return nil
	}
	return out.Results[0].Series[0].Values
}

// TestWritesToInfluxDB18 writes through the v2 API of InfluxDB 1.8
// (bucket "db/rp", token "user:pass" ignored when auth is off).
func TestWritesToInfluxDB18(t *testing.T) {
	base := svctest.InfluxURL(t)
	db := fmt.Sprintf("parkgrid_test_%d", time.Now().UnixNano())
	influxQuery(t, base, "", "CREATE DATABASE "+db)
	t.Cleanup(func() { influxQuery(t, base, "", "DROP DATABASE "+db) })

	w, err := tsdb.New(tsdb.Config{URL: base, Bucket: db + "/autogen", Token: "user:pass", FlushInterval: 50 * time.Millisecond},
		tsdb.Options{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	const batches, n = 20, 50
	for seq := uint64(1); seq <= batches; seq++ {
		w.WriteBatch(batch(seq, n))
	}
	cancel() // Run writes what is queued and flushes before it returns
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	if w.Dropped() != 0 || w.Points() != batches*n {
		t.Fatalf("dropped %d, points %d; want 0, %d", w.Dropped(), w.Points(), batches*n)
	}
	rows := influxQuery(t, base, db, `SELECT count("value") FROM "reading" WHERE "device" = 'meter-0'`)
	if len(rows) != 1 || fmt.Sprint(rows[0][1]) != fmt.Sprint(batches*(n-1)) {
		t.Errorf("count(value) = %v, want %d", rows, batches*(n-1))
	}
	rows = influxQuery(t, base, db, `SELECT count("stale") FROM "reading"`)
	if len(rows) != 1 || fmt.Sprint(rows[0][1]) != fmt.Sprint(batches) {
		t.Errorf("count(stale) = %v, want %d", rows, batches)
	}
	rows = influxQuery(t, base, db, `SHOW TAG KEYS FROM "reading"`)
	var tags []string
	for _, r := range rows {
		tags = append(tags, fmt.Sprint(r[0]))
	}
	if got := strings.Join(tags, ","); got != "device,gateway,point,quantity,site" {
		t.Errorf("tag keys = %s", got)
	}
}

// TestNeverBlocks fills the queue of a writer whose InfluxDB does not
// answer: WriteBatch returns at once and counts what it drops.
func TestNeverBlocks(t *testing.T) {
	w, err := tsdb.New(tsdb.Config{URL: "http://127.0.0.1:1", Bucket: "x/y", QueueBatches: 4}, tsdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for seq := uint64(1); seq <= 100; seq++ {
			w.WriteBatch(batch(seq, 3))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WriteBatch blocked")
	}
	if w.Dropped() != 96 {
		t.Errorf("dropped %d, want 96", w.Dropped())
	}
	// Run with an ended context writes the queue once, fails, and returns.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	select {
	case <-ran:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return with InfluxDB unreachable")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []tsdb.Config{{URL: "", Bucket: "b"}, {URL: "ftp://x", Bucket: "b"}, {URL: "http://x:8086"}} {
		if _, err := tsdb.New(c, tsdb.Options{}); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}
