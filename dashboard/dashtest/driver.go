// Package dashtest has hand-written, stateful fakes of the interfaces the
// dashboard consumes: a Driver with a provider-hosted payment page of its
// own, and operator views with tenant isolation. Tests and the browser
// tests use them; the lead's adapters replace them in parkgrid central.
package dashtest

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/parkgrid/parkgrid/central/session"
	"github.com/parkgrid/parkgrid/central/tariff"
	"github.com/parkgrid/parkgrid/dashboard"
)

// Driver is a fake dashboard.Driver. Card and PayPal starts wait for the
// fake payment page (PayHandler) at PayURL; access codes start at once.
// Tests move a session with Meter and Fail.
type Driver struct {
	PayURL string // base URL where PayHandler is mounted
	Now    func() time.Time

	mu       sync.Mutex // protects the fields below
	points   map[string]dashboard.PointInfo
	tariffs  map[string][]tariff.Tariff
	codes    map[string]string // code → "ok", "expired"
	sessions map[string]*fakeSession
	nextID   int
}

type fakeSession struct {
	req      dashboard.StartRequest
	ret      string
	progress dashboard.Progress
	price    tariff.Tariff
	subs     []chan dashboard.Progress
}

var _ dashboard.Driver = (*Driver)(nil)

// NewDriver returns a fake with no points.
func NewDriver(payURL string, now func() time.Time) *Driver {
	return &Driver{PayURL: payURL, Now: now, points: map[string]dashboard.PointInfo{}, tariffs: map[string][]tariff.Tariff{},
		codes: map[string]string{}, sessions: map[string]*fakeSession{}}
}

// AddPoint adds a charge point with its tariffs.
func (d *Driver) AddPoint(p dashboard.PointInfo, ts ...tariff.Tariff) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.points[p.ID] = p
	d.tariffs[p.ID] = ts
}

// SetState changes a point's state.
func (d *Driver) SetState(point string, st dashboard.PointState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.points[point]
	p.State = st
	d.points[point] = p
}

// AddCode adds an access code; expired codes fail with ErrCodeExpired.
func (d *Driver) AddCode(code string, expired bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.codes[code] = map[bool]string{true: "expired", false: "ok"}[expired]
}

// Point returns a point.
func (d *Driver) Point(_ context.Context, id string) (dashboard.PointInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.points[id]
	if !ok {
		return dashboard.PointInfo{}, fmt.Errorf("point %q: %w", id, dashboard.ErrNotFound)
	}
	return p, nil
}

