package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// badConfigs maps each file in testdata/bad to a substring its error must
// contain.
var badConfigs = map[string]string{
	"no_driver.yaml":           `store.driver "": want sqlite or postgres`,
	"unknown_driver.yaml":      `store.driver "mysql"`,
	"sqlite_no_path.yaml":      `store.path: required for driver sqlite`,
	"postgres_bad_dsn.yaml":    `store.dsn "host=x user=y": want postgres://`,
	"unknown_field.yaml":       `field pth not found`,
	"embedded_public.yaml":     `mqtt.listen "0.0.0.0:1884": without listen_tls the embedded broker listens on loopback only`,
	"broker_url.yaml":          `mqtt.broker "mqtt.example:1883": want tcp://host:port`,
	"gateway_key.yaml":         `gateways[0].pubkey "abcd": want 64 hex digits`,
	"gateway_twice.yaml":       `gateways[1].id "gw-1": enrolled twice`,
	"site_slash.yaml":          `gateways[0].site "a/b": must not contain '/'`,
	"meter_twice.yaml":         `meters[0]: meter site-a/m1 already has a key at gateways[0].meters[0]`,
	"meter_key.yaml":           `meters[0].pubkey "not a key!": want hex DER, base64 or PEM`,
	"influx_no_bucket.yaml":    `influx.bucket: required`,
	"linger.yaml":              `cannot unmarshal !!str`,
	"http_listen.yaml":         `http.listen "localhost": want host:port`,
	"share_group.yaml":         `mqtt.share_group "a/b": a share group may not contain`,
	"broker_userinfo.yaml":     `mqtt.broker "tcp://central:xxx@mqtt.example:1883": credentials in the URL`,
	"gateway_same_key.yaml":    `gateways[1].pubkey "861b62cc175c5c2905253861…": the same key as gateways[0].pubkey; every gateway needs its own key`,
	"revoked_current_key.yaml": `gateways[0].revoked_keys[0]: the gateway's current key cannot be revoked`,
	"postgres_no_tls.yaml":     `sslmode=disable to a server on another machine does not verify it`,
	"postgres_no_sslmode.yaml": `no sslmode to a server on another machine`,
	"user_plain_password.yaml": `mqtt.users[0].password_hash: password hash: want $7$`,
	"user_wide_filter.yaml":    `mqtt.users[0].subscribe[0]: filter "#": too wide`,
	"user_named_gateway.yaml":  `mqtt.users[0].name "gw-1": a gateway's id`,
	"embedded_tls_no_key.yaml": `mqtt.listen_tls: cert and key are required`,
	"tls_for_embedded.yaml":    `mqtt.tls: only for an external broker`,
}

func TestBadConfigs(t *testing.T) {
	for file, want := range badConfigs {
		path := filepath.Join("testdata", "bad", file)
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got error %v, want one naming the file and containing %q", file, err, want)
		}
	}
}

func TestEveryBadConfigHasAnExpectedError(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := badConfigs[filepath.Base(f)]; !ok {
			t.Errorf("%s has no entry in badConfigs", f)
		}
	}
	if len(files) != len(badConfigs) {
		t.Errorf("%d bad files, %d entries", len(files), len(badConfigs))
	}
}

func TestGoodConfigs(t *testing.T) {
	t.Setenv("PARKGRID_TEST_PG_PASSWORD", "s3cret")
	files, err := filepath.Glob("testdata/good/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good configs: %v", err)
	}
	files = append(files, "../../deploy/central.yaml", "../../deploy/central-postgres.yaml")
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestDefaultsAndExpansion(t *testing.T) {
	t.Setenv("PARKGRID_TEST_PG_PASSWORD", "s3cret")
	c, err := Load("testdata/good/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := MQTT{Listen: DefaultEmbeddedListen, ClientID: DefaultClientID, ShareGroup: DefaultShareGroup}
	if diff := cmp.Diff(want, c.MQTT); diff != "" || c.HTTP.Listen != DefaultHTTPListen || !c.MQTT.Embedded() {
		t.Errorf("defaults (-want +got):\n%s http %q", diff, c.HTTP.Listen)
	}
	c, err = Load("testdata/good/postgres-external.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Store.DSN, ":s3cret@") || c.Ingest.Linger != 10*time.Millisecond || len(c.Gateways[0].PublicKey()) != 32 {
		t.Errorf("dsn %q, linger %v, key %d bytes", c.Store.DSN, c.Ingest.Linger, len(c.Gateways[0].PublicKey()))
	}
}

func TestMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want not-exist", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/good/sqlite-embedded.yaml", "testdata/bad/meter_twice.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := Parse("fuzz.yaml", raw)
		if err == nil && c.Store.Driver != DriverSQLite && c.Store.Driver != DriverPostgres {
			t.Fatalf("accepted driver %q", c.Store.Driver)
		}
	})
}
