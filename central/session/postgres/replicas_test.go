package postgres_test

// Billing tests across central *processes*: the test binary starts copies
// of itself as central replicas (TestMain below), all on one PostgreSQL
// database and one fake payment provider served by the parent over HTTP,
// so the provider's holds and captures survive a replica being killed.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parkgrid/parkgrid/central/payment"
	"github.com/parkgrid/parkgrid/central/payment/fake"
	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/session/postgres"
	"github.com/parkgrid/parkgrid/central/session/sessiontest"
	"github.com/parkgrid/parkgrid/internal/svctest"
)

const helperEnv = "PARKGRID_TEST_CENTRAL_REPLICA" // set: this process is a replica

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if err := replicaMain(); err != nil {
			fmt.Fprintln(os.Stderr, "replica:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ---- the payment provider across processes ----

var sentinels = []error{payment.ErrNotFound, payment.ErrExceedsHold, payment.ErrState, payment.ErrIdempotencyMismatch,
	payment.ErrDeclined, payment.ErrInvalid}

type rpcReply struct {
	OK   json.RawMessage `json:"ok,omitempty"`
	Kind int             `json:"kind"` // 0 none, i+1: sentinels[i], -1 other
	Msg  string          `json:"msg,omitempty"`
}

// providerServer serves a fake provider to the replicas and remembers
// every capture it returned, per hold.
type providerServer struct {
	fake     *fake.Provider
	mu       sync.Mutex
	captures map[string]map[string]int64 // hold → capture id → amount
}

func call[Req, Resp any](fn func(context.Context, Req) (Resp, error)) func(context.Context, []byte) (any, error) {
	return func(ctx context.Context, body []byte) (any, error) {
		var r Req
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, err
		}
		return fn(ctx, r)
	}
}

func (p *providerServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	ops := map[string]func(context.Context, []byte) (any, error){
		"/authorize": call(p.fake.Authorize), "/confirm": call(p.fake.Confirm), "/cancel": call(p.fake.Cancel),
		"/capture": call(func(ctx context.Context, req payment.CaptureRequest) (payment.Capture, error) {
			c, err := p.fake.Capture(ctx, req)
			if err == nil {
				p.mu.Lock()
				if p.captures[req.HoldID] == nil {
					p.captures[req.HoldID] = map[string]int64{}
				}
				p.captures[req.HoldID][c.ID] = c.AmountMinor
				p.mu.Unlock()
			}
			return c, err
		}),
	}
	op, ok := ops[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	res, err := op(r.Context(), body)
	var rep rpcReply
	if err != nil {
		rep.Kind, rep.Msg = -1, err.Error()
		for i, s := range sentinels {
			if errors.Is(err, s) {
				rep.Kind = i + 1
			}
		}
	} else {
		rep.OK, _ = json.Marshal(res)
	}
	json.NewEncoder(w).Encode(rep)
}

// providerClient is a payment.Authorizer that calls the parent's fake.
type providerClient struct{ url string }

func rpc[Resp any](ctx context.Context, c providerClient, op string, req any) (Resp, error) {
	var zero Resp
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, "POST", c.url+"/"+op, bytes.NewReader(body))
	if err != nil {
		return zero, err
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return zero, err
	}
	defer resp.Body.Close()
	var rep rpcReply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return zero, err
	}
	switch {
	case rep.Kind > 0:
		return zero, fmt.Errorf("%w: %s", sentinels[rep.Kind-1], rep.Msg)
	case rep.Kind < 0:
		return zero, errors.New(rep.Msg)
	}
	var out Resp
	err = json.Unmarshal(rep.OK, &out)
	return out, err
}

func (c providerClient) Authorize(ctx context.Context, r payment.AuthorizeRequest) (payment.Hold, error) {
	return rpc[payment.Hold](ctx, c, "authorize", r)
}
func (c providerClient) Confirm(ctx context.Context, r payment.ConfirmRequest) (payment.Hold, error) {
	return rpc[payment.Hold](ctx, c, "confirm", r)
}
func (c providerClient) Capture(ctx context.Context, r payment.CaptureRequest) (payment.Capture, error) {
	return rpc[payment.Capture](ctx, c, "capture", r)
}
func (c providerClient) Cancel(ctx context.Context, r payment.CancelRequest) (payment.Hold, error) {
	return rpc[payment.Hold](ctx, c, "cancel", r)
}

// ---- a replica ----

