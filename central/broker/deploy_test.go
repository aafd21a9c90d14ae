package broker

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// exampleACL is deploy/mosquitto/acl: the rules of deploy/central-postgres.yaml's
// gateway and an EMS user of its site.
func exampleACL(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	err := MosquittoACL(&b, "parkgrid-central", "central", []GatewaySite{{ID: "gw-demo", Site: "demo"}},
		[]User{{Name: "ems-demo", Rules: Rules{Publish: []string{"parkgrid/v1/demo/ems/limit/set"}, Subscribe: []string{"parkgrid/v1/demo/ems/#"}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDeployedACLIsCurrent: the example acl_file in deploy/mosquitto is
// what MosquittoACL writes (PARKGRID_UPDATE=1 rewrites it).
func TestDeployedACLIsCurrent(t *testing.T) {
	path := filepath.Join(svctest.RepoRoot(t), "deploy", "mosquitto", "acl")
	want := exampleACL(t)
	if os.Getenv("PARKGRID_UPDATE") == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what MosquittoACL writes; run PARKGRID_UPDATE=1 go test ./central/broker -run DeployedACL\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
