package demo_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parkgrid/parkgrid/internal/browsertest"
	"github.com/parkgrid/parkgrid/internal/demo"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// -update also writes the screenshots to docs/screenshots/.
var update = flag.Bool("update", false, "write browser-test screenshots to docs/screenshots/")

// TestBrowserDemoFlow runs the whole demo (simulator, edge, central with
// the web app) and walks a new driver through it in headless Chromium on
// a phone: open the simulated point's page, pay with the fake provider,
// watch the car charge, stop, get the receipt; then the operator logs in
// and sees the session in the dashboard. Screenshots are saved.
func TestBrowserDemoFlow(t *testing.T) {
	svctest.Command(t, "chromium", "apt-get install chromium (make deps installs it)") // skip before the demo starts
	dir := t.TempDir()
	cfg := demoFiles(t, dir)
	out := &syncBuffer{}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- demo.Run(ctx, cfg, out, nil) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop within 30 s")
		}
	})
	banner := waitFor(t, out, done, "Ctrl-C stops it.", 60*time.Second)
	pointURL := match(t, banner, `driver app of a simulated charge point[^:]*: (\S+)`)
	password := match(t, banner, `e-mail \S+  password (\S+)`)
	base := match(t, banner, `Web app and dashboard: (\S+)`)
	// The point is available once the edge's first readings are in.
	waitHTTP(t, pointURL, `state available`, 60*time.Second)

	bctx := browsertest.Chrome(t, 5*time.Minute)
	sh := browsertest.NewShots(t, *update)
	var loc, state string
	err := chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(pointURL+"?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`#start`)),
		sh.Take("demo-driver-1-point"),
		chromedp.SendKeys(chromedp.CSS(`#email`), "new.driver@example.com"),
		chromedp.Click(chromedp.CSS(`#start`)),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
		into(chromedp.Location(), &loc),
	)
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out.String())
	}
	t.Logf("session page %s", loc)
	// The simulated car charges: energy moves on the page (SSE).
	var first, later string
	err = chromedp.Do(bctx,
		poll(`document.getElementById('p-state').textContent === 'Charging' && document.getElementById('p-energy').textContent !== '0.00 kWh'`, 90*time.Second),
		into(chromedp.Text(chromedp.CSS(`#p-energy`)), &first),
	)
	if err == nil { // progress moves
		err = chromedp.Do(bctx, poll(`document.getElementById('p-energy').textContent !== '`+first+`'`, 30*time.Second))
	}
	if err != nil {
		t.Fatalf("charging: %v\n%s", err, out.String())
	}
	// The operator logs in (another tab) and sees the session live.
	sid := loc[strings.LastIndex(loc, "/")+1:]
	ops, cancelOps := chromedp.NewContext(bctx)
	defer cancelOps()
	var sites, sessions, reports string
	err = chromedp.Do(ops,
		chromedp.EmulateViewport(1280, 860),
		chromedp.Navigate(base+"/ops/login?lang=en"),
		chromedp.WaitVisible(chromedp.CSS(`#login`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), demo.DemoAdminEmail),
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.Click(chromedp.CSS(`#login`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &sites),
		sh.Take("demo-ops-1-sites"),
		chromedp.Navigate(base+"/ops/sessions"),
		chromedp.WaitVisible(chromedp.CSS(`nav.tabs`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &sessions),
		sh.Take("demo-ops-2-live-session"),
	)
	if err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if !regexp.MustCompile(`p01\s+charging`).MatchString(sites) {
		t.Errorf("sites page does not show p01 charging:\n%s", sites)
	}
	if !regexp.MustCompile(`sim-small\s+p01\s+\w+\s+charging`).MatchString(sessions) {
		t.Errorf("live sessions do not list %s at p01:\n%s", sid, sessions)
	}
	if !strings.Contains(sites, sid) {
		t.Errorf("sites page does not name session %s:\n%s", sid, sites)
	}
	err = chromedp.Do(bctx,
		into(chromedp.Text(chromedp.CSS(`#p-energy`)), &later),
		sh.Take("demo-driver-2-charging"),
		chromedp.Click(chromedp.CSS(`#stop`)),
		chromedp.WaitVisible(chromedp.CSS(`#live`)),
		poll(`!document.getElementById('receipt').hidden`, 90*time.Second),
		into(chromedp.Text(chromedp.CSS(`#p-state`)), &state),
		sh.Take("demo-driver-3-receipt"),
	)
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, out.String())
	}
	t.Logf("energy on the page: %s, then %s", first, later)
	if state != "Done, receipt sent" {
		t.Errorf("state after the stop %q", state)
	}
	var pdfType string
	err = chromedp.Do(bctx, into(chromedp.Evaluate[string](`fetch(document.getElementById('receipt-link').href).then(r => r.headers.get('Content-Type'))`, chromedp.EvalAwaitPromise), &pdfType))
	if err != nil || pdfType != "application/pdf" {
		t.Errorf("receipt download: %q, %v", pdfType, err)
	}
	// The invoiced session counts in the reports' chart.
	err = chromedp.Do(ops,
		chromedp.Navigate(base+"/ops/reports"),
		chromedp.WaitVisible(chromedp.CSS(`#chart`)),
		into(chromedp.Text(chromedp.CSS(`main`)), &reports),
		sh.Take("demo-ops-3-reports"),
	)
	if err != nil {
		t.Fatalf("reports: %v", err)
	}
	if !regexp.MustCompile(`sim-small\s+\d+\.\d\d kWh`).MatchString(reports) {
		t.Errorf("reports chart has no kWh of sim-small:\n%s", reports)
	}

	// A fire alarm at the site: the edge latches, the dashboard shows it;
	// once the loop is closed again the operator resets it from the
	// dashboard, through central's command to the edge.
	simAPI := "http://" + match(t, banner, `control API http://(\S+)\)`)
	simFault(t, simAPI, `{"device":"di","kind":"fire-loop-open"}`)
	untilJS(t, ops, base+"/ops/alarms", `document.querySelector('button[id^="reset-"]') !== null`, 60*time.Second)
	if err := chromedp.Do(ops, sh.Take("demo-ops-4-alarm")); err != nil {
		t.Fatal(err)
	}
	simFault(t, simAPI, `{"device":"*","kind":"clear"}`)
	// The edge refuses the reset until it reads the loop closed again.
	deadline := time.Now().Add(60 * time.Second)
	var flash string
	for time.Now().Before(deadline) {
		var present bool
		err := chromedp.Do(ops, chromedp.Navigate(base+"/ops/alarms"),
			into(chromedp.Evaluate[bool](`document.querySelector('button[id^="reset-"]') !== null`), &present))
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		if !present {
			break // the alarm is gone: only a reset of ours may have done that (checked below)
		}
		err = chromedp.Do(ops,
			chromedp.Click(chromedp.CSS(`button[id^="reset-"]`)),
			// the answer: the alarms page with its flash, or the error page
			poll(`document.querySelector('.flash') !== null || document.querySelector('#error') !== null`, 30*time.Second),
			into(chromedp.Evaluate[string](`(document.querySelector('.flash') || {}).textContent || ''`), &flash),
		)
		if err == nil && flash == "Alarm reset." {
			break
		}
		time.Sleep(time.Second)
	}
	if flash != "Alarm reset." {
		t.Fatalf("alarm reset not accepted within 60 s (flash %q)\n%s", flash, out.String())
	}
	untilJS(t, ops, base+"/ops/alarms", `document.querySelector('button[id^="reset-"]') === null`, 60*time.Second)
	if err := chromedp.Do(ops, sh.Take("demo-ops-5-alarm-reset")); err != nil {
		t.Fatal(err)
	}
}

