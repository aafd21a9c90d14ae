package edge

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/parkgrid/parkgrid/edge/config"
	"github.com/parkgrid/parkgrid/edge/emsapi"
	"github.com/parkgrid/parkgrid/edge/emsapi/token"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/edge/sign"
)

// This file wires the security settings of the site file into the EMS API
// (REST tokens, TLS, host and origin checks, connection limits; MQTT
// credentials and TLS) and gives the uplink its default credentials.

// secureREST fills o's authentication and host/origin lists from the
// site's rest block and returns the server's limits and TLS. A listener
// that other machines can reach without tokens is refused here too, so an
// override (Options.RESTListen) cannot open what the site file check
// would refuse.
func (d *Daemon) secureREST(r *config.EMSREST, o *emsapi.Options) (emsapi.ServerOptions, error) {
	so := emsapi.ServerOptions{Logger: d.log.With("component", "emsapi")}
	if r == nil {
		r = &config.EMSREST{}
	}
	if r.Tokens != "" {
		f, err := token.Open(r.Tokens, d.clk.Now, d.log.With("component", "emsapi"))
		if err != nil {
			return so, fmt.Errorf("EMS REST API: %w", err)
		}
		o.Auth = f
		d.restAuth = true
	}
	if o.Auth == nil && !emsapi.IsLoopback(d.listen) {
		return so, fmt.Errorf("EMS REST API on %q: other machines can reach it, so it needs ems.rest.tokens (parkgrid token)", d.listen)
	}
	o.AllowedHosts, o.AllowedOrigins = r.AllowedHosts, r.AllowedOrigins
	so.MaxConns, so.MaxConnsPerIP = r.MaxConns, r.MaxConnsPerIP
	if t := r.TLS; t != nil {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return so, fmt.Errorf("EMS REST API TLS: %w", err)
		}
		so.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}
	return so, nil
}

// emsMQTTOptions builds the EMS MQTT options from the site file and the
// broker override ("" keeps the file's; Off switches MQTT off).
func emsMQTTOptions(cfg *config.Site, brokerOverride string, api emsapi.Options) (emsapi.MQTTOptions, error) {
	o := emsapi.MQTTOptions{Options: api, Site: cfg.ID}
	if m := cfg.EMS.MQTT; m != nil {
		o.Broker, o.TopicPrefix, o.Username, o.Password = m.Broker, m.TopicPrefix, m.Username, m.Password
		if m.TLS != nil {
			tc, err := clientTLS(*m.TLS)
			if err != nil {
				return o, fmt.Errorf("EMS MQTT: %w", err)
			}
			o.TLS = tc
		}
	}
	if brokerOverride != "" {
		o.Broker = brokerOverride
	}
	return o, nil
}

// clientTLS loads an MQTT client's TLS files.
func clientTLS(t config.ClientTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate in it", t.CA)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// uplinkCredentials gives the uplink its default login when the site file
// sets none: the gateway id and the password derived from the gateway key
// (reading.MQTTPassword), which central's embedded broker checks against
// the enrolled key. When the key cannot be read the password stays empty;
// the uplink then fails to start on the same key and says why.
func uplinkCredentials(u *config.Uplink, gateway string) {
	if u.Username == "" {
		u.Username = gateway
	}
	if u.Password != "" || u.Username != gateway {
		return
	}
	key, err := sign.LoadPrivate(u.Key)
	if err != nil {
		return
	}
	u.Password = reading.MQTTPassword(key, gateway)
}
