package ingest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestByteBudget(t *testing.T) {
	b := newByteBudget(100, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"}))
	stop := make(chan struct{})
	if !b.acquire(60, stop) || !b.acquire(40, stop) || b.held() != 100 {
		t.Fatalf("held %d after taking the whole budget", b.held())
	}
	got := make(chan bool, 1)
	go func() { got <- b.acquire(30, stop) }()
	select {
	case <-got:
		t.Fatal("acquire beyond the budget did not wait")
	default:
	}
	b.release(60)
	if ok := <-got; !ok || b.held() != 70 {
		t.Fatalf("after a release: ok %v, held %d; want true, 70", ok, b.held())
	}
	// A message larger than the whole budget takes all of it, once free.
	go func() { got <- b.acquire(1000, stop) }()
	b.release(40)
	b.release(30)
	if ok := <-got; !ok || b.held() != 100 {
		t.Fatalf("oversized: ok %v, held %d", ok, b.held())
	}
	go func() { got <- b.acquire(1, stop) }()
	close(stop)
	if ok := <-got; ok {
		t.Error("acquire succeeded after stop")
	}
}

// TestQueueBoundedInBytes: however many large messages the broker
// delivers, ingest holds at most QueueBytes of them before their commit.
func TestQueueBoundedInBytes(t *testing.T) {
	in, err := New(Config{Broker: "tcp://127.0.0.1:1", ClientID: "t", QueueBytes: 10 << 20, AckKey: testAckKey}, &fakeStore{}, NewOCMF(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	taken := make(chan int64, 100)
	for range 100 { // 100 messages of 1 MiB arrive at once
		wg.Go(func() {
			if in.budget.acquire(1<<20, stop) {
				taken <- 1 << 20
			}
		})
	}
	sum := int64(0)
	for range 10 {
		sum += <-taken
	}
	select {
	case n := <-taken:
		t.Fatalf("an 11th MiB was taken (%d); the budget is 10 MiB", n)
	default:
	}
	if in.budget.held() != sum || sum != 10<<20 {
		t.Errorf("held %d, taken %d", in.budget.held(), sum)
	}
	for range 90 { // commits give back, the rest come in
		in.budget.release(1 << 20)
		<-taken
	}
	close(stop)
	wg.Wait()
}

type lines struct {
	mu sync.Mutex
	l  []string
}

func (h *lines) Enabled(context.Context, slog.Level) bool { return true }
func (h *lines) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.l = append(h.l, b.String())
	return nil
}
func (h *lines) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *lines) WithGroup(string) slog.Handler      { return h }

// TestRejectionLogIsRateLimited: a flood of rejections writes a bounded
// number of log lines per reason and minute, then one summary line.
func TestRejectionLogIsRateLimited(t *testing.T) {
	h := &lines{}
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})
	l := newRejectionLog(slog.New(h), func() time.Time { return now }, 10, dropped)
	for range 10000 {
		l.warn(ReasonSignature, "gateway", "gw-x")
	}
	l.warn(ReasonMalformed)
	now = now.Add(time.Minute)
	l.warn(ReasonMalformed)
	if n := len(h.l); n != 10+1+1+1 {
		t.Errorf("%d log lines for 10002 rejections, want 13:\n%s", n, strings.Join(h.l, "\n"))
	}
	if !strings.Contains(strings.Join(h.l, "\n"), "count=9990") {
		t.Errorf("no summary of the 9990 unlogged rejections:\n%s", strings.Join(h.l, "\n"))
	}
}