// simFault posts a fault to the simulator's control API.
func simFault(t *testing.T, api, body string) {
	t.Helper()
	resp, err := http.Post(api+"/api/fault", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("simulator fault %s: %d %s", body, resp.StatusCode, b)
	}
}

// untilJS loads url again every second until cond is true on it, for up
// to d.
func untilJS(t *testing.T, ctx context.Context, url, cond string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var ok bool
		err := chromedp.Do(ctx, chromedp.Navigate(url), into(chromedp.Evaluate[bool](cond), &ok))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s not true within %s (%v)", url, cond, d, err)
		}
		time.Sleep(time.Second)
	}
}

// demoFiles copies the demo's deploy files into dir with free ports and
// the edge's data directory inside dir, so the test runs beside a `make
// run` and leaves the repository alone.
func demoFiles(t *testing.T, dir string) demo.Config {
	t.Helper()
	root := svctest.RepoRoot(t)
	ports := map[string]string{}
	for _, p := range []string{"127.0.0.1:1502", "127.0.0.1:8081", "127.0.0.1:8090", "127.0.0.1:1884", "127.0.0.1:8082"} {
		ports[p] = freeAddr(t)
	}
	copyWith := func(name string, extra ...string) string {
		b, err := os.ReadFile(filepath.Join(root, "deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for from, to := range ports {
			s = strings.ReplaceAll(s, from, to)
		}
		for i := 0; i+1 < len(extra); i += 2 {
			s = strings.ReplaceAll(s, extra[i], extra[i+1])
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return demo.Config{
		Dir:     filepath.Join(dir, "demo"),
		Sim:     copyWith("sim-small.yaml"),
		Site:    copyWith("site-small.yaml", "data_dir: ../.cache/demo", "data_dir: "+filepath.Join(dir, "edge-data")),
		Central: copyWith("central.yaml"),
		HTTP:    "127.0.0.1:0",
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is the demo's output, read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the demo printed want and returns its output.
func waitFor(t *testing.T, out *syncBuffer, done <-chan error, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s := out.String(); strings.Contains(s, want) {
			return s
		}
		select {
		case err := <-done:
			t.Fatalf("demo ended: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("demo did not print %q within %s:\n%s", want, d, out.String())
	return ""
}

func match(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in the demo's output:\n%s", re, s)
	}
	return m[1]
}

// waitHTTP polls url until its body contains want.
func waitHTTP(t *testing.T, url, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if strings.Contains(string(b), want) {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not show %q within %s; last answer: %.500s", url, want, d, last)
}

// poll waits up to d for a JavaScript condition to be true.
func poll(cond string, d time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		// A form's POST and redirect may replace the page while it polls:
		// poll the new page then.
		deadline := time.Now().Add(d)
		for {
			_, err := chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(time.Until(deadline)), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
			if err == nil {
				return nil
			}
			if !strings.Contains(err.Error(), "navigated") || time.Now().After(deadline) {
				return fmt.Errorf("wait for %s: %w", cond, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
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
