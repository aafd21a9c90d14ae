package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestDistDebInstallsAndRuns runs `make dist` for amd64 into a temporary
// directory, checks the archive and SHA256SUMS, unpacks the .deb into a
// throw-away root with dpkg -x and runs `parkgrid version` from it.
func TestDistDebInstallsAndRuns(t *testing.T) {
	if testing.Short() && !svctest.InCI() {
		t.Skip("builds a release (about 2 minutes); -short skips it (never with CI=true)")
	}
	makeCmd := svctest.Command(t, "make", "apt install make")
	dpkg := svctest.Command(t, "dpkg-deb", "apt install dpkg")
	sha := svctest.Command(t, "sha256sum", "apt install coreutils")
	root := svctest.RepoRoot(t)
	dist := t.TempDir()
	cmd := exec.Command(makeCmd, "-C", root, "dist", "ARCHES=amd64", "DIST="+dist, "VERSION=1.2.3-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	tarball := filepath.Join(dist, "parkgrid_1.2.3-test_linux_amd64.tar.gz")
	debs, _ := filepath.Glob(filepath.Join(dist, "*.deb"))
	if len(debs) != 1 || filepath.Base(debs[0]) != "parkgrid_1.2.3+test_amd64.deb" {
		t.Fatalf("debs in %s: %v", dist, debs)
	}
	check := exec.Command(sha, "-c", "SHA256SUMS")
	check.Dir = dist
	if out, err := check.CombinedOutput(); err != nil || !strings.Contains(string(out), filepath.Base(tarball)+": OK") {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	list, err := exec.Command("tar", "-tzf", tarball).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"parkgrid", "README.md", "deploy/site-small.yaml", "deploy/central.yaml", "deploy/systemd/parkgrid-edge.service", "deploy/systemd/parkgrid-central.service"} {
		if !strings.Contains(string(list), "parkgrid_1.2.3-test_linux_amd64/"+want+"\n") {
			t.Errorf("archive lacks %s:\n%s", want, list)
		}
	}

	inst := t.TempDir()
	if out, err := exec.Command(dpkg, "-x", debs[0], inst).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	for _, want := range []string{"usr/bin/parkgrid", "lib/systemd/system/parkgrid-edge.service", "lib/systemd/system/parkgrid-central.service",
		"etc/parkgrid/examples/site-small.yaml", "etc/parkgrid/examples/central.yaml", "var/lib/parkgrid"} {
		if _, err := os.Stat(filepath.Join(inst, want)); err != nil {
			t.Errorf("package lacks %s: %v", want, err)
		}
	}
	ctrl := t.TempDir()
	if out, err := exec.Command(dpkg, "-e", debs[0], ctrl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if pre, err := os.ReadFile(filepath.Join(ctrl, "preinst")); err != nil || !strings.Contains(string(pre), "adduser --system") {
		t.Errorf("preinst does not create the parkgrid system user: %v\n%s", err, pre)
	}
	out, err := exec.Command(filepath.Join(inst, "usr/bin/parkgrid"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "parkgrid 1.2.3-test (go") {
		t.Errorf("installed parkgrid version: %v, %q", err, out)
	}
}
