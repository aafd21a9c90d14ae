// Package mailtest holds the conformance suite every mail.Store passes and
// an in-process SMTP server (github.com/emersion/go-smtp) for tests.
package mailtest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/parkgrid/parkgrid/central/mail"
)

// T0 is the suite's reference time (microseconds, UTC).
var T0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func built(to string) mail.Built {
	return mail.Built{From: "rechnung@parkhaus.example", To: to, Raw: []byte("Subject: x\r\n\r\nbody " + to + "\r\n")}
}

// RunStore runs the outbox conformance suite; open returns a fresh,
// migrated store per subtest.
func RunStore(t *testing.T, open func(t *testing.T) mail.Store) {
	t.Run("EnqueueOnce", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for i, want := range []bool{true, false} {
			added, err := s.Enqueue(ctx, "r/1", built("a@x.example"), T0.Add(time.Duration(i)*time.Minute))
			if err != nil || added != want {
				t.Fatalf("enqueue %d: %v, %v; want %v", i, added, err, want)
			}
		}
		it, err := s.Get(ctx, "r/1")
		if err != nil || it.State != mail.StatePending || !it.NextAttempt.Equal(T0) || !bytes.Equal(it.Built.Raw, built("a@x.example").Raw) {
			t.Fatalf("stored %+v, %v", it, err)
		}
		if _, err := s.Get(ctx, "r/2"); !errors.Is(err, mail.ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
	})
	t.Run("LeaseHidesUntilExpiry", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for i := range 3 {
			if _, err := s.Enqueue(ctx, fmt.Sprintf("r/%d", i), built("a@x.example"), T0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Lease(ctx, T0.Add(time.Second), time.Minute, 10)
		if err != nil || len(got) != 2 || got[0].ID != "r/0" || got[1].ID != "r/1" {
			t.Fatalf("lease at +1s: %v, %v; want r/0, r/1", ids(got), err)
		}
		got, err = s.Lease(ctx, T0.Add(30*time.Second), time.Minute, 10)
		if err != nil || len(got) != 1 || got[0].ID != "r/2" {
			t.Fatalf("second lease: %v, %v; want r/2 only", ids(got), err)
		}
		got, err = s.Lease(ctx, T0.Add(2*time.Minute), time.Minute, 1)
		if err != nil || len(got) != 1 || got[0].ID != "r/0" {
			t.Fatalf("after the lease ran out, limit 1: %v, %v; want r/0", ids(got), err)
		}
	})
	t.Run("SentIsFinal", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		s.Enqueue(ctx, "r/1", built("a@x.example"), T0)
		if err := s.MarkSent(ctx, "r/1", T0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkFailed(ctx, "r/1", "late failure", T0, false); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Lease(ctx, T0.Add(time.Hour), time.Minute, 10); len(got) != 0 {
			t.Fatalf("a sent mail leased again: %v", ids(got))
		}
		it, err := s.Get(ctx, "r/1")
		if err != nil || it.State != mail.StateSent || !it.SentAt.Equal(T0.Add(time.Second)) || it.Attempts != 0 {
			t.Fatalf("after sent: %+v, %v", it, err)
		}
		if err := s.MarkSent(ctx, "nope", T0); !errors.Is(err, mail.ErrNotFound) {
			t.Errorf("mark unknown: %v", err)
		}
	})
	t.Run("FailedRetriesThenDies", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		s.Enqueue(ctx, "r/1", built("a@x.example"), T0)
		if got, _ := s.Lease(ctx, T0, time.Minute, 10); len(got) != 1 {
			t.Fatal("not leased")
		}
		if err := s.MarkFailed(ctx, "r/1", "421 busy", T0.Add(time.Minute), false); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Lease(ctx, T0.Add(30*time.Second), time.Minute, 10); len(got) != 0 {
			t.Fatal("leased before its next attempt")
		}
		got, _ := s.Lease(ctx, T0.Add(time.Minute), time.Minute, 10)
		if len(got) != 1 || got[0].Attempts != 1 || got[0].LastError != "421 busy" {
			t.Fatalf("retry lease: %+v", got)
		}
		if err := s.MarkFailed(ctx, "r/1", "550 no such user", T0.Add(time.Hour), true); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Lease(ctx, T0.Add(48*time.Hour), time.Minute, 10); len(got) != 0 {
			t.Fatal("a dead mail leased")
		}
		if it, _ := s.Get(ctx, "r/1"); it.State != mail.StateDead || it.Attempts != 2 {
			t.Fatalf("dead: %+v", it)
		}
	})
	t.Run("PurgeKeepsPending", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for _, id := range []string{"sent", "dead", "pending", "young"} {
			at := T0
			if id == "young" {
				at = T0.Add(48 * time.Hour)
			}
			s.Enqueue(ctx, id, built("a@x.example"), at)
		}
		s.MarkSent(ctx, "sent", T0)
		s.MarkSent(ctx, "young", T0.Add(48*time.Hour))
		s.MarkFailed(ctx, "dead", "550", T0, true)
		n, err := s.Purge(ctx, T0.Add(24*time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("purged %d, %v; want 2", n, err)
		}
		for id, want := range map[string]bool{"sent": false, "dead": false, "pending": true, "young": true} {
			if _, err := s.Get(ctx, id); (err == nil) != want {
				t.Errorf("%s kept %v, want %v", id, err == nil, want)
			}
		}
	})
	t.Run("ConcurrentLeasesDisjoint", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for i := range 40 {
			s.Enqueue(ctx, fmt.Sprintf("r/%02d", i), built("a@x.example"), T0)
		}
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		for range 4 {
			wg.Go(func() {
				for {
					got, err := s.Lease(ctx, T0, time.Hour, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, it := range got {
						seen[it.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Errorf("%d mails leased, want 40", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s leased %d times", id, n)
			}
		}
	})
}

func ids(items []mail.Item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// Received is one message the test server accepted.
type Received struct {
	From string
	To   []string
	Data []byte
	Auth string // the user that authenticated; "" none
	TLS  bool
}

// Server is an in-process SMTP server on a loopback port with a
// self-signed certificate for "localhost"; RootCAs trusts it.
type Server struct {
	Addr    string
	Port    int
	RootCAs *x509.CertPool

	mu       sync.Mutex // protects the fields below
	received []Received
	failNext []error // returned by DATA, one per message, before any is accepted
	user     string
	password string
}

// Fail makes the next len(errs) messages fail with errs in order at DATA
// (e.g. &smtp.SMTPError{Code: 451, …}).
func (s *Server) Fail(errs ...error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, errs...)
}

// Received returns the accepted messages so far.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// NewServer starts a server; implicitTLS serves TLS from the first byte,
// otherwise STARTTLS is offered. With user set, AUTH PLAIN with that user
// and password is required. It stops at the test's end.
func NewServer(t testing.TB, implicitTLS bool, user, password string) *Server {
	t.Helper()
	cert, pool := selfSigned(t)
	s := &Server{RootCAs: pool, user: user, password: password}
	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.MaxMessageBytes = mail.MaxMessageBytes + 1<<20
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	var (
		ln  net.Listener
		err error
	)
	if implicitTLS {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", srv.TLSConfig)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return s
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, pool
}

type backend struct{ s *Server }

func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{s: b.s, conn: c, tls: isTLS}, nil
}

type session struct {
	s    *Server
	conn *smtp.Conn
	tls  bool
	auth string
	cur  Received
}

func (se *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (se *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if se.s.user == "" || user != se.s.user || pass != se.s.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		se.auth = user
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.user != "" && se.auth == "" {
		return smtp.ErrAuthRequired
	}
	se.cur = Received{From: from}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.cur.To = append(se.cur.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := se.conn.TLSConnectionState()
	se.s.mu.Lock()
	defer se.s.mu.Unlock()
	if len(se.s.failNext) > 0 {
		err := se.s.failNext[0]
		se.s.failNext = se.s.failNext[1:]
		return err
	}
	se.cur.Data, se.cur.Auth, se.cur.TLS = data, se.auth, isTLS || se.tls
	se.s.received = append(se.s.received, se.cur)
	return nil
}

func (se *session) Reset()        { se.cur = Received{} }
func (se *session) Logout() error { return nil }
