package reading

import (
	"crypto/ed25519"
	"encoding/hex"
)

// mqttPasswordContext separates the MQTT password from every other thing
// the gateway key signs: batch bodies are JSON objects and start with '{'.
const mqttPasswordContext = "parkgrid-mqtt-password/v1\n"

// MQTTPassword is the password a gateway presents to central's broker when
// its site file sets none: the hex Ed25519 signature of
// "parkgrid-mqtt-password/v1\n<gateway>" with the gateway key. Ed25519
// signatures are deterministic, so it is the same on every connect; central
// checks it against the gateway's enrolled key (VerifyMQTTPassword), so no
// password has to be distributed, a rotated key changes it and a revoked
// key ends it. The username is the gateway id.
//
// It is a static secret like any password: use TLS to the broker where
// the network is not trusted. With openssl:
//
//	printf 'parkgrid-mqtt-password/v1\n%s' gw-1 > msg
//	openssl pkeyutl -sign -inkey gateway.key -rawin -in msg | xxd -p -c 256
func MQTTPassword(key ed25519.PrivateKey, gateway string) string {
	return hex.EncodeToString(ed25519.Sign(key, []byte(mqttPasswordContext+gateway)))
}

// VerifyMQTTPassword reports whether password is MQTTPassword of the
// gateway's key pub.
func VerifyMQTTPassword(pub ed25519.PublicKey, gateway, password string) bool {
	if len(pub) != ed25519.PublicKeySize || len(password) != 2*ed25519.SignatureSize {
		return false
	}
	sig, err := hex.DecodeString(password)
	if err != nil {
		return false
	}
	return ed25519.Verify(pub, []byte(mqttPasswordContext+gateway), sig)
}
