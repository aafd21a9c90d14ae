// Package browsertest starts headless Chromium for the browser tests of
// the web packages and saves their screenshots.
//
// The browser runs with a fresh profile and without background network
// (the machine's network is closed to everything but the test servers).
// Where the chromium command is missing the test skips locally and fails
// with CI=true (internal/svctest).
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// Chrome starts headless Chromium and returns a browser context that ends
// with the test or after timeout.
func Chrome(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	exe := svctest.Command(t, "chromium", "apt-get install chromium (make deps installs it)")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Shots saves screenshots into $PARKGRID_ARTIFACTS/screenshots (or a
// temporary directory) and, when asked to update, into docs/screenshots/.
type Shots struct {
	t      *testing.T
	dir    string
	update bool
}

// NewShots returns where a test's screenshots go; update also writes them
// to docs/screenshots/ of the repository.
func NewShots(t *testing.T, update bool) *Shots {
	t.Helper()
	dir := os.Getenv("PARKGRID_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Shots{t: t, dir: dir, update: update}
}

// Take is an action that saves a full-page PNG of the page as name.png.
func (s *Shots) Take(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg) // quality 100: PNG
		if err != nil {
			return fmt.Errorf("screenshot %s: %w", name, err)
		}
		dirs := []string{s.dir}
		if s.update {
			dirs = append(dirs, filepath.Join(svctest.RepoRoot(s.t), "docs", "screenshots"))
		}
		for _, d := range dirs {
			if err := os.WriteFile(filepath.Join(d, name+".png"), buf, 0o644); err != nil {
				return err
			}
		}
		s.t.Logf("screenshot %s (%d bytes) in %s", name, len(buf), s.dir)
		return nil
	})
}
