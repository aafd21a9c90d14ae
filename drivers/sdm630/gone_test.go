package sdm630_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkgrid/parkgrid/drivers/modbus"
	"github.com/parkgrid/parkgrid/drivers/modbus/modbustest"
	"github.com/parkgrid/parkgrid/drivers/sdm630"
)

type clock struct {
	mu sync.Mutex // protects t
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestMeterGoneMidPollAndBack runs the driver on a real Bus against an
// in-process server that is switched off and on again.
func TestMeterGoneMidPollAndBack(t *testing.T) {
	mem := modbustest.NewMemory()
	regs := make([]uint16, 80)
	put := func(reg uint16, f float32) {
		bits := math.Float32bits(f)
		regs[reg], regs[reg+1] = uint16(bits>>16), uint16(bits)
	}
	put(0x00, 230)
	put(0x48, 1.5)
	mem.Set(1, modbustest.InputRegisters, 0, regs...)
	srv := modbustest.NewServer(t, mem)

	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	bus := modbus.NewTCP(srv.Addr, modbus.Options{Name: "site", Timeout: time.Second, BackoffMin: time.Second, Now: clk.Now})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = bus.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	m := sdm630.New("grid", bus, 1)
	if s, err := m.Sample(ctx); err != nil || s.ImportWh != 1500 || s.VoltageDV[0] != 2300 {
		t.Fatalf("sample = %+v, %v", s, err)
	}

	srv.Stop()
	_, err := m.Sample(ctx)
	if !errors.Is(err, modbus.ErrUnavailable) {
		t.Fatalf("device gone: err = %v, want ErrUnavailable", err)
	}
	if want := `sdm630 "grid": read 0x0000+80: modbus "site" unit 1: read input registers 0x0000+80: bus unavailable`; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q\nwant prefix %q", err, want)
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second) // backoff over
	s, err := m.Sample(ctx)
	if err != nil || s.ImportWh != 1500 {
		t.Fatalf("device back: sample = %+v, %v", s, err)
	}
	if st := bus.Stats(); st.Reconnects != 1 {
		t.Errorf("reconnects = %d, want 1", st.Reconnects)
	}
}
