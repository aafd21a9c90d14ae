package layering

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goList runs `go list` from the module root and fails on a pattern that
// matches nothing, so a rename cannot quietly turn a rule off. Run with
// -count=1: the test cache cannot see what go list reads.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-f", "{{.ImportPath}}"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	pkgs := strings.Fields(string(out))
	for _, p := range pkgs {
		if strings.HasPrefix(p, ".") {
			t.Fatalf("go list %v: pattern %s matched no package", args, p)
		}
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %v matched nothing", args)
	}
	return pkgs
}

const module = "github.com/parkgrid/parkgrid/"

func appDeps(t *testing.T, pkgs ...string) []string {
	var out []string
	for _, d := range goList(t, append([]string{"-deps"}, pkgs...)...) {
		if strings.HasPrefix(d, module) {
			out = append(out, d)
		}
	}
	return out
}

func TestLayeringLoadmgmtIsStdlibOnly(t *testing.T) {
	for _, d := range goList(t, "-deps", "./loadmgmt") {
		// Its own subpackages (e.g. a solver under loadmgmt/internal) are
		// fine; everything else must be the standard library.
		if strings.Contains(strings.SplitN(d, "/", 2)[0], ".") && d != module+"loadmgmt" && !strings.HasPrefix(d, module+"loadmgmt/") {
			t.Errorf("loadmgmt depends on non-standard package %s", d)
		}
	}
}

func TestLayeringDriversAndLoadmgmtImportNoApp(t *testing.T) {
	for _, d := range appDeps(t, "./drivers/...") {
		if !strings.HasPrefix(d, module+"drivers") {
			t.Errorf("drivers depend on %s: drivers import no other parkgrid package", d)
		}
	}
	for _, d := range appDeps(t, "./loadmgmt/...") {
		if !strings.HasPrefix(d, module+"loadmgmt") {
			t.Errorf("loadmgmt depends on %s: loadmgmt imports no other parkgrid package", d)
		}
	}
}

func TestLayeringEdgeNeverDependsOnCentral(t *testing.T) {
	for _, d := range appDeps(t, "./edge/...", "./drivers/...", "./loadmgmt/...") {
		if strings.HasPrefix(d, module+"central") || strings.HasPrefix(d, module+"dashboard") {
			t.Errorf("the edge build depends on %s", d)
		}
	}
}

func TestLayeringCentralImportsOnlyReadingFromEdge(t *testing.T) {
	pkgs := goList(t, "./central/...")
	for _, d := range appDeps(t, pkgs...) {
		if strings.HasPrefix(d, module+"edge/") && d != module+"edge/reading" {
			t.Errorf("central depends on %s; from the edge it may use only edge/reading", d)
		}
	}
}

func TestLayeringReadingIsStdlibOnly(t *testing.T) {
	for _, d := range goList(t, "-deps", "./edge/reading") {
		first := strings.SplitN(d, "/", 2)[0]
		if strings.Contains(first, ".") && d != module+"edge/reading" {
			t.Errorf("edge/reading depends on %s; the wire contract is standard library only", d)
		}
	}
}

func TestLayeringGinOnlyInDashboardAndEMSAPI(t *testing.T) {
	for _, p := range goList(t, "./...") {
		// central/api is central's REST API /api/v1 (issue 15: on Gin).
		if strings.HasPrefix(p, module+"dashboard") || strings.HasPrefix(p, module+"edge/emsapi") || strings.HasPrefix(p, module+"cmd/") ||
			p == module+"central/api" {
			continue
		}
		cmd := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, p)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", p, err)
		}
		if slices.Contains(strings.Fields(string(out)), "github.com/gin-gonic/gin") {
			t.Errorf("%s imports gin; only dashboard, edge/emsapi and central/api serve HTTP with gin", p)
		}
	}
}

func TestLayeringNothingImportsCmd(t *testing.T) {
	cmds := goList(t, "./cmd/...")
	var others []string
	for _, p := range goList(t, "./...") {
		if !slices.Contains(cmds, p) {
			others = append(others, p)
		}
	}
	for _, d := range goList(t, append([]string{"-deps", "-test"}, others...)...) {
		if slices.Contains(cmds, strings.Fields(d)[0]) {
			t.Errorf("the build or tests of the other packages depend on %s; nothing imports cmd", d)
		}
	}
}

func TestLayeringDaemonsAreBuiltByTheirPackages(t *testing.T) {
	// The edge daemon is assembled in package edge, central in package
	// central; cmd/parkgrid calls them and holds no goroutine-owning type.
	for _, root := range []string{"./edge", "./central"} {
		if got := goList(t, root); len(got) != 1 {
			t.Errorf("%s: %v", root, got)
		}
	}
	for _, d := range appDeps(t, "./central") {
		if d == module+"edge" {
			t.Errorf("central depends on the edge daemon")
		}
	}
}
