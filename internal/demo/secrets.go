package demo

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parkgrid/parkgrid/central/broker"
	centralconfig "github.com/parkgrid/parkgrid/central/config"
	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
	"github.com/parkgrid/parkgrid/edge/reading"
)

// The demo is secure by default, like a real installation: the edge's REST
// API asks for a token and central's embedded broker for a login. The demo
// makes them in its directory:
//
//	ems.tokens   the REST token file (hashes only), made anew on every run
//	             with one token "demo" (read, limit, reset) that is printed
//	ems-mqtt     the password of the MQTT user "ems-demo" (mode 0600), made
//	             once: the login for trying the EMS topics with mosquitto_pub
//
// The edge logs in to central's broker as its gateway with the password
// its key derives (reading.MQTTPassword), for the uplink and for its EMS
// API alike; nothing is stored for that.

// Names of the demo's logins.
const (
	demoTokenName = "demo"
	demoEMSUser   = "ems-demo"
)

// credentials are what the demo prints.
type credentials struct {
	restToken string // bearer token of the REST API
	emsUser   string
	emsPass   string // the ems-demo user's MQTT password
}

// secure sets up the demo's logins: the REST token file for the site, the
// edge's EMS login at central's broker, and the ems-demo user of central.
func secure(dir string, site *config.Site, ccfg *centralconfig.Config, gwKey ed25519.PrivateKey) (credentials, error) {
	var c credentials
	tokens := filepath.Join(dir, "ems.tokens")
	if err := os.Remove(tokens); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("demo token file: %w", err)
	}
	secret, hash, err := token.New(nil)
	if err != nil {
		return c, err
	}
	if err := token.Append(tokens, token.Entry{Name: demoTokenName, Scopes: token.Scopes, Hash: hash}); err != nil {
		return c, fmt.Errorf("demo token file: %w", err)
	}
	c.restToken = secret
	if site.EMS.REST == nil {
		site.EMS.REST = &config.EMSREST{Listen: "127.0.0.1:8090"}
	}
	site.EMS.REST.Tokens = tokens

	// The edge's EMS client logs in to central's broker as its gateway.
	if site.EMS.MQTT == nil {
		site.EMS.MQTT = &config.EMSMQTT{TopicPrefix: "parkgrid/v1/" + site.ID + "/ems"}
	}
	site.EMS.MQTT.Username = site.Gateway
	site.EMS.MQTT.Password = reading.MQTTPassword(gwKey, site.Gateway)

	c.emsUser = demoEMSUser
	if c.emsPass, err = demoSecret(filepath.Join(dir, "ems-mqtt")); err != nil {
		return c, err
	}
	h, err := broker.HashPassword(c.emsPass, nil)
	if err != nil {
		return c, err
	}
	prefix := site.EMS.MQTT.TopicPrefix
	ccfg.MQTT.Users = append(ccfg.MQTT.Users, centralconfig.MQTTUser{
		Name: demoEMSUser, PasswordHash: h,
		Publish: []string{prefix + "/limit/set"}, Subscribe: []string{prefix + "/#"},
	})
	return c, nil
}

// demoSecret reads the secret in path, making it (mode 0600) if absent.
func demoSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("demo secret: %w", err)
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("demo secret: %w", err)
	}
	s := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo secret: %w", err)
	}
	return s, nil
}