// signedSnapshots signs each session's begin and end records on demand:
// session s-N charges 1,000 + 37·N Wh.
type signedSnapshots struct {
	meter *sessiontest.Meter
	mu    sync.Mutex
	cache map[string][]session.Snapshot
}

func (s *signedSnapshots) SessionSnapshots(_ context.Context, _, _, id string) ([]session.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if got, ok := s.cache[id]; ok {
		return got, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(id, "s-"))
	if err != nil {
		return nil, err
	}
	t0 := sessiontest.T0
	snaps := sessiontest.Verified(s.meter.Record(1, "B", 5_000, t0), s.meter.Record(2, "E", 5_000+1_000+37*int64(n), t0.Add(40*time.Minute)))
	s.cache[id] = snaps
	return snaps, nil
}

func request(id string) session.StartRequest {
	return session.StartRequest{ID: id, Operator: "op", Site: "mitte", Point: "cp-07", Meter: "m-07",
		Tariff: sessiontest.Tariff(), HoldMinor: 5000, Payee: payment.Payee{Fee: payment.Fee{BP: 150}}}
}

// drive takes one session, wherever it stands, on to invoiced.
func drive(ctx context.Context, svc *session.Service, st session.Store, id string) error {
	t0 := sessiontest.T0
	for range 12 {
		s, err := st.Session(ctx, id)
		if errors.Is(err, session.ErrNotFound) {
			// Another replica's reconcile may move the new session
			// first: a conflict means read again and go on.
			if _, err = svc.Start(ctx, request(id), t0); err != nil && !errors.Is(err, session.ErrConflict) {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		switch s.State {
		case session.StateCreated:
			_, err = svc.Confirm(ctx, id, t0)
		case session.StateAuthorized:
			_, err = svc.Charging(ctx, id, "edge: charging", t0.Add(time.Minute))
		case session.StateCharging:
			_, err = svc.Stop(ctx, id, "driver: stop", t0.Add(40*time.Minute))
		case session.StateStopping:
			_, err = svc.Complete(ctx, id, t0.Add(41*time.Minute))
		case session.StateCompleted:
			_, err = svc.Bill(ctx, id, t0.Add(42*time.Minute))
		case session.StateInvoiced:
			return nil
		default:
			return fmt.Errorf("session %s ended %s", id, s.State)
		}
		if err != nil && !errors.Is(err, session.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("session %s: not invoiced after 12 steps", id)
}

// replicaMain is a central replica: it reconciles on start, then drives
// sessions s-FROM … s-TO−1 with CONC workers.
func replicaMain() error {
	ctx := context.Background()
	from, _ := strconv.Atoi(os.Getenv("REPLICA_FROM"))
	to, _ := strconv.Atoi(os.Getenv("REPLICA_TO"))
	conc, _ := strconv.Atoi(os.Getenv("REPLICA_CONC"))
	db, err := pgxpool.New(ctx, os.Getenv("REPLICA_DSN"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := postgres.Migrate(ctx, db, sessiontest.T0); err != nil {
		return err
	}
	m, err := sessiontest.NewMeter("SIM-cp-07")
	if err != nil {
		return err
	}
	st := postgres.New(db)
	svc, err := session.New(session.Config{Store: st, Payments: providerClient{url: os.Getenv("REPLICA_PAY")},
		Snapshots: &signedSnapshots{meter: m, cache: map[string][]session.Snapshot{}}, Issuers: sessiontest.Issuers{}})
	if err != nil {
		return err
	}
	if _, err := svc.Reconcile(ctx, sessiontest.T0.Add(time.Hour)); !benign(err) {
		return fmt.Errorf("reconcile at start: %w", err)
	}
	ids := make(chan string)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for id := range ids {
				if err := drive(ctx, svc, st, id); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := from; i < to; i++ {
		ids <- fmt.Sprintf("s-%03d", i)
	}
	close(ids)
	wg.Wait()
	close(errs)
	return <-errs
}

// benign reports whether every error Reconcile returned is a session that
// another replica moved after Reconcile listed it (nothing to do then).
func benign(err error) bool {
	if err == nil {
		return true
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if !benign(e) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, session.ErrIllegalTransition) || errors.Is(err, session.ErrConflict)
}

// ---- the tests ----

type cluster struct {
	dsn string
	pay *providerServer
	url string
	db  *pgxpool.Pool
}

func newCluster(t *testing.T) *cluster {
	c := &cluster{dsn: svctest.PostgresDSN(t), pay: &providerServer{
		fake:     fake.New(fake.Options{AutoApprove: true, Now: func() time.Time { return sessiontest.T0 }}),
		captures: map[string]map[string]int64{},
	}}
	srv := httptest.NewServer(c.pay)
	t.Cleanup(srv.Close)
	c.url = srv.URL
	c.db = pool(t, c.dsn) // migrated once here; the replicas find it current
	return c
}

// replica starts a copy of the test binary as a central replica.
func (c *cluster) replica(t *testing.T, from, to, conc int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "REPLICA_DSN="+c.dsn, "REPLICA_PAY="+c.url,
		fmt.Sprintf("REPLICA_FROM=%d", from), fmt.Sprintf("REPLICA_TO=%d", to), fmt.Sprintf("REPLICA_CONC=%d", conc))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() && out.Len() > 0 {
			t.Logf("replica %d–%d output:\n%s", from, to, out.String())
		}
	})
	return cmd
}

// check: the operator's invoices are exactly 1..n, every session s-0…
// s-(n−1) is invoiced once, and each hold was captured once, for exactly
// the invoice's gross.
func (c *cluster) check(t *testing.T, n int) {
	ctx := t.Context()
	rows, err := c.db.Query(ctx, `SELECT i.number, i.session, i.gross_minor, s.data->>'holdId' FROM invoices i
		JOIN sessions s ON s.id = i.session WHERE i.operator = 'op' ORDER BY i.number`)
	if err != nil {
		t.Fatal(err)
	}
	type inv struct {
		number, gross int64
		session, hold string
	}
	invs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (inv, error) {
		var v inv
		err := r.Scan(&v.number, &v.session, &v.gross, &v.hold)
		return v, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != n {
		t.Fatalf("%d invoices, want %d", len(invs), n)
	}
	seen := map[string]bool{}
	for i, v := range invs {
		if v.number != int64(i+1) {
			t.Fatalf("invoice numbers have a gap or a duplicate at %d: got %d", i+1, v.number)
		}
		if seen[v.session] {
			t.Fatalf("session %s invoiced twice", v.session)
		}
		seen[v.session] = true
		c.pay.mu.Lock()
		caps := c.pay.captures[v.hold]
		c.pay.mu.Unlock()
		if len(caps) != 1 {
			t.Errorf("session %s: hold %s captured %d times", v.session, v.hold, len(caps))
		}
		for _, amount := range caps {
			if amount != v.gross {
				t.Errorf("session %s: captured %d, invoiced %d", v.session, amount, v.gross)
			}
		}
	}
	var open int
	if err := c.db.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE state <> 'invoiced'`).Scan(&open); err != nil || open != 0 {
		t.Errorf("%d sessions not invoiced, %v", open, err)
	}
}

// TestHundredCompletionsAcrossTwoProcesses: two central processes complete
// 100 sessions of one operator at once (25 workers each) on one
// PostgreSQL: invoice numbers 1..100, no gap, no duplicate, each hold
// captured once.
func TestHundredCompletionsAcrossTwoProcesses(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(t, 0, 50, 25), c.replica(t, 50, 100, 25)
	for _, cmd := range []*exec.Cmd{a, b} {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("replica: %v", err)
		}
	}
	c.check(t, 100)
}

// TestKilledMidInvoiceRun: a replica is killed (SIGKILL) in the middle of
// a run of 300 sessions, with sessions in several states and transactions
// open, three times over; each restarted replica reconciles and goes on.
// The numbers end up 1..300 without a gap, and no session is invoiced or
// captured twice.
func TestKilledMidInvoiceRun(t *testing.T) {
	c := newCluster(t)
	const n = 300
	for _, killAt := range []int{40, 120, 200} {
		cmd := c.replica(t, 0, n, 8)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var k int
			if err := c.db.QueryRow(t.Context(), `SELECT count(*) FROM invoices`).Scan(&k); err != nil {
				t.Fatal(err)
			}
			if k >= killAt {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d invoices after 2 minutes", k)
			}
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		cmd.Wait()
		rows, err := c.db.Query(t.Context(), `SELECT state || ' ' || count(*) FROM sessions GROUP BY state ORDER BY state`)
		if err != nil {
			t.Fatal(err)
		}
		states, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("killed at ≥ %d invoices; sessions: %v", killAt, states)
	}
	if err := c.replica(t, 0, n, 8).Wait(); err != nil {
		t.Fatalf("restarted replica: %v", err)
	}
	c.check(t, n)
}