// Preview returns the point's price previews.
func (d *Driver) Preview(_ context.Context, point string) ([]tariff.Preview, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []tariff.Preview
	for _, t := range d.tariffs[point] {
		p, err := tariff.NewPreview(t)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Start starts a session.
func (d *Driver) Start(_ context.Context, r dashboard.StartRequest) (dashboard.StartResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.points[r.Point]
	if !ok {
		return dashboard.StartResult{}, dashboard.ErrNotFound
	}
	switch p.State {
	case dashboard.PointOffline:
		return dashboard.StartResult{}, dashboard.ErrOffline
	case dashboard.PointFaulted:
		return dashboard.StartResult{}, dashboard.ErrFaulted
	case dashboard.PointOccupied, dashboard.PointCharging:
		return dashboard.StartResult{}, dashboard.ErrOccupied
	}
	var price tariff.Tariff
	for _, t := range d.tariffs[r.Point] {
		if t.Class == r.Class {
			price = t
		}
	}
	if price.ID == "" {
		return dashboard.StartResult{}, fmt.Errorf("class %q: %w", r.Class, dashboard.ErrInvalidInput)
	}
	if r.Method == dashboard.PayCode {
		switch d.codes[r.AccessCode] {
		case "":
			return dashboard.StartResult{}, dashboard.ErrCodeInvalid
		case "expired":
			return dashboard.StartResult{}, dashboard.ErrCodeExpired
		}
	}
	d.nextID++
	id := fmt.Sprintf("s%04d", d.nextID)
	fs := &fakeSession{req: r, price: price, ret: r.ReturnURL,
		progress: dashboard.Progress{SessionID: id, Point: r.Point, State: session.StateCreated, Currency: price.Currency}}
	d.sessions[id] = fs
	p.State = dashboard.PointOccupied
	d.points[r.Point] = p
	if r.Method == dashboard.PayCode {
		fs.progress.State = session.StateAuthorized
		return dashboard.StartResult{SessionID: id}, nil
	}
	return dashboard.StartResult{SessionID: id, RedirectURL: d.PayURL + "/pay/" + id}, nil
}

// Status returns a session's progress.
func (d *Driver) Status(_ context.Context, id string) (dashboard.Progress, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs, ok := d.sessions[id]
	if !ok {
		return dashboard.Progress{}, dashboard.ErrNotFound
	}
	return fs.progress, nil
}

// Stop ends a session: the fake completes and invoices it at once.
func (d *Driver) Stop(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs, ok := d.sessions[id]
	if !ok {
		return dashboard.ErrNotFound
	}
	if fs.progress.State != session.StateCharging && fs.progress.State != session.StateAuthorized {
		return fmt.Errorf("stop %s in state %s: %w", id, fs.progress.State, dashboard.ErrInvalidInput)
	}
	if fs.progress.State == session.StateAuthorized {
		fs.progress.State = session.StateCancelled
	} else {
		fs.progress.State = session.StateInvoiced
		fs.progress.ReceiptReady = true
	}
	fs.progress.PowerW = 0
	p := d.points[fs.req.Point]
	p.State = dashboard.PointAvailable
	d.points[fs.req.Point] = p
	d.publish(fs)
	return nil
}

// Receipt returns a small PDF once the session is invoiced.
func (d *Driver) Receipt(_ context.Context, id string) (dashboard.Receipt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs, ok := d.sessions[id]
	if !ok || !fs.progress.ReceiptReady {
		return dashboard.Receipt{}, dashboard.ErrNotFound
	}
	body := fmt.Sprintf("%%PDF-1.4\n%% fake receipt %s %d Wh %d\n%%%%EOF\n", id, fs.progress.EnergyWh, fs.progress.CostMinor)
	return dashboard.Receipt{Filename: "receipt-" + id + ".pdf", PDF: []byte(body)}, nil
}

// Subscribe streams a session's progress until ctx ends or it is final.
func (d *Driver) Subscribe(ctx context.Context, id string) (<-chan dashboard.Progress, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs, ok := d.sessions[id]
	if !ok {
		return nil, dashboard.ErrNotFound
	}
	ch := make(chan dashboard.Progress, 16)
	fs.subs = append(fs.subs, ch)
	go func() {
		<-ctx.Done()
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, c := range fs.subs {
			if c == ch {
				fs.subs = append(fs.subs[:i], fs.subs[i+1:]...)
				close(ch)
				return
			}
		}
	}()
	return ch, nil
}

// publish sends fs's progress to its subscribers; callers hold mu. A slow
// subscriber misses an update, never blocks the fake.
func (d *Driver) publish(fs *fakeSession) {
	for _, c := range fs.subs {
		select {
		case c <- fs.progress:
		default:
		}
	}
}

// Approve is the fake payment page's "Pay": the hold is in place.
func (d *Driver) Approve(id string, ok bool) (returnURL string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs, found := d.sessions[id]
	if !found || fs.progress.State != session.StateCreated {
		return "", dashboard.ErrNotFound
	}
	if ok {
		fs.progress.State = session.StateAuthorized
	} else {
		fs.progress.State, fs.progress.Failure = session.StateFailed, "declined"
		p := d.points[fs.req.Point]
		p.State = dashboard.PointAvailable
		d.points[fs.req.Point] = p
	}
	d.publish(fs)
	return fs.ret, nil
}

// Meter reports a new reading of a session: energy so far and power. The
// first one moves the session to charging; the cost follows the tariff.
func (d *Driver) Meter(id string, energyWh, powerW int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	fs, ok := d.sessions[id]
	if !ok {
		return dashboard.ErrNotFound
	}
	now := d.Now()
	if fs.progress.State == session.StateAuthorized {
		fs.progress.State, fs.progress.Started = session.StateCharging, now
	}
	if fs.progress.State != session.StateCharging {
		return fmt.Errorf("meter %s in state %s: %w", id, fs.progress.State, dashboard.ErrInvalidInput)
	}
	fs.progress.EnergyWh, fs.progress.PowerW, fs.progress.Duration = energyWh, powerW, now.Sub(fs.progress.Started)
	price, err := tariff.Price(fs.price, energyWh, fs.progress.Duration)
	if err != nil {
		return err
	}
	fs.progress.CostMinor = price.GrossMinor
	d.publish(fs)
	return nil
}

// Sessions returns the ids of all sessions, oldest first.
func (d *Driver) Sessions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	for i := 1; i <= d.nextID; i++ {
		ids = append(ids, fmt.Sprintf("s%04d", i))
	}
	return ids
}

// PayHandler is the fake provider's hosted payment page: GET /pay/<id>
// shows Pay and Decline, POST approves or declines and sends the browser
// back to the dashboard's return URL.
func (d *Driver) PayHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pay/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := html.EscapeString(r.PathValue("id"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><meta name="viewport" content="width=device-width"><title>Fake provider</title>
<body style="font-family:sans-serif;padding:1rem"><h1>Fake payment provider</h1><p>Hold for session %s</p>
<form method="post"><button id="pay" name="result" value="pay" style="font-size:1.2rem">Pay</button>
<button id="decline" name="result" value="decline">Decline</button></form></body>`, id)
	})
	mux.HandleFunc("POST /pay/{id}", func(w http.ResponseWriter, r *http.Request) {
		ret, err := d.Approve(r.PathValue("id"), r.FormValue("result") == "pay")
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if u, err := url.Parse(ret); err != nil || !strings.HasPrefix(u.Scheme, "http") {
			http.Error(w, "bad return URL", http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, ret, http.StatusSeeOther)
	})
	return mux
}
