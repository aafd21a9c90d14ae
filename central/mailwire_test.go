package central_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	netmail "net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/parkgrid/parkgrid/central/invoice/receiptcheck"
	"github.com/parkgrid/parkgrid/central/mail/mailtest"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/edge/reading"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

// TestCentralMailsTheReceipt runs a whole session through central: a
// driver starts it through the REST API with the fake provider, a gateway
// on central's broker answers the commands and sends the meter's signed
// begin snapshot, the driver stops it, the end snapshot follows; central
// completes, captures and invoices it and e-mails the receipt to the
// driver's address over SMTP (an in-process server). The mailed PDF is the
// one the API serves, and its QR codes verify with the meter's key.
func TestCentralMailsTheReceipt(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		mailsTheReceipt(t, fmt.Sprintf("{driver: sqlite, path: %s}", filepath.Join(t.TempDir(), "central.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		mailsTheReceipt(t, fmt.Sprintf("{driver: postgres, dsn: %q}", svctest.PostgresDSN(t)))
	})
}

func mailsTheReceipt(t *testing.T, storeYAML string) {
	smtpSrv := mailtest.NewServer(t, false, "", "")
	meter, err := sessiontest.NewMeter("SIM-p01")
	if err != nil {
		t.Fatal(err)
	}
	gwPub, gwKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	yaml := fmt.Sprintf(`store: %s
mqtt: {listen: "127.0.0.1:0", client_id: central-mail-test}
ingest: {linger: 1ms}
http: {listen: "127.0.0.1:0"}
gateways:
  - {id: gw-1, site: site-a, pubkey: %s, meters: [{device: p01.meter, pubkey: %s}]}
payment: {provider: fake}
mail:
  host: 127.0.0.1
  port: %d
  security: none
  from: "Parkhaus Test GmbH <rechnung@parkhaus.example>"
  operators: {op-1: {from: "Parkhaus Mitte <mitte@parkhaus.example>"}}
jobs: {time_zone: Europe/Berlin, reports_dir: reports}
operators:
  - id: op-1
    name: Parkhaus Test GmbH
    address: Hauptstr. 1, 10115 Berlin
    currency: EUR
    hold: "50.00"
    invoice_prefix: T-
    time_zone: Europe/Berlin
    tariffs:
      - {id: eco, class: eco, per_kwh: "0.39", vat: "19"}
    sites:
      - id: site-a
        address: Parkweg 2
        lat: "52.5"
        lon: "13.4"
        points: [{id: p01, meter: p01.meter, tariffs: [eco]}]
`, storeYAML, hex.EncodeToString(gwPub), meter.PublicKey, smtpSrv.Port)
	addr, centralPub := runCentral(t, dir, yaml)

	// The gateway answers every command ok and sends snapshots.
	gw := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(addr.Broker).SetClientID("gw-1").
		SetUsername("gw-1").SetPassword(reading.MQTTPassword(gwKey, "gw-1")))
	if tok := gw.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer gw.Disconnect(100)
	onCmd := func(cl mqtt.Client, m mqtt.Message) {
		cmd, err := reading.OpenCommand(m.Payload(), centralPub, "gw-1", time.Now())
		if err != nil {
			t.Errorf("command: %v", err)
			return
		}
		msg, err := reading.SealReply(reading.Reply{ID: cmd.ID, Site: "site-a", Gateway: "gw-1", At: time.Now(), OK: true}, gwKey)
		if err != nil {
			t.Error(err)
			return
		}
		cl.Publish(reading.ReplyTopic("site-a"), 1, false, msg)
	}
	acks := make(chan uint64, 4)
	for topic, h := range map[string]mqtt.MessageHandler{
		reading.CmdTopic("site-a"): onCmd,
		reading.AckTopic("site-a"): func(_ mqtt.Client, m mqtt.Message) {
			if a, err := reading.OpenAck(m.Payload(), centralPub); err == nil {
				acks <- a.Seq
			}
		},
	} {
		if tok := gw.Subscribe(topic, 1, h); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", topic, tok.Error())
		}
	}
	snapshot := func(seq uint64, session, rec string) {
		t.Helper()
		msg, err := reading.Seal(reading.Batch{Site: "site-a", Gateway: "gw-1", Seq: seq, Sent: time.Now(), Readings: []reading.Reading{
			{Time: time.Now(), Device: "p01.meter", Point: "p01", Quantity: reading.QSnapshot, OCMF: rec, Session: session},
		}}, gwKey)
		if err != nil {
			t.Fatal(err)
		}
		if tok := gw.Publish(reading.BatchTopic("site-a"), 1, false, msg); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
		select {
		case got := <-acks:
			if got != seq {
				t.Fatalf("ack %d, want %d", got, seq)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no ack for %d", seq)
		}
	}

	base := "http://" + addr.HTTP + "/api/v1"
	call := func(method, url, token string, body any) (int, []byte) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, base+url, rd)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var started struct {
		Session struct{ ID, State string }
		Token   string
	}
	// The command connection may still be on its way to the broker: the
	// start is retried with the same client id (idempotent).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, b := call("POST", "/sessions", "", map[string]string{"clientId": "mail-test-client-0001", "site": "site-a",
			"point": "p01", "tariff": "eco", "email": "Driver <driver@example.org>", "payment": "fake"})
		if err := json.Unmarshal(b, &started); (code == http.StatusCreated || code == http.StatusOK) && err == nil && started.Session.State == "authorized" {
			break
		}
		if time.Now().After(deadline) || (code >= 400 && code < 500) {
			t.Fatalf("start: %d %s", code, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	id := started.Session.ID
	waitState := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, b := call("GET", "/sessions/"+id, started.Token, nil)
			var s struct{ Session struct{ State string } }
			json.Unmarshal(b, &s)
			if code == 200 && (s.Session.State == want || strings.Contains(string(b), `"state":"`+want+`"`)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("session never %s: %d %s", want, code, b)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	begin := time.Now().Add(-30 * time.Minute)
	snapshot(1, id, meter.Record(1, "B", 1_000_000, begin))
	waitState("charging")
	if code, b := call("POST", "/sessions/"+id+"/stop", started.Token, nil); code >= 300 {
		t.Fatalf("stop: %d %s", code, b)
	}
	snapshot(2, id, meter.Record(2, "E", 1_012_345, begin.Add(29*time.Minute)))
	waitState("invoiced")

	// The receipt arrives by mail (right after the invoice, or at the
	// latest with the mail-retry job a minute later).
	var got mailtest.Received
	deadline = time.Now().Add(90 * time.Second)
	for {
		if r := smtpSrv.Received(); len(r) > 0 {
			if len(r) != 1 {
				t.Errorf("%d mails, want 1", len(r))
			}
			got = r[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no receipt mail")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.From != "mitte@parkhaus.example" || len(got.To) != 1 || got.To[0] != "driver@example.org" {
		t.Errorf("envelope %s → %v", got.From, got.To)
	}
	pdf := mailedPDF(t, got.Data)
	code, served := call("GET", "/sessions/"+id+"/receipt.pdf", started.Token, nil)
	if code != 200 || !bytes.Equal(pdf, served) {
		t.Errorf("the mailed PDF (%d bytes) is not the one the API serves (%d, %d bytes)", len(pdf), code, len(served))
	}
	rc, err := receiptcheck.Read(pdf)
	if err != nil {
		t.Fatal(err)
	}
	res, err := receiptcheck.Check(rc, meter.PublicKey)
	if err != nil || !res.Valid || res.Measured.EnergyWh != 12_345 {
		t.Errorf("mailed receipt: valid %v, %d Wh, %v %v", res.Valid, res.Measured.EnergyWh, res.Reasons, err)
	}
}

// mailedPDF returns the PDF attachment of a raw message.
func mailedPDF(t *testing.T, raw []byte) []byte {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no PDF attachment: %v", err)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != "application/pdf" {
			continue
		}
		enc, _ := io.ReadAll(p)
		pdf, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(enc), "\r\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		return pdf
	}
}
