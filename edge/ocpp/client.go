package ocpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/lorenzodonini/ocpp-go/ocpp1.6/core"
	"github.com/lorenzodonini/ocpp-go/ocpp1.6/types"

	"github.com/parkgrid/parkgrid/drivers"
	"github.com/parkgrid/parkgrid/edge/clock"
)

// Sources of per-point limits in the control loop.
const (
	SourceOCPP   = "ocpp"   // the CSMS's charging profiles
	SourceAccess = "access" // 0 A until a transaction is authorised
)

// Limiter sets per-point current limits in the control loop (the lowest
// of all sources wins; 0 mA: no current; never above the point's fuse).
type Limiter interface {
	SetPointLimit(point, source string, maxMA int64, until time.Time) error
	ClearPointLimit(point, source string) error
}

// Points tells how a charge point stands now.
type Points interface {
	View(point string, now time.Time) (PointView, bool)
}

// Meter is the point's Eichrecht meter: signed OCMF snapshots.
type Meter interface {
	Snapshot(ctx context.Context, kind drivers.SnapshotKind, identification string) (string, error)
}

// Config configures one point's client.
type Config struct {
	Point    string // the site's charge point id
	Identity string // its OCPP identity
	URL      string // ws(s)://host/path; the identity is appended
	Password string // basic auth (security profiles 1 and 2)
	TLS      *tls.Config
	Vendor   string
	Model    string
	Serial   string
	Firmware string

	StateFile      string
	Heartbeat      time.Duration // until the CSMS names its interval
	SampleInterval time.Duration // initial MeterValueSampleInterval
	ReconnectMin   time.Duration
	ReconnectMax   time.Duration
	FixedCable     bool
	// Tick is how often the point is looked at (default 1 s).
	Tick time.Duration
	// CallTimeout bounds one request to the CSMS (default 30 s).
	CallTimeout time.Duration

	Limiter Limiter
	Points  Points
	Meter   Meter // nil: no Eichrecht meter, no signed values
	Clock   clock.Clock
	Log     *slog.Logger
}

// Client is one charge point under the CSMS. Run owns it.
type Client struct {
	cfg  Config
	log  *slog.Logger
	clk  clock.Clock
	file stateFile
	keys *keys

	wake    chan struct{} // the link has something to send (cap 1)
	trigger chan string   // TriggerMessage requests, for the link (cap 8)
	resetC  chan string   // Reset requests (cap 1)

	mu sync.Mutex // protects the fields below
	st State
	// auth is a start authorised (RemoteStart or Authorize accepted)
	// waiting for the car; zero when none.
	auth struct {
		idTag   string
		expires time.Time
		profile *Profile // RemoteStart's TxProfile
	}
	stopReason string // a stop asked for (Remote, SoftReset …); "" none
	finishing  bool   // a transaction ended, the car is still plugged in
	status     [3]string
	sentStatus [3]string // what the CSMS last got (status, error, info)
	connected  bool
	registered bool
	cn         *conn // the registered connection (nil: none), for Authorize
	lastSample time.Time
	applied    struct {
		ok    bool
		mA    int64
		until time.Time
	}
	accessOpen *bool // last access limit applied (nil: none yet)
}

// New loads the point's state file and returns its client.
func New(cfg Config) (*Client, error) {
	if cfg.Limiter == nil || cfg.Points == nil || cfg.StateFile == "" || cfg.Point == "" || cfg.Identity == "" {
		return nil, errors.New("ocpp: point, identity, limiter, points and state file are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Minute
	}
	if cfg.SampleInterval <= 0 {
		cfg.SampleInterval = time.Minute
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = max(cfg.ReconnectMin, 2*time.Minute)
	}
	c := &Client{cfg: cfg, log: cfg.Log.With("point", cfg.Point, "identity", cfg.Identity), clk: clock.OrReal(cfg.Clock),
		file: stateFile{path: cfg.StateFile}, wake: make(chan struct{}, 1), trigger: make(chan string, 8), resetC: make(chan string, 1)}
	st, err := c.file.load()
	if errors.Is(err, ErrCorrupt) {
		// One point's damaged file must not keep the edge (safety,
		// control) from starting: it is kept aside for inspection and the
		// point starts empty, closed until the CSMS authorises again.
		aside := fmt.Sprintf("%s.corrupt-%d", cfg.StateFile, c.clk.Now().Unix())
		if rerr := os.Rename(cfg.StateFile, aside); rerr != nil {
			return nil, fmt.Errorf("ocpp point %s: %w (and moving it aside: %v)", cfg.Point, err, rerr)
		}
		c.log.Error("ocpp: state file damaged; kept aside, the point starts with an empty queue", "err", err, "kept", aside)
		st, err = c.file.load()
	}
	if err != nil {
		return nil, fmt.Errorf("ocpp point %s: %w", cfg.Point, err)
	}
	c.st = st
	c.keys = newKeys(cfg, st.Config)
	// The gate closes before the control loop first runs: no current
	// until the CSMS authorises a transaction (one open before a restart
	// goes on).
	c.setAccess(st.Tx != nil)
	return c, nil
}

// Run works the point and its link to the CSMS until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.runLink(ctx) })
	c.runPoint(ctx)
	wg.Wait()
	return ctx.Err()
}

func (c *Client) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// persist writes the state file; the caller holds mu. A failure is
// logged: the state stays in memory and is written with the next change.
func (c *Client) persist() {
	if err := c.file.save(&c.st); err != nil {
		c.log.Error("ocpp: state file not written; queued messages are only in memory until it works again", "err", err)
	}
}

// Pending reports the messages waiting for the CSMS.
func (c *Client) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.st.Queue)
}

// ErrOffline: the CSMS is not reachable now.
var ErrOffline = errors.New("ocpp: the CSMS is not reachable")

// Authorize asks the CSMS whether idTag (e.g. a local RFID card) may
// charge at the point. Accepted, the point starts a transaction when a
// car is (or, within ConnectionTimeOut, gets) plugged in. Offline it
// returns ErrOffline: parkgrid authorises no unknown tag locally
// (LocalAuthorizeOffline false).
func (c *Client) Authorize(ctx context.Context, idTag string) (bool, error) {
	if idTag == "" || len(idTag) > 20 {
		return false, fmt.Errorf("ocpp: id tag must be 1..20 characters")
	}
	c.mu.Lock()
	cn := c.cn
	c.mu.Unlock()
	if cn == nil {
		return false, ErrOffline
	}
	resp, err := c.call(ctx, cn, core.NewAuthorizationRequest(idTag))
	if err != nil {
		return false, fmt.Errorf("ocpp: authorize: %w", err)
	}
	conf := resp.(*core.AuthorizeConfirmation)
	if conf.IdTagInfo == nil || conf.IdTagInfo.Status != types.AuthorizationStatusAccepted {
		return false, nil
	}
	now := c.clk.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Tx != nil || c.st.Inoperative {
		return false, nil
	}
	c.auth.idTag, c.auth.expires, c.auth.profile = idTag, now.Add(c.keys.connectionTimeout()), nil
	return true, nil
}

// Connected reports whether the CSMS accepted the point and the link is up.
func (c *Client) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected && c.registered
}

// backoff is the wait before connection attempt n (0 based): doubling
// from min up to max, with ±25 % jitter so that a site's points do not
// reconnect in step.
func backoff(n int, lo, hi time.Duration, r *rand.Rand) time.Duration {
	d := lo
	for i := 0; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	j := time.Duration(r.Int64N(int64(d)/2+1)) - d/4
	return max(d+j, time.Millisecond)
}
