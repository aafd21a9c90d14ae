package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkgrid/parkgrid/central/broker"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEmbeddedBrokerWithTLSAndUsers(t *testing.T) {
	hash, err := broker.HashPassword("ems-pass", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeFiles(t, map[string]string{
		"server.pem": "x", "server.key": "x", "clients.pem": "x",
		"central.yaml": `store: {driver: sqlite, path: c.db}
mqtt:
  listen: "0.0.0.0:8883"
  listen_tls: {cert: server.pem, key: server.key, client_ca: clients.pem}
  users:
    - {name: ems-a, password_hash: "` + hash + `", publish: [parkgrid/v1/site-a/ems/limit/set], subscribe: [parkgrid/v1/site-a/ems/#]}
  limits: {max_clients: 500, session_expiry: 30m}
gateways: [{id: gw-1, site: site-a, pubkey: 861b62cc175c5c29052538612c4a07ce70dad0136732eb084283c8bd42e60400}]
`,
	})
	c, err := Load(filepath.Join(dir, "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.ListenTLS.ClientCA != filepath.Join(dir, "clients.pem") {
		t.Errorf("client_ca %q not resolved against the config file", c.MQTT.ListenTLS.ClientCA)
	}
	if c.Ingest.QueueMiB != DefaultQueueMiB || c.Ingest.Rejections.Keep != DefaultRejectionsKeep {
		t.Errorf("ingest defaults %+v", c.Ingest)
	}
}

func TestExternalBrokerPasswordFile(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"mqtt.secret": "s3cret\nrest ignored\n", "ca.pem": "x",
		"central.yaml": `store: {driver: sqlite, path: c.db}
mqtt: {broker: "ssl://mqtt.example:8883", username: central, password_file: mqtt.secret, tls: {ca: ca.pem}}
`,
	})
	c, err := Load(filepath.Join(dir, "central.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Password != "s3cret" {
		t.Errorf("password %q, want the file's first line", c.MQTT.Password)
	}
	if err := os.Chmod(filepath.Join(dir, "mqtt.secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "central.yaml")); err == nil || !strings.Contains(err.Error(), "readable or writable by group or others") {
		t.Errorf("password file others may read: %v", err)
	}
}

func TestCheckSSLMode(t *testing.T) {
	for dsn, ok := range map[string]bool{
		"postgres://u@127.0.0.1:5432/db?sslmode=disable":                    true,
		"postgres://u@localhost/db":                                         true,
		"postgres://u@[::1]:5432/db":                                        true,
		"postgres://u@/db?host=/var/run/postgresql":                         true,
		"postgres://u@db.example/db?sslmode=verify-full&sslrootcert=ca.pem": true,
		"postgres://u@db.example/db?sslmode=verify-ca":                      true,
		"postgres://u@db.example/db?sslmode=require":                        false,
		"postgres://u@db.example/db?sslmode=prefer":                         false,
		"postgres://u@10.0.0.5/db":                                          false,
		"postgres://u@127.0.0.1,db.example/db?sslmode=disable":              false,
	} {
		if err := checkSSLMode(dsn); (err == nil) != ok {
			t.Errorf("checkSSLMode(%q) = %v, want ok=%v", dsn, err, ok)
		}
	}
}
