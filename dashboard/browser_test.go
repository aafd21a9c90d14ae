package dashboard_test

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parkgrid/parkgrid/dashboard/dashtest"
	"github.com/parkgrid/parkgrid/internal/browsertest"
)

// -update also writes the screenshots to docs/screenshots/.
var update = flag.Bool("update", false, "write browser-test screenshots to docs/screenshots/")

// waitJS polls a JavaScript condition.
func waitJS(cond string) chromedp.Action[chromedp.Void] {
	return poll(cond, 10*time.Second)
}

// poll waits up to d for a JavaScript condition to be true.
func poll(cond string, d time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(20*time.Millisecond))(ctx, tg)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", cond, err)
		}
		return nil
	})
}

// into runs a as a step and stores its value in dst.
func into[T any](a chromedp.Action[T], dst *T) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		v, err := a(ctx, tg)
		*dst = v
		return err
	})
}

func TestBrowserDriverFlow(t *testing.T) {
	ctx := browsertest.Chrome(t, 90*time.Second)
	e := newEnv(t)
	sh := browsertest.NewShots(t, *update)
	var loc string
	var href chromedp.AttributeResult
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(e.srv.URL+"/c/p1?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`#start`)),
		sh.Take("driver-1-point"),
		chromedp.SendKeys(chromedp.CSS(`#email`), "driver@example.com"),
		chromedp.Click(chromedp.CSS(`input[name=class][value=premium]`)),
		sh.Take("driver-2-form"),
		chromedp.Click(chromedp.CSS(`#start`)),
		chromedp.WaitVisible(chromedp.CSS(`#pay`)), // the provider's hosted page
		into(chromedp.Location(), &loc),
	)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc, e.pay.URL+"/pay/") {
		t.Fatalf("payment page at %q", loc)
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#pay`)),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
		waitJS(`document.getElementById('p-state').textContent === 'Ready: plug in'`),
		into(chromedp.Location(), &loc),
		sh.Take("driver-3-ready"),
	)
	if err != nil {
		t.Fatal(err)
	}
	sid := loc[strings.LastIndex(loc, "/")+1:]
	// The car draws current: two readings; the page follows over SSE.
	e.clock.Add(12 * time.Minute)
	if err := e.fx.Driver.Meter(sid, 900, 7400); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(30 * time.Minute)
	sent := time.Now()
	if err := e.fx.Driver.Meter(sid, 5120, 7350); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx,
		poll(`document.getElementById('p-energy').textContent === '5.12 kWh'`, 2*time.Second),
	)
	if err != nil {
		t.Fatalf("progress not on the page within 2 s of the reading: %v", err)
	}
	t.Logf("reading → page: %v", time.Since(sent).Round(time.Millisecond))
	err = chromedp.Do(ctx,
		waitJS(`document.getElementById('p-cost').textContent === '€4.02' && document.getElementById('p-power').textContent === '7.35 kW' && document.getElementById('p-duration').textContent === '0:30:00'`),
		sh.Take("driver-4-charging"),
		chromedp.Click(chromedp.CSS(`#stop`)),
		chromedp.WaitVisible(chromedp.CSS(`#receipt-link`)),
		into(chromedp.AttributeValue(chromedp.CSS(`#receipt-link`), "href"), &href),
		sh.Take("driver-5-receipt"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if href.Value != "/s/"+sid+"/receipt" {
		t.Errorf("receipt link %q", href.Value)
	}
}

func TestBrowserDriverGerman(t *testing.T) {
	ctx := browsertest.Chrome(t, 90*time.Second)
	e := newEnv(t)
	sh := browsertest.NewShots(t, *update)
	var text string
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(e.srv.URL+"/c/p1?lang=de"),
		into(chromedp.Text(chromedp.CSS(`#start`)), &text),
		sh.Take("driver-de-point"),
		chromedp.Navigate(e.srv.URL+"/c/p2"),
		chromedp.WaitVisible(chromedp.CSS(`#error`)),
		sh.Take("driver-de-offline"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if text != "Hier laden" {
		t.Errorf("button %q", text)
	}
}

func TestBrowserOperator(t *testing.T) {
	ctx := browsertest.Chrome(t, 90*time.Second)
	e := newEnv(t)
	sh := browsertest.NewShots(t, *update)
	var flash string
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(1280, 860),
		chromedp.Navigate(e.srv.URL+"/ops/login?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), dashtest.OperatorEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), dashtest.Password),
		sh.Take("ops-1-login"),
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
		sh.Take("ops-2-sites"),
		chromedp.Navigate(e.srv.URL+"/ops/alarms"),
		chromedp.WaitVisible(chromedp.CSS(`#reset-a1`)),
		sh.Take("ops-3-alarm"),
		chromedp.Click(chromedp.CSS(`#reset-a1`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		into(chromedp.Text(chromedp.CSS(`.flash`)), &flash),
		sh.Take("ops-4-alarm-reset"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if flash != "Alarm reset." || len(e.fx.Ops.Resets) != 1 {
		t.Fatalf("alarm reset: flash %q, resets %v", flash, e.fx.Ops.Resets)
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/ops/tariffs"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-tariff=eco] button`)),
		chromedp.SetValue(chromedp.CSS(`form[data-tariff=eco] input[name=energy]`), "0.45"),
		chromedp.Click(chromedp.CSS(`form[data-tariff=eco] button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`)),
		into(chromedp.Text(chromedp.CSS(`.flash`)), &flash),
		sh.Take("ops-5-tariff-saved"),
		chromedp.Navigate(e.srv.URL+"/ops/load"),
		sh.Take("ops-6-load"),
		chromedp.Navigate(e.srv.URL+"/ops/sessions"),
		sh.Take("ops-7-sessions"),
		chromedp.Navigate(e.srv.URL+"/ops/reports?lang=de"),
		chromedp.WaitVisible(chromedp.CSS(`#chart`)),
		sh.Take("ops-8-reports-de"),
	)
	if err != nil {
		t.Fatal(err)
	}
	ts, _ := e.fx.Ops.Tariffs(context.Background(), "op1")
	if flash != "Tariff saved." || ts[0].Tariff.EnergyPerKWhMinor != 45 {
		t.Errorf("tariff change: flash %q, eco %d cents/kWh", flash, ts[0].Tariff.EnergyPerKWhMinor)
	}
}

// TestBrowserOfflinePage: once the service worker runs, a page that cannot
// load because the server is gone shows the offline page.
func TestBrowserOfflinePage(t *testing.T) {
	ctx := browsertest.Chrome(t, 90*time.Second)
	e := newEnv(t)
	sh := browsertest.NewShots(t, *update)
	var title string
	err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(e.srv.URL+"/c/p1?lang=en"),
		waitJS(`navigator.serviceWorker.controller !== null`),
	)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.CloseClientConnections()
	e.srv.Close()
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.srv.URL+"/c/p1"),
		chromedp.WaitVisible(chromedp.CSS(`h1`)),
		into(chromedp.Text(chromedp.CSS(`h1`)), &title),
		sh.Take("driver-offline"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if title != "No network" {
		t.Errorf("offline page title %q", title)
	}
}
